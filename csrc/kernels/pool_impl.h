// pool_impl.h: the body of pool_{generic,avx2,avx512}.cpp, NHWC max / average pooling forward
// and backward.  Each of those files defines CHALKNET_POOL_ISA (the namespace) and includes this
// one, so the same loops are compiled once per instruction set (the channel loops vectorise to
// that set's width); pool.cpp picks the build with gemm's path.  Everything here lives in that
// namespace, the helpers in an anonymous one, and no standard-library template is instantiated,
// so no function compiled with one set's flags can be shared with another file.
//
// In NHWC the channels of one pixel are contiguous, so every inner loop runs over channels
// while the window is scanned pixel by pixel.  Forward passes are OpenMP loops over output rows
// (n, oh).  Max pooling's backward routes each d_output value by its window's argmax: kept
// from the forward pass, or found again from x.  Each window pixel's index is compared with
// the argmax (never used as an address).  When no two windows overlap, each d_input row is
// written once, left to right, with no zeroing pass; otherwise d_input is zeroed and every
// window adds its share.  Average pooling's backward zeroes and adds.  When windows of
// different output rows can overlap (stride_h < pool_h) the loop runs over images instead of
// rows, so no two threads write one pixel.  Each d_input element receives its additions in the
// same order (oh, ow, window position) whatever the thread count, so the results are
// deterministic.
#include <cstdint>
#include <cstring>

#include "pool_isa.h"
#include "team.h"

#ifndef CHALKNET_POOL_ISA
#error "define CHALKNET_POOL_ISA before including pool_impl.h"
#endif

namespace chalknet::pool_isa::CHALKNET_POOL_ISA {
namespace {

inline int64_t max_of(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }

template <typename T>
void fill(T* begin, T* end, T value) {
  for (T* p = begin; p < end; ++p) *p = value;
}

// A buffer of n values (none when n is 0), freed at the end of the scope.
template <typename T>
struct Scratch {
  T* data;
  explicit Scratch(int64_t n) : data(n > 0 ? new T[static_cast<size_t>(n)] : nullptr) {}
  ~Scratch() { delete[] data; }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// The in-image part of one window: rows [row_begin, row_end), columns [col_begin, col_end).
struct Window {
  int64_t row_begin, row_end, col_begin, col_end;
  int64_t count() const { return (row_end - row_begin) * (col_end - col_begin); }
};

Window window_of(const Pool2dShape& s, int64_t oh, int64_t ow) {
  const int64_t r0 = oh * s.stride_h - s.pad_top, c0 = ow * s.stride_w - s.pad_left;
  return {max_of(r0, 0), min_of(r0 + s.pool_h, s.in_h),
          max_of(c0, 0), min_of(c0 + s.pool_w, s.in_w)};
}

// value beats best: larger, or a NaN over a number (first one wins ties; see pool.h).
template <typename T>
inline bool beats(T value, T best) {
  return value > best || (value != value && best == best);
}

// best (C,) = max over the window of image; argmax (C,), when kArgmax, = pixel index
// (row * in_w + col) of that maximum.
template <typename T, bool kArgmax>
void window_max(T* best, int32_t* argmax, const T* image, const Pool2dShape& s,
                const Window& w) {
  const int64_t c_count = s.channels;
  const int64_t first = w.row_begin * s.in_w + w.col_begin;
  std::memcpy(best, image + first * c_count, sizeof(T) * c_count);
  if (kArgmax) fill(argmax, argmax + c_count, int32_t(first));
  for (int64_t r = w.row_begin; r < w.row_end; ++r) {
    for (int64_t col = w.col_begin; col < w.col_end; ++col) {
      const int64_t pixel = r * s.in_w + col;
      if (pixel == first) continue;
      const T* values = image + pixel * c_count;
      for (int64_t c = 0; c < c_count; ++c) {
        const bool take = beats(values[c], best[c]);
        best[c] = take ? values[c] : best[c];
        if (kArgmax) argmax[c] = take ? int32_t(pixel) : argmax[c];
      }
    }
  }
}

// Time on one thread of a pass over every window of `s`, for TeamChoice.
inline int64_t windows_ns(const Pool2dShape& s) {
  return s.batch * s.out_h * s.out_w * s.channels * s.pool_h * s.pool_w / kElementsPerNs;
}

template <typename T>
void zero(T* data, int64_t count) {
  const TeamChoice team(true, count / kElementsPerNs);
#pragma omp parallel for schedule(static) if (team.parallel)
  for (int64_t i = 0; i < count; ++i) data[i] = T(0);
}

// Calls visit(n, oh) for every output row, in parallel; rows whose windows may overlap
// (stride_h < pool_h) stay on one thread per image.
template <typename Visit>
void for_each_output_row_disjoint(const Pool2dShape& s, Visit visit) {
  const TeamChoice team(true, windows_ns(s));
  if (s.stride_h >= s.pool_h) {
#pragma omp parallel for schedule(static) if (team.parallel)
    for (int64_t r = 0; r < s.batch * s.out_h; ++r) visit(r / s.out_h, r % s.out_h);
  } else {
#pragma omp parallel for schedule(static) if (team.parallel)
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t oh = 0; oh < s.out_h; ++oh) visit(n, oh);
    }
  }
}

// Whether some window covers input row ih.
inline bool row_covered(const Pool2dShape& s, int64_t ih) {
  const int64_t offset = ih + s.pad_top;  // = oh * stride_h + position in the window
  const int64_t oh = offset / s.stride_h;
  return oh < s.out_h && offset - oh * s.stride_h < s.pool_h;
}

// Calls visit(n, ih) for every input row that no window covers (gaps when stride_h > pool_h,
// rows past the last window), in parallel; no parallel region when every row is covered (the
// usual case: waking a sleeping thread costs tens of microseconds).
template <typename Visit>
void for_uncovered_rows(const Pool2dShape& s, Visit visit) {
  bool any = false;
  for (int64_t ih = 0; ih < s.in_h; ++ih) any = any || !row_covered(s, ih);
  if (!any) return;
  const TeamChoice team(true, s.batch * s.in_h * s.in_w * s.channels / kElementsPerNs);
#pragma omp parallel for schedule(static) if (team.parallel)
  for (int64_t r = 0; r < s.batch * s.in_h; ++r) {
    if (!row_covered(s, r % s.in_h)) visit(r / s.in_h, r % s.in_h);
  }
}

// Calls visit(out, image, oh, ow) for every output pixel, output rows in an OpenMP loop: out
// is y's pixel (channels values), image is x's image under it.
template <typename T, typename Visit>
void for_each_output_pixel(T* y, const T* x, const Pool2dShape& s, Visit visit) {
  const int64_t c_count = s.channels;
  const TeamChoice team(true, windows_ns(s));
#pragma omp parallel for schedule(static) if (team.parallel)
  for (int64_t r = 0; r < s.batch * s.out_h; ++r) {
    const int64_t n = r / s.out_h, oh = r % s.out_h;
    const T* image = x + n * s.in_h * s.in_w * c_count;
    for (int64_t ow = 0; ow < s.out_w; ++ow) visit(y + (r * s.out_w + ow) * c_count, image, oh, ow);
  }
}

template <typename T>
void max_forward(T* y, const T* x, const Pool2dShape& s) {
  for_each_output_pixel(y, x, s, [&](T* out, const T* image, int64_t oh, int64_t ow) {
    window_max<T, false>(out, nullptr, image, s, window_of(s, oh, ow));
  });
}

template <typename T>
void max_forward_argmax(T* y, int32_t* argmax, const T* x, const Pool2dShape& s) {
  for_each_output_pixel(y, x, s, [&](T* out, const T* image, int64_t oh, int64_t ow) {
    window_max<T, true>(out, argmax + (out - y), image, s, window_of(s, oh, ow));
  });
}

// d_pixel (C,) receives dy[c] where argmax[c] names this pixel and 0 elsewhere: stored
// (kAdd false) or added.  argmax is only compared, never used as an address, so any value is
// safe: one that names no pixel of its window routes nothing.
template <typename T, bool kAdd>
inline void route_to_pixel(T* d_pixel, const T* dy, const int32_t* argmax, int32_t pixel,
                           int64_t c_count) {
  for (int64_t c = 0; c < c_count; ++c) {
    const T share = argmax[c] == pixel ? dy[c] : T(0);
    if (kAdd) {
      d_pixel[c] += share;
    } else {
      d_pixel[c] = share;
    }
  }
}

// Windows that never overlap (stride >= pool size both ways): every input row under output
// row oh is written once, left to right: 0 in the gaps between windows, the routed gradient
// inside them.  No clearing pass, so d_input is written once and never read.
template <typename T>
void max_backward_disjoint_row(T* d_image, const T* dy_row, const int32_t* argmax_row,
                               const Pool2dShape& s, int64_t oh) {
  const int64_t c_count = s.channels;
  const Window rows = window_of(s, oh, 0);
  for (int64_t r = rows.row_begin; r < rows.row_end; ++r) {
    T* d_row = d_image + r * s.in_w * c_count;
    int64_t col = 0;  // first column not yet written
    for (int64_t ow = 0; ow < s.out_w; ++ow) {
      const Window w = window_of(s, oh, ow);
      fill(d_row + col * c_count, d_row + w.col_begin * c_count, T(0));
      for (col = w.col_begin; col < w.col_end; ++col) {
        route_to_pixel<T, false>(d_row + col * c_count, dy_row + ow * c_count,
                                 argmax_row + ow * c_count, int32_t(r * s.in_w + col), c_count);
      }
    }
    fill(d_row + col * c_count, d_row + s.in_w * c_count, T(0));
  }
}

// Overlapping windows: d_input is cleared, then every window adds its share to each of its
// pixels in the fixed order (oh, ow, window position).
template <typename T>
void max_backward_overlapping_row(T* d_image, const T* dy_row, const int32_t* argmax_row,
                                  const Pool2dShape& s, int64_t oh) {
  const int64_t c_count = s.channels;
  for (int64_t ow = 0; ow < s.out_w; ++ow) {
    const Window w = window_of(s, oh, ow);
    for (int64_t r = w.row_begin; r < w.row_end; ++r) {
      for (int64_t col = w.col_begin; col < w.col_end; ++col) {
        route_to_pixel<T, true>(d_image + (r * s.in_w + col) * c_count, dy_row + ow * c_count,
                                argmax_row + ow * c_count, int32_t(r * s.in_w + col), c_count);
      }
    }
  }
}

// d_input from d_output and each output row's argmax: argmax_row(n, oh, scratch) returns the
// (out_w, C) argmax of output row (n, oh); scratch holds scratch_values values for it to
// compute the argmax into (0 when it is kept).
template <typename T, class ArgmaxRow>
void route_max_gradient(T* d_input, const T* d_output, const Pool2dShape& s,
                        int64_t scratch_values, ArgmaxRow argmax_row) {
  const int64_t c_count = s.channels, image_size = s.in_h * s.in_w * c_count;
  const int64_t out_row_size = s.out_w * c_count;
  const bool disjoint = s.stride_h >= s.pool_h && s.stride_w >= s.pool_w;
  if (disjoint) {
    for_uncovered_rows(s, [&](int64_t n, int64_t ih) {
      T* d_row = d_input + n * image_size + ih * s.in_w * c_count;
      fill(d_row, d_row + s.in_w * c_count, T(0));
    });
  } else {
    zero(d_input, s.batch * image_size);
  }
  for_each_output_row_disjoint(s, [&](int64_t n, int64_t oh) {
    Scratch<int32_t> scratch(scratch_values);
    const int32_t* argmax = argmax_row(n, oh, scratch.data);
    const T* dy_row = d_output + (n * s.out_h + oh) * out_row_size;
    if (disjoint) {
      max_backward_disjoint_row(d_input + n * image_size, dy_row, argmax, s, oh);
    } else {
      max_backward_overlapping_row(d_input + n * image_size, dy_row, argmax, s, oh);
    }
  });
}

template <typename T>
void max_backward_argmax(T* d_input, const T* d_output, const int32_t* argmax,
                         const Pool2dShape& s) {
  const int64_t out_row_size = s.out_w * s.channels;
  route_max_gradient(d_input, d_output, s, 0, [&](int64_t n, int64_t oh, int32_t*) {
    return argmax + (n * s.out_h + oh) * out_row_size;
  });
}

// The same routing, each output row's argmax found again from x.
template <typename T>
void max_backward(T* d_input, const T* d_output, const T* x, const Pool2dShape& s) {
  const int64_t c_count = s.channels, image_size = s.in_h * s.in_w * c_count;
  route_max_gradient(d_input, d_output, s, s.out_w * c_count,
                     [&](int64_t n, int64_t oh, int32_t* argmax) {
    Scratch<T> best(c_count);
    for (int64_t ow = 0; ow < s.out_w; ++ow) {
      window_max<T, true>(best.data, argmax + ow * c_count, x + n * image_size, s,
                          window_of(s, oh, ow));
    }
    return static_cast<const int32_t*>(argmax);
  });
}

template <typename T>
void avg_forward(T* y, const T* x, const Pool2dShape& s) {
  const int64_t c_count = s.channels;
  for_each_output_pixel(y, x, s, [&](T* out, const T* image, int64_t oh, int64_t ow) {
    const Window w = window_of(s, oh, ow);
    fill(out, out + c_count, T(0));
    for (int64_t row = w.row_begin; row < w.row_end; ++row) {
      for (int64_t col = w.col_begin; col < w.col_end; ++col) {
        const T* values = image + (row * s.in_w + col) * c_count;
        for (int64_t c = 0; c < c_count; ++c) out[c] += values[c];
      }
    }
    const T scale = T(1) / T(w.count());
    for (int64_t c = 0; c < c_count; ++c) out[c] *= scale;
  });
}

template <typename T>
void avg_backward(T* d_input, const T* d_output, const Pool2dShape& s) {
  const int64_t c_count = s.channels, image_size = s.in_h * s.in_w * c_count;
  zero(d_input, s.batch * image_size);
  for_each_output_row_disjoint(s, [&](int64_t n, int64_t oh) {
    T* d_image = d_input + n * image_size;
    for (int64_t ow = 0; ow < s.out_w; ++ow) {
      const Window w = window_of(s, oh, ow);
      const T* dy = d_output + ((n * s.out_h + oh) * s.out_w + ow) * c_count;
      const T scale = T(1) / T(w.count());
      for (int64_t row = w.row_begin; row < w.row_end; ++row) {
        for (int64_t col = w.col_begin; col < w.col_end; ++col) {
          T* d_pixel = d_image + (row * s.in_w + col) * c_count;
          for (int64_t c = 0; c < c_count; ++c) d_pixel[c] += dy[c] * scale;
        }
      }
    }
  });
}

}  // namespace

// The functions pool_isa.h declares, for one element type T.
#define CHALKNET_POOL_DEFINE(T)                                                                \
  void max_pool2d_forward(T* y, const T* x, const Pool2dShape& s) { max_forward(y, x, s); }   \
  void max_pool2d_backward(T* d_input, const T* d_output, const T* x, const Pool2dShape& s) { \
    max_backward(d_input, d_output, x, s);                                                     \
  }                                                                                            \
  void max_pool2d_forward_argmax(T* y, int32_t* argmax, const T* x, const Pool2dShape& s) {   \
    max_forward_argmax(y, argmax, x, s);                                                       \
  }                                                                                            \
  void max_pool2d_backward_argmax(T* d_input, const T* d_output, const int32_t* argmax,       \
                                  const Pool2dShape& s) {                                      \
    max_backward_argmax(d_input, d_output, argmax, s);                                         \
  }                                                                                            \
  void avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s) { avg_forward(y, x, s); }   \
  void avg_pool2d_backward(T* d_input, const T* d_output, const Pool2dShape& s) {             \
    avg_backward(d_input, d_output, s);                                                        \
  }
CHALKNET_POOL_DEFINE(float)
CHALKNET_POOL_DEFINE(double)
#undef CHALKNET_POOL_DEFINE

}  // namespace chalknet::pool_isa::CHALKNET_POOL_ISA

// conv2d.cpp: NHWC convolution forward, backward-input and backward-kernel as im2col in tiles
// feeding chalknet::gemm.
//
// Which algorithm runs:
//   stride 1, kernel sides 2..5, >= 8 channels in and out   Winograd (winograd.cpp)
//   stride 1, fewer than 8 input channels (first layers)    the direct kernel (conv_direct.h),
//                                                           forward and kernel gradient
//   a 1x1 kernel at stride 1 without padding                 one gemm on x itself
//   anything else                                            im2col in tiles, described here
// Backward-input with stride 1 and >= 8 input channels is the forward convolution of d_y with
// the flipped kernel (below), so conv2d_forward chooses its algorithm; otherwise col2im.
//
// The im2col ("patch") matrix has one row per output pixel m = (n, oh, ow) and K =
// kernel_h * kernel_w * in_c columns ordered (i, j, c) like the Keras kernel, so the kernel is
// already a row-major (K, filters) matrix and the output is a row-major (M, filters) matrix:
//
//   forward          y       (M, F)  = patches (M, K) . kernel (K, F)         [+ bias]
//   backward-input   d_patch (M, K)  = d_y (M, F) . kernel^T (F, K), then each patch row is
//                                      added back to the pixels it was copied from (col2im)
//   backward-kernel  d_kernel (K, F) = patches^T (K, M) . d_y (M, F),  d_bias = column sums of d_y
//
// In NHWC a patch row is kernel_w * in_c contiguous values per kernel row (one copy when the
// row is inside the image and dilation_w == 1).  The full (M, K) matrix is never built: the
// output pixels are processed in tiles of rows whose patches fit in a cache-sized buffer
// (kTileBytes, at most kMaxTileRows rows), so memory stays bounded for any batch.  A 1x1 kernel
// with stride 1 and no padding needs no patches at all: x itself is the (M, in_c) patch matrix.
//
// Bias.  The forward patch rows carry one more column, a constant 1, and the kernel matrix one
// more row, the bias:  [patch, 1] . [kernel; bias] = patch . kernel + bias, so the bias costs
// no pass over y and gemm never reads y (beta = 0).
//
// Backward-input with stride 1 is itself a forward convolution, with no col2im:
//   d_x[n, ih, iw, c] = sum over (i', j', f) of d_y[n, ih - pad_top' + i'*dh, iw - pad_left' + j'*dw, f]
//                                             * kernel[kh-1-i', kw-1-j', c, f]
// (substitute i' = kh-1-i in the forward equation), i.e. d_y convolved with the kernel rotated
// by 180 degrees and its channel axes swapped, padded by pad_top' = (kh-1)*dh - pad_top and
// pad_left' = (kw-1)*dw - pad_left.  It is used when those pads are >= 0 and in_c is wide
// enough to fill vectors; otherwise (strides > 1, tiny in_c) d_patches = d_y . kernel^T is
// added back onto the input (col2im).
//
// Threads: one parallel region per call (a fork/join per tile costs a scheduler time slice on a
// busy machine).  Forward and the stride-1 backward-input run their tiles in an OpenMP loop,
// each thread gathering its own patches and calling gemm (which stays on that thread inside a
// parallel region); every output row belongs to one tile and gemm's arithmetic per element does
// not depend on the rows around it.  The col2im backward-input runs one image per iteration
// (images share no input pixels; each pixel's additions come in a fixed order).
// Backward-kernel sums partial d_kernels over chunks of output pixels fixed by the shape, in
// chunk order; the bias gradient likewise over fixed chunks of rows.  So every result is
// identical for any number of threads.
#include "conv2d.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "conv_direct.h"
#include "gemm.h"
#include "gemm_kernels.h"
#include "parallel.h"
#include "winograd.h"

namespace chalknet {
namespace {

// Bytes of patches per tile: about one L2 cache, so gemm packs from cache-warm rows; and at
// most kMaxTileRows rows, so that small patches still give several tiles to share out.
constexpr int64_t kTileBytes = int64_t(1) << 20;
constexpr int64_t kMaxTileRows = 1024;
// Backward-kernel: at most this many partial d_kernel sums (chunks of output pixels), of at least
// kMinTilesPerChunk tiles each, taking at most kPartialBytes together.
constexpr int64_t kMaxKernelChunks = 16;
constexpr int64_t kMinTilesPerChunk = 2;
constexpr int64_t kPartialBytes = int64_t(64) << 20;
// Backward-input as a forward convolution needs at least this many input channels (the gemm's
// columns) to fill vectors; below it the col2im path is faster.
constexpr int64_t kMinChannelsForFlip = 8;
// Rows per chunk of the bias-gradient reduction (fixed, so the sum order never changes).
constexpr int64_t kBiasChunkRows = 1024;

// Rows per tile for patch rows of `row_length` values.
template <typename T>
int64_t tile_rows(const Conv2dShape& s, int64_t row_length) {
  const int64_t rows = kTileBytes / (row_length * int64_t(sizeof(T)));
  return std::max<int64_t>(16, std::min({rows, kMaxTileRows, s.out_pixels()}));
}

template <typename T>
int64_t tile_rows(const Conv2dShape& s) {
  return tile_rows<T>(s, s.patch_size());
}

// dst[0 .. count) = src[0 .. count): an inline loop (a library memcpy call per short patch
// run costs more than the copy).
template <typename T>
inline void copy_run(T* dst, const T* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] = src[i];
}

// `count` runs of kRun values: run r from src + r * src_step to dst + r * dst_step.  The fixed
// length lets the compiler turn each run into a few moves.
template <int kRun, typename T>
void copy_runs_fixed(T* dst, int64_t dst_step, const T* src, int64_t src_step, int64_t count) {
  for (int64_t r = 0; r < count; ++r, dst += dst_step, src += src_step) {
    for (int v = 0; v < kRun; ++v) dst[v] = src[v];
  }
}

template <typename T>
void copy_runs(T* dst, int64_t dst_step, const T* src, int64_t src_step, int64_t run,
               int64_t count) {
  switch (run) {  // the short runs of first layers (kernel_w * in_c = 3, 5, 9, 15 ...)
    case 1: return copy_runs_fixed<1>(dst, dst_step, src, src_step, count);
    case 2: return copy_runs_fixed<2>(dst, dst_step, src, src_step, count);
    case 3: return copy_runs_fixed<3>(dst, dst_step, src, src_step, count);
    case 4: return copy_runs_fixed<4>(dst, dst_step, src, src_step, count);
    case 5: return copy_runs_fixed<5>(dst, dst_step, src, src_step, count);
    case 6: return copy_runs_fixed<6>(dst, dst_step, src, src_step, count);
    case 7: return copy_runs_fixed<7>(dst, dst_step, src, src_step, count);
    case 8: return copy_runs_fixed<8>(dst, dst_step, src, src_step, count);
    case 9: return copy_runs_fixed<9>(dst, dst_step, src, src_step, count);
    case 15: return copy_runs_fixed<15>(dst, dst_step, src, src_step, count);
    default:
      for (int64_t r = 0; r < count; ++r) copy_run(dst + r * dst_step, src + r * src_step, run);
  }
}

// Calls body(buffer, m0, m1) for the tiles [m0, m1) of rows [0, total), tile_size rows each,
// in an OpenMP loop (outside any parallel region); each thread gets its own buffer of
// buffer_size elements.  Inside the loop gemm runs on the calling thread.
template <typename T, typename Body>
void for_each_tile_parallel(int64_t total, int64_t tile_size, int64_t buffer_size, Body body) {
  const int64_t tiles = (total + tile_size - 1) / tile_size;
#pragma omp parallel if (parallel_worth_it(tiles))
  {
    auto buffer = std::unique_ptr<T[]>(new T[static_cast<size_t>(buffer_size)]);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tiles; ++t) {
      body(buffer.get(), t * tile_size, std::min(total, (t + 1) * tile_size));
    }
  }
}

// The patch matrix is x itself: 1x1 kernel, stride 1, no padding (dilation is then irrelevant).
bool patches_are_input(const Conv2dShape& s) {
  return s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 &&
         s.pad_top == 0 && s.pad_left == 0 && s.out_h == s.in_h && s.out_w == s.in_w;
}

// Position (n, oh, ow) of output pixel m, stepped forward without divisions.
struct PixelCursor {
  int64_t n, oh, ow;
  PixelCursor(const Conv2dShape& s, int64_t m)
      : n(m / (s.out_w * s.out_h)), oh((m / s.out_w) % s.out_h), ow(m % s.out_w) {}
  void advance(const Conv2dShape& s) {
    if (++ow < s.out_w) return;
    ow = 0;
    if (++oh < s.out_h) return;
    oh = 0;
    ++n;
  }
};

// dst (kernel_w * in_c,) = the part of one patch that kernel row i sees: the input row src_row
// (null when that row is outside the image) from column iw0 on, zeros outside the image.
template <typename T>
void gather_kernel_row(T* dst, const T* src_row, const Conv2dShape& s, int64_t iw0) {
  const int64_t run = s.kernel_w * s.in_c;
  if (!src_row) {
    std::fill(dst, dst + run, T(0));
    return;
  }
  if (s.dilation_w == 1 && iw0 >= 0 && iw0 + s.kernel_w <= s.in_w) {
    copy_run(dst, src_row + iw0 * s.in_c, run);
    return;
  }
  for (int64_t j = 0; j < s.kernel_w; ++j) {
    const int64_t iw = iw0 + j * s.dilation_w;
    T* dst_c = dst + j * s.in_c;
    if (iw < 0 || iw >= s.in_w) {
      std::fill(dst_c, dst_c + s.in_c, T(0));
    } else {
      copy_run(dst_c, src_row + iw * s.in_c, s.in_c);
    }
  }
}

// rows (ow1 - ow0, row_length): the patches of output pixels (n, oh, ow0 .. ow1-1) of one
// output row, kernel row by kernel row, so the per-pixel work of the inner loop is one copy.
template <typename T>
void gather_segment(T* rows, int64_t row_length, const T* x, const Conv2dShape& s, int64_t n,
                    int64_t oh, int64_t ow0, int64_t ow1) {
  const T* image = x + n * s.in_h * s.in_w * s.in_c;
  const int64_t run = s.kernel_w * s.in_c;
  // Output columns whose window lies inside the image (one run each): [inner0, inner1).
  int64_t inner0 = ow0, inner1 = ow0;
  if (s.dilation_w == 1) {
    const int64_t first = (s.pad_left + s.stride_w - 1) / s.stride_w;  // iw0 >= 0
    const int64_t room = s.in_w - s.kernel_w + s.pad_left;             // iw0 + kw <= in_w
    const int64_t end = room < 0 ? 0 : room / s.stride_w + 1;
    inner0 = std::min(std::max(ow0, first), ow1);
    inner1 = std::max(inner0, std::min(ow1, end));
  }
  for (int64_t i = 0; i < s.kernel_h; ++i) {
    const int64_t ih = oh * s.stride_h - s.pad_top + i * s.dilation_h;
    const T* src_row = ih >= 0 && ih < s.in_h ? image + ih * s.in_w * s.in_c : nullptr;
    T* dst = rows + i * run;  // dst + (ow - ow0) * row_length: pixel ow's slot
    const bool inner = src_row && inner0 < inner1;
    for (int64_t ow = ow0; ow < (inner ? inner0 : ow1); ++ow) {
      gather_kernel_row(dst + (ow - ow0) * row_length, src_row, s, ow * s.stride_w - s.pad_left);
    }
    if (!inner) continue;
    copy_runs(dst + (inner0 - ow0) * row_length, row_length,
              src_row + (inner0 * s.stride_w - s.pad_left) * s.in_c, s.stride_w * s.in_c, run,
              inner1 - inner0);
    for (int64_t ow = inner1; ow < ow1; ++ow) {
      gather_kernel_row(dst + (ow - ow0) * row_length, src_row, s, ow * s.stride_w - s.pad_left);
    }
  }
}

// Rows per chunk of a parallel patch gather (a cursor is set up once per chunk).
constexpr int64_t kGatherChunkRows = 64;
// patches (m1 - m0, row_length) = the patches of output pixels m0 .. m1-1, each followed by a
// 1 when row_length is K + 1, on the calling thread.
template <typename T>
void gather_rows(T* patches, int64_t row_length, const T* x, const Conv2dShape& s, int64_t m0,
                 int64_t m1) {
  const int64_t k = s.patch_size();
  PixelCursor at(s, m0);
  for (int64_t m = m0; m < m1;) {  // one segment of an output row at a time
    const int64_t count = std::min(s.out_w - at.ow, m1 - m);
    gather_segment(patches + (m - m0) * row_length, row_length, x, s, at.n, at.oh, at.ow,
                   at.ow + count);
    m += count;
    at.ow += count - 1;
    at.advance(s);
  }
  if (row_length > k) {
    for (int64_t m = m0; m < m1; ++m) patches[(m - m0) * row_length + k] = T(1);
  }
}

// The im2col convolution y (M, F) = patches (M, K) . weights (K, F) [+ bias], tiles in
// parallel.  weights is the (K, F) kernel matrix; with a bias it is followed by the bias row
// ((K + 1, F) in all) and the patches get their column of ones.
template <typename T>
void forward_tiles(T* y, const T* x, const T* weights, bool with_bias, const Conv2dShape& s) {
  const int64_t f = s.filters, total = s.out_pixels();
  const int64_t row_length = s.patch_size() + (with_bias ? 1 : 0);
  const int64_t tile = tile_rows<T>(s, row_length);
  for_each_tile_parallel<T>(total, tile, tile * row_length, [&](T* patches, int64_t m0, int64_t m1) {
    gather_rows(patches, row_length, x, s, m0, m1);
    gemm<T>(y + m0 * f, f, patches, row_length, false, weights, f, false, m1 - m0, f, row_length,
            T(1), T(0));
  });
}

// First layers (few input channels, stride 1, no dilation), where im2col would copy
// kh*kw*C values per output pixel in short runs (5 floats for a 5x5 kernel on grey images) and
// the gemm's reduction would be as short as 25: computed directly instead (conv_direct.h), each
// output row from the kh input rows under it, copied once per band of output rows with their
// left and right padding so every window is inside.
bool direct_rows_pay(const Conv2dShape& s) {
  return s.in_c < 8 && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 &&
         s.dilation_w == 1;
}

// padded (count, wide * C): input rows ih0 .. ih0 + count - 1 of image n, each shifted right by
// pad_left, zeros outside the image.
template <typename T>
void pad_rows(T* padded, const T* x, const Conv2dShape& s, int64_t n, int64_t ih0,
              int64_t count, int64_t wide) {
  const int64_t c = s.in_c, row_size = wide * c;
  const int64_t w_begin = std::clamp<int64_t>(s.pad_left, 0, wide);
  const int64_t w_end = std::clamp<int64_t>(s.pad_left + s.in_w, w_begin, wide);
  for (int64_t r = 0; r < count; ++r) {
    T* row = padded + r * row_size;
    const int64_t ih = ih0 + r;
    if (ih < 0 || ih >= s.in_h) {
      std::fill(row, row + row_size, T(0));
      continue;
    }
    std::fill(row, row + w_begin * c, T(0));
    copy_run(row + w_begin * c, x + ((n * s.in_h + ih) * s.in_w + w_begin - s.pad_left) * c,
             (w_end - w_begin) * c);
    std::fill(row + w_end * c, row + row_size, T(0));
  }
}

// The builds of the direct kernels that match gemm's instruction-set path.
template <typename T>
conv_direct::Kernels<T> direct_kernels_for_isa() {
  switch (gemm_isa()) {
#if defined(CHALKNET_HAVE_AVX512)
    case Isa::Avx512: return {conv_direct::avx512::conv_row, conv_direct::avx512::kernel_gradient};
#endif
#if defined(CHALKNET_HAVE_AVX2)
    case Isa::Avx2: return {conv_direct::avx2::conv_row, conv_direct::avx2::kernel_gradient};
#endif
    default: return {conv_direct::generic::conv_row, conv_direct::generic::kernel_gradient};
  }
}

// The direct kernels' work cut into bands of whole output rows of one image (about
// kMaxTileRows output pixels each).  A band's kh - 1 + rows input rows are copied once with
// their padding, and window_rows(r)[i] points at the padded input row i under output row r.
template <typename T>
struct DirectBands {
  const Conv2dShape& s;
  int64_t wide, row_size;              // padded input row: out_w + kw - 1 pixels of C values
  int64_t band, bands_per_image, bands;
  conv_direct::Kernels<T> kernels;
  conv_direct::RowShape row_shape;

  explicit DirectBands(const Conv2dShape& shape)
      : s(shape),
        wide(shape.out_w + shape.kernel_w - 1),
        row_size(wide * shape.in_c),
        band(std::clamp<int64_t>(kMaxTileRows / shape.out_w, 1, shape.out_h)),
        bands_per_image((shape.out_h + band - 1) / band),
        bands(shape.batch * bands_per_image),
        kernels(direct_kernels_for_isa<T>()),
        row_shape{shape.out_w, shape.kernel_h, shape.kernel_w, shape.in_c, shape.filters} {}

  int64_t padded_size() const { return (band + s.kernel_h - 1) * row_size; }

  // Pads band b's input rows into `padded`, points window_rows (band x kh) at them and returns
  // the band's image n, first output row oh0 and number of rows.
  void prepare(int64_t b, T* padded, const T** window_rows, const T* x, int64_t* n,
               int64_t* oh0, int64_t* rows) const {
    *n = b / bands_per_image;
    *oh0 = b % bands_per_image * band;
    *rows = std::min(band, s.out_h - *oh0);
    pad_rows(padded, x, s, *n, *oh0 - s.pad_top, *rows + s.kernel_h - 1, wide);
    for (int64_t r = 0; r < *rows; ++r) {
      for (int64_t i = 0; i < s.kernel_h; ++i) {
        window_rows[r * s.kernel_h + i] = padded + (r + i) * row_size;
      }
    }
  }
};

template <typename T>
void forward_direct_rows(T* y, const T* x, const T* kernel, const T* bias, const Conv2dShape& s) {
  const DirectBands<T> bands(s);
  for_each_tile_parallel<T>(bands.bands, 1, bands.padded_size(), [&](T* padded, int64_t b,
                                                                      int64_t) {
    std::vector<const T*> window_rows(static_cast<size_t>(bands.band * s.kernel_h));
    int64_t n, oh0, rows;
    bands.prepare(b, padded, window_rows.data(), x, &n, &oh0, &rows);
    for (int64_t r = 0; r < rows; ++r) {
      bands.kernels.row(y + ((n * s.out_h + oh0 + r) * s.out_w) * s.filters,
                        window_rows.data() + r * s.kernel_h, kernel, bias, bands.row_shape);
    }
  });
}

// d_kernel of a first layer by the direct kernel: bands grouped in chunks fixed by the shape,
// each chunk's partial the sum over its bands in order (sum_chunks_in_order).
template <typename T>
void backward_kernel_direct_rows(T* d_kernel, const T* d_output, const T* x,
                                 const Conv2dShape& s) {
  const DirectBands<T> bands(s);
  const int64_t matrix = s.patch_size() * s.filters;
  const Chunks chunks = chunks_of(bands.bands, kMaxKernelChunks);
  struct Scratch {
    std::unique_ptr<T[]> padded;
    std::vector<const T*> window_rows;
  };
  const auto make_scratch = [&] {
    return Scratch{uninitialized<T>(bands.padded_size()),
                   std::vector<const T*>(static_cast<size_t>(bands.band * s.kernel_h))};
  };
  sum_chunks_in_order(d_kernel, matrix, chunks.count, make_scratch,
                      [&](int64_t chunk, T* sum, Scratch& scratch) {
    std::fill(sum, sum + matrix, T(0));
    const int64_t first = chunk * chunks.per_chunk;
    const int64_t last = std::min(bands.bands, first + chunks.per_chunk);
    for (int64_t b = first; b < last; ++b) {
      int64_t n, oh0, rows;
      bands.prepare(b, scratch.padded.get(), scratch.window_rows.data(), x, &n, &oh0, &rows);
      bands.kernels.kernel_gradient(sum, scratch.window_rows.data(),
                                    d_output + (n * s.out_h + oh0) * s.out_w * s.filters, rows,
                                    bands.row_shape);
    }
  });
}

// d_input += col2im(d_patches) for the tile of output pixels m0 .. m1-1.  Written in gather
// form: each thread owns whole input rows (n, ih) and visits, for each kernel row i, the output
// row oh with oh*stride_h - pad_top + i*dilation_h == ih, so no two threads write one pixel.
template <typename T>
void scatter_tile(T* d_input, const T* d_patches, const Conv2dShape& s, int64_t m0,
                  int64_t m1) {
  const int64_t k = s.patch_size();
  const int64_t image_pixels = s.out_h * s.out_w;
  const int64_t n_first = m0 / image_pixels;
  const int64_t n_last = (m1 - 1) / image_pixels;
  // Input rows touched: all of them when the tile spans images, else those under its rows.
  int64_t ih_begin = 0, ih_end = s.in_h;
  if (n_first == n_last) {
    const int64_t oh_first = (m0 % image_pixels) / s.out_w;
    const int64_t oh_last = ((m1 - 1) % image_pixels) / s.out_w;
    ih_begin = std::max<int64_t>(0, oh_first * s.stride_h - s.pad_top);
    ih_end = std::min<int64_t>(
        s.in_h, oh_last * s.stride_h - s.pad_top + (s.kernel_h - 1) * s.dilation_h + 1);
  }
  const int64_t rows_per_image = std::max<int64_t>(0, ih_end - ih_begin);
  const int64_t rows = (n_last - n_first + 1) * rows_per_image;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = n_first + r / rows_per_image;
    const int64_t ih = ih_begin + r % rows_per_image;
    T* dst_row = d_input + (n * s.in_h + ih) * s.in_w * s.in_c;
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      const int64_t offset = ih + s.pad_top - i * s.dilation_h;  // = oh * stride_h
      if (offset < 0 || offset % s.stride_h != 0) continue;
      const int64_t oh = offset / s.stride_h;
      if (oh >= s.out_h) continue;
      const int64_t row_start = (n * s.out_h + oh) * s.out_w;
      const int64_t m_begin = std::max(m0, row_start);
      const int64_t m_end = std::min(m1, row_start + s.out_w);
      for (int64_t m = m_begin; m < m_end; ++m) {
        const T* src = d_patches + (m - m0) * k + i * s.kernel_w * s.in_c;
        const int64_t iw0 = (m - row_start) * s.stride_w - s.pad_left;
        for (int64_t j = 0; j < s.kernel_w; ++j) {
          const int64_t iw = iw0 + j * s.dilation_w;
          if (iw < 0 || iw >= s.in_w) continue;
          T* dst = dst_row + iw * s.in_c;
          const T* src_c = src + j * s.in_c;
          for (int64_t c = 0; c < s.in_c; ++c) dst[c] += src_c[c];
        }
      }
    }
  }
}

// d_bias (F,) = sum over the M rows of d_output, in fixed chunks combined in order.
template <typename T>
void bias_gradient(T* d_bias, const T* d_output, int64_t rows, int64_t filters) {
  const int64_t chunks = (rows + kBiasChunkRows - 1) / kBiasChunkRows;
  std::vector<T> partial(static_cast<size_t>(chunks * filters), T(0));
#pragma omp parallel for schedule(static)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    T* sum = partial.data() + chunk * filters;
    const int64_t end = std::min(rows, (chunk + 1) * kBiasChunkRows);
    for (int64_t m = chunk * kBiasChunkRows; m < end; ++m) {
      const T* row = d_output + m * filters;
      for (int64_t f = 0; f < filters; ++f) sum[f] += row[f];
    }
  }
  std::fill(d_bias, d_bias + filters, T(0));
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const T* sum = partial.data() + chunk * filters;
    for (int64_t f = 0; f < filters; ++f) d_bias[f] += sum[f];
  }
}

// rows m0 .. m1-1 of y (F wide) = bias.
template <typename T>
void fill_bias(T* y, const T* bias, int64_t filters, int64_t m0, int64_t m1) {
#pragma omp parallel for schedule(static)
  for (int64_t m = m0; m < m1; ++m) std::memcpy(y + m * filters, bias, sizeof(T) * filters);
}

}  // namespace

template <typename T>
void conv2d_forward(T* y, const T* x, const T* kernel, const T* bias, const Conv2dShape& s) {
  const int64_t k = s.patch_size(), f = s.filters, total = s.out_pixels();
  if (winograd_applies(s)) {
    winograd_forward(y, x, kernel, bias, s);
    return;
  }
  if (direct_rows_pay(s)) {
    forward_direct_rows(y, x, kernel, bias, s);
    return;
  }
  if (patches_are_input(s)) {
    if (bias) fill_bias(y, bias, f, 0, total);
    gemm<T>(y, f, x, k, false, kernel, f, false, total, f, k, T(1), bias ? T(1) : T(0));
    return;
  }
  if (!bias) {
    forward_tiles(y, x, kernel, false, s);
    return;
  }
  // weights (K + 1, F) = the kernel matrix with the bias as its last row.
  auto weights = uninitialized<T>((k + 1) * f);
  std::memcpy(weights.get(), kernel, sizeof(T) * k * f);
  std::memcpy(weights.get() + k * f, bias, sizeof(T) * f);
  forward_tiles(y, x, weights.get(), true, s);
}

// The forward convolution that computes backward-input when the strides are 1 (see the top of
// the file): d_y is its input (in_c = filters), the flipped kernel its kernel, d_x its output.
Conv2dShape flipped_shape(const Conv2dShape& s) {
  Conv2dShape t = s;
  t.in_h = s.out_h;
  t.in_w = s.out_w;
  t.in_c = s.filters;
  t.filters = s.in_c;
  t.pad_top = (s.kernel_h - 1) * s.dilation_h - s.pad_top;
  t.pad_left = (s.kernel_w - 1) * s.dilation_w - s.pad_left;
  t.out_h = s.in_h;
  t.out_w = s.in_w;
  return t;
}

bool backward_input_as_forward(const Conv2dShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && s.in_c >= kMinChannelsForFlip &&
         (s.kernel_h - 1) * s.dilation_h >= s.pad_top &&
         (s.kernel_w - 1) * s.dilation_w >= s.pad_left;
}

// flipped (KH, KW, F, C): flipped[i', j', f, c] = kernel[KH-1-i', KW-1-j', c, f].
template <typename T>
void flip_kernel(T* flipped, const T* kernel, const Conv2dShape& s) {
  const int64_t c_count = s.in_c, f_count = s.filters;
  for (int64_t i = 0; i < s.kernel_h; ++i) {
    for (int64_t j = 0; j < s.kernel_w; ++j) {
      const T* src = kernel + ((s.kernel_h - 1 - i) * s.kernel_w + (s.kernel_w - 1 - j)) *
                                  c_count * f_count;
      T* dst = flipped + (i * s.kernel_w + j) * f_count * c_count;
      for (int64_t f = 0; f < f_count; ++f) {
        for (int64_t c = 0; c < c_count; ++c) dst[f * c_count + c] = src[c * f_count + f];
      }
    }
  }
}

template <typename T>
void conv2d_backward_input(T* d_input, const T* d_output, const T* kernel,
                           const Conv2dShape& s) {
  const int64_t k = s.patch_size(), f = s.filters, total = s.out_pixels();
  if (!patches_are_input(s) && backward_input_as_forward(s)) {
    auto flipped = uninitialized<T>(k * f);
    flip_kernel(flipped.get(), kernel, s);
    conv2d_forward<T>(d_input, d_output, flipped.get(), nullptr, flipped_shape(s));
    return;
  }
  if (patches_are_input(s)) {
    gemm<T>(d_input, k, d_output, f, false, kernel, f, true, total, k, f, T(1), T(0));
    return;
  }
  // col2im, one image per loop iteration: images never share input pixels, so threads can
  // scatter without races, and each pixel receives its additions in the same order (tiles in
  // order, then kernel position) whatever the thread count.
  const int64_t image_size = s.in_h * s.in_w * s.in_c, image_rows = s.out_h * s.out_w;
  const int64_t tile = tile_rows<T>(s);
#pragma omp parallel if (parallel_worth_it(s.batch))
  {
    auto d_patches = uninitialized<T>(tile * k);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < s.batch; ++n) {
      std::fill(d_input + n * image_size, d_input + (n + 1) * image_size, T(0));
      const int64_t end = (n + 1) * image_rows;
      for (int64_t m0 = n * image_rows; m0 < end; m0 += tile) {
        const int64_t m1 = std::min(end, m0 + tile);
        gemm<T>(d_patches.get(), k, d_output + m0 * f, f, false, kernel, f, true, m1 - m0, k, f,
                T(1), T(0));
        scatter_tile(d_input, d_patches.get(), s, m0, m1);
      }
    }
  }
}

template <typename T>
void conv2d_backward_kernel(T* d_kernel, T* d_bias, const T* d_output, const T* x,
                            const Conv2dShape& s) {
  const int64_t k = s.patch_size(), f = s.filters, total = s.out_pixels();
  if (d_bias) bias_gradient(d_bias, d_output, total, f);
  if (total == 0) {
    std::fill(d_kernel, d_kernel + k * f, T(0));
    return;
  }
  if (patches_are_input(s)) {
    gemm<T>(d_kernel, f, x, k, true, d_output, f, false, k, f, total, T(1), T(0));
    return;
  }
  if (winograd_applies(s)) {
    winograd_backward_kernel(d_kernel, d_output, x, s);
    return;
  }
  if (direct_rows_pay(s)) {
    backward_kernel_direct_rows(d_kernel, d_output, x, s);
    return;
  }
  // The output pixels are the gemm's reduction.  They are cut into chunks fixed by the shape
  // alone; chunk c's partial d_kernel (c = 0 straight into d_kernel) is the sum over its tiles in
  // order, and the partials are added in chunk order, so the result does not depend on the
  // number of threads that ran the chunks.
  const int64_t tile = tile_rows<T>(s);
  const int64_t tiles = (total + tile - 1) / tile;
  const int64_t matrix = k * f;
  const int64_t max_chunks = std::max<int64_t>(
      1, std::min<int64_t>(kMaxKernelChunks, kPartialBytes / (matrix * int64_t(sizeof(T)))));
  const Chunks chunks = chunks_of(tiles, max_chunks, kMinTilesPerChunk);
  const int64_t pixels_per_chunk = chunks.per_chunk * tile;
  sum_chunks_in_order(d_kernel, matrix, chunks.count, [&] { return uninitialized<T>(tile * k); },
                      [&](int64_t chunk, T* sum, std::unique_ptr<T[]>& patches) {
    const int64_t first = chunk * pixels_per_chunk;
    const int64_t last = std::min(total, first + pixels_per_chunk);
    for (int64_t m0 = first; m0 < last; m0 += tile) {
      const int64_t m1 = std::min(last, m0 + tile);
      gather_rows(patches.get(), k, x, s, m0, m1);
      // sum (K, F) += patches^T (K, rows) . d_output rows (rows, F); the first tile sets it.
      gemm<T>(sum, f, patches.get(), k, true, d_output + m0 * f, f, false, k, f, m1 - m0, T(1),
              m0 == first ? T(0) : T(1));
    }
  });
}

template void conv2d_forward<float>(float*, const float*, const float*, const float*,
                                    const Conv2dShape&);
template void conv2d_forward<double>(double*, const double*, const double*, const double*,
                                     const Conv2dShape&);
template void conv2d_backward_input<float>(float*, const float*, const float*,
                                           const Conv2dShape&);
template void conv2d_backward_input<double>(double*, const double*, const double*,
                                            const Conv2dShape&);
template void conv2d_backward_kernel<float>(float*, float*, const float*, const float*,
                                            const Conv2dShape&);
template void conv2d_backward_kernel<double>(double*, double*, const double*, const double*,
                                             const Conv2dShape&);

}  // namespace chalknet

// conv2d.cpp: NHWC convolution forward, backward-input and backward-kernel as im2col in tiles
// feeding chalknet::gemm.
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
// In NHWC a patch row is kernel_w * in_c contiguous values per kernel row (one memcpy when the
// row is inside the image and dilation_w == 1).  The full (M, K) matrix is never built: the
// output pixels are processed in tiles of rows whose patches fit in a cache-sized buffer
// (kTileBytes), so memory stays bounded for any batch.  A 1x1 kernel with stride 1 and no
// padding needs no patches at all: x itself is the (M, in_c) patch matrix.
//
// Threads.  The tile loop runs on the calling thread; inside a tile, building the patches and
// the col2im scatter are OpenMP loops over rows, and gemm parallelises itself.  So gemm is never
// called from inside a parallel region (no nested parallelism, no shared-workspace worries).
// Determinism: every output element is produced by one thread with a fixed order of additions
// (tiles in order, then kernel position), gemm's result does not depend on the thread count,
// and the bias gradient is summed over fixed chunks of rows combined in order.  Results are
// therefore identical for any number of threads.
#include "conv2d.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "gemm.h"

namespace chalknet {
namespace {

// Bytes of patches per tile: about one L2 cache, so gemm packs from cache-warm rows.
constexpr int64_t kTileBytes = int64_t(1) << 20;
// Rows per chunk of the bias-gradient reduction (fixed, so the sum order never changes).
constexpr int64_t kBiasChunkRows = 1024;

template <typename T>
int64_t tile_rows(const Conv2dShape& s) {
  const int64_t rows = kTileBytes / (s.patch_size() * int64_t(sizeof(T)));
  return std::max<int64_t>(16, std::min(rows, s.out_pixels()));
}

// The patch matrix is x itself: 1x1 kernel, stride 1, no padding (dilation is then irrelevant).
bool patches_are_input(const Conv2dShape& s) {
  return s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 &&
         s.pad_top == 0 && s.pad_left == 0 && s.out_h == s.in_h && s.out_w == s.in_w;
}

template <typename T>
std::unique_ptr<T[]> uninitialized(int64_t count) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(count)]);
}

// row (K,) = the patch of x seen by output pixel m, zeros where it hangs over the border.
template <typename T>
void gather_patch(T* row, const T* x, const Conv2dShape& s, int64_t m) {
  const int64_t ow = m % s.out_w;
  const int64_t oh = (m / s.out_w) % s.out_h;
  const int64_t n = m / (s.out_w * s.out_h);
  const T* image = x + n * s.in_h * s.in_w * s.in_c;
  const int64_t ih0 = oh * s.stride_h - s.pad_top;
  const int64_t iw0 = ow * s.stride_w - s.pad_left;
  const int64_t row_len = s.kernel_w * s.in_c;
  const bool contiguous = s.dilation_w == 1 && iw0 >= 0 && iw0 + s.kernel_w <= s.in_w;
  for (int64_t i = 0; i < s.kernel_h; ++i) {
    T* dst = row + i * row_len;
    const int64_t ih = ih0 + i * s.dilation_h;
    if (ih < 0 || ih >= s.in_h) {
      std::fill(dst, dst + row_len, T(0));
      continue;
    }
    const T* src_row = image + ih * s.in_w * s.in_c;
    if (contiguous) {
      std::memcpy(dst, src_row + iw0 * s.in_c, sizeof(T) * row_len);
      continue;
    }
    for (int64_t j = 0; j < s.kernel_w; ++j) {
      const int64_t iw = iw0 + j * s.dilation_w;
      T* dst_c = dst + j * s.in_c;
      if (iw < 0 || iw >= s.in_w) {
        std::fill(dst_c, dst_c + s.in_c, T(0));
      } else {
        std::memcpy(dst_c, src_row + iw * s.in_c, sizeof(T) * s.in_c);
      }
    }
  }
}

// patches (m1 - m0, K) = the patches of output pixels m0 .. m1-1.
template <typename T>
void gather_tile(T* patches, const T* x, const Conv2dShape& s, int64_t m0, int64_t m1) {
  const int64_t k = s.patch_size();
#pragma omp parallel for schedule(static)
  for (int64_t m = m0; m < m1; ++m) gather_patch(patches + (m - m0) * k, x, s, m);
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
  const T beta = bias ? T(1) : T(0);
  if (patches_are_input(s)) {
    if (bias) fill_bias(y, bias, f, 0, total);
    gemm<T>(y, f, x, k, false, kernel, f, false, total, f, k, T(1), beta);
    return;
  }
  const int64_t tile = tile_rows<T>(s);
  auto patches = uninitialized<T>(tile * k);
  for (int64_t m0 = 0; m0 < total; m0 += tile) {
    const int64_t m1 = std::min(total, m0 + tile);
    gather_tile(patches.get(), x, s, m0, m1);
    if (bias) fill_bias(y, bias, f, m0, m1);
    gemm<T>(y + m0 * f, f, patches.get(), k, false, kernel, f, false, m1 - m0, f, k, T(1), beta);
  }
}

template <typename T>
void conv2d_backward_input(T* d_input, const T* d_output, const T* kernel,
                           const Conv2dShape& s) {
  const int64_t k = s.patch_size(), f = s.filters, total = s.out_pixels();
  if (patches_are_input(s)) {
    gemm<T>(d_input, k, d_output, f, false, kernel, f, true, total, k, f, T(1), T(0));
    return;
  }
  const int64_t input_size = s.batch * s.in_h * s.in_w * s.in_c;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < input_size; ++i) d_input[i] = T(0);
  const int64_t tile = tile_rows<T>(s);
  auto d_patches = uninitialized<T>(tile * k);
  for (int64_t m0 = 0; m0 < total; m0 += tile) {
    const int64_t m1 = std::min(total, m0 + tile);
    gemm<T>(d_patches.get(), k, d_output + m0 * f, f, false, kernel, f, true, m1 - m0, k, f, T(1),
            T(0));
    scatter_tile(d_input, d_patches.get(), s, m0, m1);
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
  const int64_t tile = tile_rows<T>(s);
  auto patches = uninitialized<T>(tile * k);
  for (int64_t m0 = 0; m0 < total; m0 += tile) {
    const int64_t m1 = std::min(total, m0 + tile);
    gather_tile(patches.get(), x, s, m0, m1);
    // d_kernel (K, F) += patches^T (K, rows) . d_output rows (rows, F); the first tile sets it.
    gemm<T>(d_kernel, f, patches.get(), k, true, d_output + m0 * f, f, false, k, f, m1 - m0,
            T(1), m0 == 0 ? T(0) : T(1));
  }
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

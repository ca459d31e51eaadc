// conv_direct.h: one output row of a stride-1, undilated convolution with few input channels
// (first layers: 1 to 7 channels), computed directly with the sums held in registers.  The
// kernel (conv_direct_micro.inc) is built in each GEMM instruction-set file on that file's
// vector type, and conv2d.cpp calls the build of gemm's path.
//
//   y_row (out_w, F):  y_row[ow, f] = bias[f] + sum over (i, j, c) of
//                                     rows[i][(ow + j) * C + c] * kernel[i, j, c, f]
//
// rows[i] (i < kh) is input row oh - pad_top + i with its left padding already applied:
// (out_w + kw - 1) * C values, zeros outside the image.  bias may be null.
//
//   kernel_gradient:  d_kernel (kh*kw*C, F) += sum over `count` output rows r and pixels ow of
//                     rows[r*kh + i][(ow + j) * C + c] * d_output_rows[r, ow, f]
//
// the gradient of the same convolution with respect to its kernel (taps (i, j, c) in Keras's
// order), with the sums over the rows' pixels held in registers.
#pragma once
#include <cstdint>

namespace chalknet::conv_direct {

struct RowShape {
  int64_t out_w, kernel_h, kernel_w, in_c, filters;
};

// The two kernels of one instruction-set build, for one dtype.
template <typename T>
struct Kernels {
  void (*row)(T* y_row, const T* const* rows, const T* kernel, const T* bias, const RowShape& s);
  void (*kernel_gradient)(T* d_kernel, const T* const* rows, const T* d_output_rows,
                          int64_t count, const RowShape& s);
};

#define CHALKNET_CONV_DIRECT_DECLARE(isa)                                                   \
  namespace isa {                                                                           \
  void conv_row(float* y_row, const float* const* rows, const float* kernel,                \
                const float* bias, const RowShape& s);                                      \
  void conv_row(double* y_row, const double* const* rows, const double* kernel,             \
                const double* bias, const RowShape& s);                                     \
  void kernel_gradient(float* d_kernel, const float* const* rows, const float* d_output_rows, \
                       int64_t count, const RowShape& s);                                   \
  void kernel_gradient(double* d_kernel, const double* const* rows,                         \
                       const double* d_output_rows, int64_t count, const RowShape& s);      \
  }
CHALKNET_CONV_DIRECT_DECLARE(generic)
CHALKNET_CONV_DIRECT_DECLARE(avx2)
CHALKNET_CONV_DIRECT_DECLARE(avx512)
#undef CHALKNET_CONV_DIRECT_DECLARE

}  // namespace chalknet::conv_direct

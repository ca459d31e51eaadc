// conv2d.h: 2-D convolution (cross-correlation, as Keras/TensorFlow), NHWC, groups = 1.
//
//   x       (batch, in_h, in_w, in_c)                 input
//   kernel  (kernel_h, kernel_w, in_c, filters)       Keras layout; read as a (K, filters)
//                                                     matrix with K = kernel_h * kernel_w * in_c
//   y       (batch, out_h, out_w, filters)            output; read as an (M, filters) matrix
//                                                     with M = batch * out_h * out_w
//
//   y[n, oh, ow, f] = bias[f] + sum over (i, j, c) of
//       x[n, oh*stride_h - pad_top + i*dilation_h, ow*stride_w - pad_left + j*dilation_w, c]
//       * kernel[i, j, c, f]                        (positions outside the image read as 0)
//
// The padding at the bottom/right is implied by out_h/out_w; the kernels never read outside
// the image whatever the geometry, so any out_h/out_w >= 1 is memory-safe.
#pragma once
#include <cstdint>

namespace chalknet {

struct Conv2dShape {
  int64_t batch, in_h, in_w, in_c;
  int64_t kernel_h, kernel_w, filters;
  int64_t stride_h, stride_w;
  int64_t dilation_h, dilation_w;
  int64_t pad_top, pad_left;
  int64_t out_h, out_w;

  // Length of one patch (a row of the im2col matrix): kernel_h * kernel_w * in_c.
  int64_t patch_size() const { return kernel_h * kernel_w * in_c; }
  // Rows of the im2col matrix: one per output pixel.
  int64_t out_pixels() const { return batch * out_h * out_w; }
};

// y (batch, out_h, out_w, filters) = conv(x, kernel) + bias.  bias (filters,) may be null.
template <typename T>
void conv2d_forward(T* y, const T* x, const T* kernel, const T* bias, const Conv2dShape& s);

// d_input (batch, in_h, in_w, in_c) = dL/dx given d_output (batch, out_h, out_w, filters).
template <typename T>
void conv2d_backward_input(T* d_input, const T* d_output, const T* kernel,
                           const Conv2dShape& s);

// d_kernel (kernel_h, kernel_w, in_c, filters) = dL/dkernel and d_bias (filters,) = dL/dbias
// given d_output and x.  d_bias may be null.
template <typename T>
void conv2d_backward_kernel(T* d_kernel, T* d_bias, const T* d_output, const T* x,
                            const Conv2dShape& s);

}  // namespace chalknet

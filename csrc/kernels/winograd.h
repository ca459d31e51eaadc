// winograd.h: stride-1 convolution by Winograd's minimal filtering algorithm F(m x m, r x r)
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016), NHWC, with
// the shapes and semantics of conv2d.h.  conv2d.cpp calls it for the shapes where it pays.
//
//   forward           y (batch, out_h, out_w, filters) = conv(x, kernel) + bias
//   backward-kernel   d_kernel (kernel_h, kernel_w, in_c, filters) = dL/dkernel
//
// Backward-input with stride 1 is a forward convolution (see conv2d.cpp), so it comes here too.
#pragma once
#include "conv2d.h"

namespace chalknet {

// True when s is a stride-1, undilated convolution with a 2..5 kernel side and enough input
// and output channels for the transformed products to be worth a gemm.
bool winograd_applies(const Conv2dShape& s);

// y (batch, out_h, out_w, filters); bias (filters,) may be null.  Requires winograd_applies(s).
template <typename T>
void winograd_forward(T* y, const T* x, const T* kernel, const T* bias, const Conv2dShape& s);

// d_kernel (kernel_h, kernel_w, in_c, filters) from d_output (batch, out_h, out_w, filters)
// and x.  Requires winograd_applies(s).
template <typename T>
void winograd_backward_kernel(T* d_kernel, const T* d_output, const T* x, const Conv2dShape& s);

}  // namespace chalknet

// pool.h: max and average pooling over NHWC images, forward and backward.
//
//   x  (batch, in_h, in_w, channels)      y, d_output  (batch, out_h, out_w, channels)
//
// Window of output pixel (oh, ow): rows oh*stride_h - pad_top + [0, pool_h), columns
// ow*stride_w - pad_left + [0, pool_w), clipped to the image: padded positions take no part
// (TensorFlow's rule, so "same" max pooling ignores the border and "same" average pooling
// divides by the number of pixels inside the image).  Every window must hold at least one
// pixel of the image (the callers' geometry guarantees it; the kernels check nothing).
//
// Max pooling ties: the first maximum in scan order (window row by row, left to right) wins,
// and a NaN beats any number (so NaN propagates, like numpy.argmax); backward routes d_output
// to exactly that pixel.
#pragma once
#include <cstdint>

namespace chalknet {

struct Pool2dShape {
  int64_t batch, in_h, in_w, channels;
  int64_t pool_h, pool_w;
  int64_t stride_h, stride_w;
  int64_t pad_top, pad_left;
  int64_t out_h, out_w;
};

// y = max over each window.
template <typename T>
void max_pool2d_forward(T* y, const T* x, const Pool2dShape& s);

// d_input (batch, in_h, in_w, channels): each d_output value added to its window's argmax.
template <typename T>
void max_pool2d_backward(T* d_input, const T* d_output, const T* x, const Pool2dShape& s);

// y = mean over the in-image pixels of each window.
template <typename T>
void avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s);

// d_input: each d_output value spread evenly over its window's in-image pixels.
template <typename T>
void avg_pool2d_backward(T* d_input, const T* d_output, const Pool2dShape& s);

}  // namespace chalknet

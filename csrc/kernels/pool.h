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

// y as max_pool2d_forward, and argmax (batch, out_h, out_w, channels) = the pixel index
// row * in_w + col, inside its image, of each maximum (torch's return_indices convention).
template <typename T>
void max_pool2d_forward_argmax(T* y, int32_t* argmax, const T* x, const Pool2dShape& s);

// d_input (batch, in_h, in_w, channels): d_input[n, row, col, c] = the sum of
// d_output[n, oh, ow, c] over the windows (oh, ow) holding (row, col) whose
// argmax[n, oh, ow, c] == row * in_w + col.  Where the argmax comes from the forward pass this
// equals max_pool2d_backward without reading x again.  An argmax naming no pixel of its window
// routes nothing (it is compared, never used as an address).
template <typename T>
void max_pool2d_backward_argmax(T* d_input, const T* d_output, const int32_t* argmax,
                                const Pool2dShape& s);

// y = mean over the in-image pixels of each window.
template <typename T>
void avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s);

// d_input: each d_output value spread evenly over its window's in-image pixels.
template <typename T>
void avg_pool2d_backward(T* d_input, const T* d_output, const Pool2dShape& s);

}  // namespace chalknet

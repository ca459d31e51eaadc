// activations.h: elementwise activation work worth a kernel (DESIGN.md, "Kernels").
//
//   relu_backward:  d_input[i] = d_output[i] if x[i] > 0, else 0        for i < n
//
// x is ReLU's input (a NaN x is not > 0, so its gradient is 0, as np.where(x > 0, dy, 0)).
#pragma once
#include <cstdint>

namespace chalknet {

// d_input (n,), d_output (n,), x (n,).
template <typename T>
void relu_backward(T* d_input, const T* d_output, const T* x, int64_t n);

}  // namespace chalknet

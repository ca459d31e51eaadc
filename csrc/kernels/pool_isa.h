// pool_isa.h: the pooling loops of pool_impl.h, one build per instruction set
// (pool_{generic,avx2,avx512}.cpp); pool.cpp calls the build that matches gemm's path.  Each
// function computes what its namesake in pool.h says.
#pragma once
#include "pool.h"

namespace chalknet::pool_isa {

#define CHALKNET_POOL_DECLARE(isa)                                                             \
  namespace isa {                                                                              \
  void max_pool2d_forward(float* y, const float* x, const Pool2dShape& s);                     \
  void max_pool2d_forward(double* y, const double* x, const Pool2dShape& s);                   \
  void max_pool2d_backward(float* d_input, const float* d_output, const float* x,              \
                           const Pool2dShape& s);                                              \
  void max_pool2d_backward(double* d_input, const double* d_output, const double* x,           \
                           const Pool2dShape& s);                                              \
  void max_pool2d_forward_argmax(float* y, int32_t* argmax, const float* x,                    \
                                 const Pool2dShape& s);                                        \
  void max_pool2d_forward_argmax(double* y, int32_t* argmax, const double* x,                  \
                                 const Pool2dShape& s);                                        \
  void max_pool2d_backward_argmax(float* d_input, const float* d_output, const int32_t* argmax, \
                                  const Pool2dShape& s);                                       \
  void max_pool2d_backward_argmax(double* d_input, const double* d_output,                     \
                                  const int32_t* argmax, const Pool2dShape& s);                \
  void avg_pool2d_forward(float* y, const float* x, const Pool2dShape& s);                     \
  void avg_pool2d_forward(double* y, const double* x, const Pool2dShape& s);                   \
  void avg_pool2d_backward(float* d_input, const float* d_output, const Pool2dShape& s);       \
  void avg_pool2d_backward(double* d_input, const double* d_output, const Pool2dShape& s);     \
  }
CHALKNET_POOL_DECLARE(generic)
CHALKNET_POOL_DECLARE(avx2)
CHALKNET_POOL_DECLARE(avx512)
#undef CHALKNET_POOL_DECLARE

}  // namespace chalknet::pool_isa

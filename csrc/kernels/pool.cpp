// pool.cpp: max / average pooling (pool.h), dispatched to the build of pool_impl.h for the
// instruction-set path gemm runs (the loops themselves are in pool_impl.h).  Built without ISA
// flags.
#include "pool.h"

#include "cpu.h"
#include "gemm_kernels.h"
#include "pool_isa.h"

namespace chalknet {

// Calls the build of `function` for gemm's current instruction-set path.
#if defined(CHALKNET_HAVE_AVX512)
#define CHALKNET_POOL_DISPATCH(function, ...)                                  \
  switch (gemm_isa()) {                                                        \
    case Isa::Avx512: return pool_isa::avx512::function(__VA_ARGS__);          \
    case Isa::Avx2: return pool_isa::avx2::function(__VA_ARGS__);              \
    default: return pool_isa::generic::function(__VA_ARGS__);                 \
  }
#else
#define CHALKNET_POOL_DISPATCH(function, ...) return pool_isa::generic::function(__VA_ARGS__);
#endif

template <typename T>
void max_pool2d_forward(T* y, const T* x, const Pool2dShape& s) {
  CHALKNET_POOL_DISPATCH(max_pool2d_forward, y, x, s)
}

template <typename T>
void max_pool2d_backward(T* d_input, const T* d_output, const T* x, const Pool2dShape& s) {
  CHALKNET_POOL_DISPATCH(max_pool2d_backward, d_input, d_output, x, s)
}

template <typename T>
void max_pool2d_forward_argmax(T* y, int32_t* argmax, const T* x, const Pool2dShape& s) {
  CHALKNET_POOL_DISPATCH(max_pool2d_forward_argmax, y, argmax, x, s)
}

template <typename T>
void max_pool2d_backward_argmax(T* d_input, const T* d_output, const int32_t* argmax,
                                const Pool2dShape& s) {
  CHALKNET_POOL_DISPATCH(max_pool2d_backward_argmax, d_input, d_output, argmax, s)
}

template <typename T>
void avg_pool2d_forward(T* y, const T* x, const Pool2dShape& s) {
  CHALKNET_POOL_DISPATCH(avg_pool2d_forward, y, x, s)
}

template <typename T>
void avg_pool2d_backward(T* d_input, const T* d_output, const Pool2dShape& s) {
  CHALKNET_POOL_DISPATCH(avg_pool2d_backward, d_input, d_output, s)
}

#undef CHALKNET_POOL_DISPATCH

template void max_pool2d_forward<float>(float*, const float*, const Pool2dShape&);
template void max_pool2d_forward<double>(double*, const double*, const Pool2dShape&);
template void max_pool2d_backward<float>(float*, const float*, const float*, const Pool2dShape&);
template void max_pool2d_backward<double>(double*, const double*, const double*,
                                          const Pool2dShape&);
template void max_pool2d_forward_argmax<float>(float*, int32_t*, const float*,
                                               const Pool2dShape&);
template void max_pool2d_forward_argmax<double>(double*, int32_t*, const double*,
                                                const Pool2dShape&);
template void max_pool2d_backward_argmax<float>(float*, const float*, const int32_t*,
                                                const Pool2dShape&);
template void max_pool2d_backward_argmax<double>(double*, const double*, const int32_t*,
                                                 const Pool2dShape&);
template void avg_pool2d_forward<float>(float*, const float*, const Pool2dShape&);
template void avg_pool2d_forward<double>(double*, const double*, const Pool2dShape&);
template void avg_pool2d_backward<float>(float*, const float*, const Pool2dShape&);
template void avg_pool2d_backward<double>(double*, const double*, const Pool2dShape&);

}  // namespace chalknet

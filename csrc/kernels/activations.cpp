// activations.cpp: ReLU's backward in one pass over the three arrays.
//
// d_input = x > 0 ? d_output : 0 is written as a bit mask (all ones where x > 0, zeros
// elsewhere) ANDed with d_output's bits: no branch on the signs of random data (a branch per
// element mispredicts half the time), and d_output's value, NaN and inf included, is copied
// exactly where x > 0, while every other element is +0 exactly.  Elementwise, so the result is
// the same for any number of threads.
#include "activations.h"

#include <cstring>
#include <type_traits>

#include "team.h"

namespace chalknet {
namespace {

// Below this many elements one thread is faster than a fork/join on spinning threads (whether
// a sleeping team is worth waking: team.h).
constexpr int64_t kParallelElements = int64_t(1) << 17;

template <typename T>
using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

}  // namespace

template <typename T>
void relu_backward(T* d_input, const T* d_output, const T* x, int64_t n) {
  const TeamChoice team(n >= kParallelElements, n / kElementsPerNs);
#pragma omp parallel for schedule(static) if (team.parallel)
  for (int64_t i = 0; i < n; ++i) {
    Bits<T> bits;
    std::memcpy(&bits, d_output + i, sizeof(T));
    bits &= Bits<T>(0) - Bits<T>(x[i] > T(0));
    std::memcpy(d_input + i, &bits, sizeof(T));
  }
}

template void relu_backward<float>(float*, const float*, const float*, int64_t);
template void relu_backward<double>(double*, const double*, const double*, int64_t);

}  // namespace chalknet

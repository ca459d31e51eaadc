// parallel.h: the OpenMP plumbing shared by the kernels built without instruction-set flags
// (conv2d.cpp, winograd.cpp, activations.cpp): when a parallel region pays, per-thread buffers,
// and sums of per-chunk partial results taken in a fixed order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace chalknet {

// A parallel region over `items` pieces of work pays: more than one piece, more than one thread
// and not already inside a parallel region (where gemm and the loops stay serial).
inline bool parallel_worth_it(int64_t items) {
#if defined(_OPENMP)
  return items > 1 && !omp_in_parallel() && omp_get_max_threads() > 1;
#else
  (void)items;
  return false;
#endif
}

// A buffer of `count` values, left uninitialised.
template <typename T>
std::unique_ptr<T[]> uninitialized(int64_t count) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(count)]);
}

// total (size,) += partials[0], then partials[1], ... (count arrays of `size` values, one
// after the other).  Every element receives the partials in the same order whatever the thread
// count, so a reduction cut into chunks fixed by the shape gives identical results on any
// number of threads.
template <typename T>
void add_partials_in_order(T* total, const T* partials, int64_t count, int64_t size) {
#pragma omp parallel for schedule(static) if (count > 0 && parallel_worth_it(size / 4096))
  for (int64_t i = 0; i < size; ++i) {
    T sum = total[i];
    for (int64_t chunk = 0; chunk < count; ++chunk) sum += partials[chunk * size + i];
    total[i] = sum;
  }
}

}  // namespace chalknet

// parallel.h: when an OpenMP region pays, for the kernels built without instruction-set flags
// (conv2d.cpp, winograd.cpp).
#pragma once
#include <cstdint>

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

}  // namespace chalknet

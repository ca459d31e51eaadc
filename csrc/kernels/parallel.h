// parallel.h: the OpenMP plumbing shared by the kernels built without instruction-set flags
// (conv2d.cpp, winograd.cpp, rnn.cpp): when a parallel region pays, buffers, and reductions
// cut into chunks whose partial results are added in a fixed order.
#pragma once
#include <algorithm>
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

// `items` pieces of a reduction's work grouped into `count` chunks of `per_chunk` items (the
// last may hold fewer): at most max_chunks chunks of at least min_per_chunk items, fixed by
// the sizes alone so that the order of the additions is too.
struct Chunks {
  int64_t per_chunk, count;
};

inline Chunks chunks_of(int64_t items, int64_t max_chunks, int64_t min_per_chunk = 1) {
  const int64_t per_chunk = std::max(min_per_chunk, (items + max_chunks - 1) / max_chunks);
  return {per_chunk, (items + per_chunk - 1) / per_chunk};
}

// total (size,) = the sum of `chunks` partial results, computed in parallel and added in chunk
// order, so the result is the same on any number of threads.  chunk_sum(chunk, sum, scratch)
// writes chunk's partial into sum (chunk 0's straight into total), using the scratch that
// make_scratch() made for the thread running it.
template <typename T, class MakeScratch, class ChunkSum>
void sum_chunks_in_order(T* total, int64_t size, int64_t chunks, const MakeScratch& make_scratch,
                         const ChunkSum& chunk_sum) {
  auto partials = uninitialized<T>((chunks - 1) * size);
#pragma omp parallel if (parallel_worth_it(chunks))
  {
    auto scratch = make_scratch();
#pragma omp for schedule(dynamic, 1)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      chunk_sum(chunk, chunk == 0 ? total : partials.get() + (chunk - 1) * size, scratch);
    }
  }
  add_partials_in_order(total, partials.get(), chunks - 1, size);
}

}  // namespace chalknet

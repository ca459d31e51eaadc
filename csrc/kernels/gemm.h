// gemm.h: general matrix multiply, C = alpha * op(A) * op(B) + beta * C, row-major.
#pragma once
#include <cstdint>

namespace chalknet {

// c (m, n) with row stride ldc               output, read when beta != 0
// a (m, k) with row stride lda, or (k, m) when trans_a
// b (k, n) with row stride ldb, or (n, k) when trans_b
// The result does not depend on the number of threads: the output is partitioned, never the
// k reduction.
template <typename T>
void gemm(T* c, int64_t ldc, const T* a, int64_t lda, bool trans_a, const T* b, int64_t ldb,
          bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, T beta);

extern template void gemm<float>(float*, int64_t, const float*, int64_t, bool, const float*,
                                 int64_t, bool, int64_t, int64_t, int64_t, float, float);
extern template void gemm<double>(double*, int64_t, const double*, int64_t, bool, const double*,
                                  int64_t, bool, int64_t, int64_t, int64_t, double, double);

}  // namespace chalknet

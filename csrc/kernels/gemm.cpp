// gemm.cpp: C = alpha * op(A) * op(B) + beta * C.
//
// First version: rows of C are split across OpenMP threads; each row is accumulated as
// c[i, :] += a[i, p] * b[p, :] over p (a contiguous, vectorisable inner loop over n).
#include "gemm.h"

#include <cstddef>
#include <vector>

namespace chalknet {

template <typename T>
void gemm(T* c, int64_t ldc, const T* a, int64_t lda, bool trans_a, const T* b, int64_t ldb,
          bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, T beta) {
#pragma omp parallel
  {
    std::vector<T> b_row(static_cast<std::size_t>(n));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < m; ++i) {
      T* c_row = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) c_row[j] = beta == T(0) ? T(0) : beta * c_row[j];
      for (int64_t p = 0; p < k; ++p) {
        const T a_ip = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
        const T* b_p = b + p * ldb;
        if (trans_b) {
          for (int64_t j = 0; j < n; ++j) b_row[j] = b[j * ldb + p];
          b_p = b_row.data();
        }
        for (int64_t j = 0; j < n; ++j) c_row[j] += a_ip * b_p[j];
      }
    }
  }
}

template void gemm<float>(float*, int64_t, const float*, int64_t, bool, const float*, int64_t,
                          bool, int64_t, int64_t, int64_t, float, float);
template void gemm<double>(double*, int64_t, const double*, int64_t, bool, const double*, int64_t,
                           bool, int64_t, int64_t, int64_t, double, double);

}  // namespace chalknet

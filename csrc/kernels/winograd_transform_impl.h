// winograd_transform_impl.h: the body of winograd_transform_{generic,avx2,avx512}.cpp.  Each
// defines CHALKNET_WINOGRAD_ISA (the namespace) and includes this file, so the same loops are
// compiled once per instruction set; nothing here is shared between those builds.
//
// A row of a transform matrix has at most 6 nonzeros; combine() is instantiated for each count
// so that out[c] = sum_t coef_t * in_t[c] is one pass over the channels with the sum held in a
// register, vectorised over c (`omp simd`: the vectors never overlap).
#include "winograd_transform.h"

#ifndef CHALKNET_WINOGRAD_ISA
#error "define CHALKNET_WINOGRAD_ISA before including winograd_transform_impl.h"
#endif

namespace chalknet::winograd::CHALKNET_WINOGRAD_ISA {
namespace {

// out (n,) = sum over t < kTerms of coef[t] * in[t] (n,).
template <int kTerms, typename T>
void combine_terms(T* out, const T* const* in, const T* coef, int64_t n) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    T sum = coef[0] * in[0][c];
    for (int t = 1; t < kTerms; ++t) sum += coef[t] * in[t][c];
    out[c] = sum;
  }
}

// out (n,) = sum over the nonzeros j of row i of matrix[i][j] * (vector j of in, at in + j*step).
template <typename T>
void combine(T* out, const Matrix<T>& matrix, int i, const T* in, int64_t step, int64_t n) {
  const T* vectors[kAlpha];
  for (int t = 0; t < matrix.terms[i]; ++t) vectors[t] = in + matrix.index[i][t] * step;
  const T* coef = matrix.coef[i];
  switch (matrix.terms[i]) {
    case 1: return combine_terms<1>(out, vectors, coef, n);
    case 2: return combine_terms<2>(out, vectors, coef, n);
    case 3: return combine_terms<3>(out, vectors, coef, n);
    case 4: return combine_terms<4>(out, vectors, coef, n);
    case 5: return combine_terms<5>(out, vectors, coef, n);
    case 6: return combine_terms<6>(out, vectors, coef, n);
    default:
      for (int64_t c = 0; c < n; ++c) out[c] = T(0);
  }
}

template <typename T>
void transform_2d_any(Grid<T> out, Grid<const T> in, const Matrix<T>& first,
                      const Matrix<T>& second, int64_t n, T* scratch) {
  for (int i = 0; i < first.rows; ++i) {  // scratch[i][b] = sum_a first[i][a] in[a][b]
    for (int b = 0; b < second.cols; ++b) {
      combine(scratch + (i * second.cols + b) * n, first, i, in.base + b * in.col_step,
              in.row_step, n);
    }
  }
  for (int i = 0; i < first.rows; ++i) {  // out[i][j] = sum_b second[j][b] scratch[i][b]
    for (int j = 0; j < second.rows; ++j) {
      combine(out.base + i * out.row_step + j * out.col_step, second, j,
              scratch + i * second.cols * n, n, n);
    }
  }
}

}  // namespace

void transform_2d(Grid<float> out, Grid<const float> in, const Matrix<float>& first,
                  const Matrix<float>& second, int64_t n, float* scratch) {
  transform_2d_any(out, in, first, second, n, scratch);
}

void transform_2d(Grid<double> out, Grid<const double> in, const Matrix<double>& first,
                  const Matrix<double>& second, int64_t n, double* scratch) {
  transform_2d_any(out, in, first, second, n, scratch);
}

}  // namespace chalknet::winograd::CHALKNET_WINOGRAD_ISA

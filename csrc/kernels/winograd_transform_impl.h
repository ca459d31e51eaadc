// winograd_transform_impl.h: the body of winograd_transform_{generic,avx2,avx512}.cpp.  Each
// defines CHALKNET_WINOGRAD_ISA (the namespace) and includes this file, so the same loops are
// compiled once per instruction set; nothing here is shared between those builds.
//
// A row of a transform matrix has at most 6 nonzeros; combine() is instantiated for each count
// so that out[c] = sum_t coef_t * in_t[c] is one pass over the channels with the sum held in a
// register, vectorised over c (`omp simd`: the vectors never overlap), and applies one matrix
// row to a whole row or column of the tile per call.
#include "winograd_transform.h"

#ifndef CHALKNET_WINOGRAD_ISA
#error "define CHALKNET_WINOGRAD_ISA before including winograd_transform_impl.h"
#endif

namespace chalknet::winograd::CHALKNET_WINOGRAD_ISA {
namespace {

// For each of `rows` vectors r: out + r * out_step (n,) = sum over t < kTerms of coef[t] *
// (in[t] + r * row_step) (n,).
template <int kTerms, typename T>
void combine_terms(T* out, int64_t out_step, const T* const* in, int64_t row_step,
                   const T* coef, int rows, int64_t n) {
  for (int r = 0; r < rows; ++r) {
    T* out_r = out + r * out_step;
    const int64_t offset = r * row_step;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
      T sum = coef[0] * in[0][offset + c];
      for (int t = 1; t < kTerms; ++t) sum += coef[t] * in[t][offset + c];
      out_r[c] = sum;
    }
  }
}

// Row i of the matrix applied to `rows` vectors at once: for each r,
// out + r * out_step = sum over the nonzeros j of matrix[i][j] * (in + j * term_step + r * row_step).
template <typename T>
void combine(T* out, int64_t out_step, const Matrix<T>& matrix, int i, const T* in,
             int64_t term_step, int64_t row_step, int rows, int64_t n) {
  const T* vectors[kAlpha];
  for (int t = 0; t < matrix.terms[i]; ++t) vectors[t] = in + matrix.index[i][t] * term_step;
  const T* coef = matrix.coef[i];
  switch (matrix.terms[i]) {
    case 1: return combine_terms<1>(out, out_step, vectors, row_step, coef, rows, n);
    case 2: return combine_terms<2>(out, out_step, vectors, row_step, coef, rows, n);
    case 3: return combine_terms<3>(out, out_step, vectors, row_step, coef, rows, n);
    case 4: return combine_terms<4>(out, out_step, vectors, row_step, coef, rows, n);
    case 5: return combine_terms<5>(out, out_step, vectors, row_step, coef, rows, n);
    case 6: return combine_terms<6>(out, out_step, vectors, row_step, coef, rows, n);
    default:
      for (int r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < n; ++c) out[r * out_step + c] = T(0);
      }
  }
}

// First the rows of `in` (scratch[i][b] = sum_a first[i][a] in[a][b], all b at once), then
// the columns (out[i][j] = sum_b second[j][b] scratch[i][b], all i at once).
template <typename T>
void transform_2d_any(Grid<T> out, Grid<const T> in, const Matrix<T>& first,
                      const Matrix<T>& second, int64_t n, T* scratch) {
  const int cols = second.cols;
  for (int i = 0; i < first.rows; ++i) {
    combine(scratch + i * cols * n, n, first, i, in.base, in.row_step, in.col_step, cols, n);
  }
  for (int j = 0; j < second.rows; ++j) {
    combine(out.base + j * out.col_step, out.row_step, second, j, scratch, n, cols * n,
            first.rows, n);
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

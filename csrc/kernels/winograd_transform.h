// winograd_transform.h: the channel-vector loops of the Winograd transforms (winograd.cpp), one
// build per instruction set (winograd_transform_{generic,avx2,avx512}.cpp, each compiled with
// its own flags from winograd_transform_impl.h), chosen at run time with gemm's path.
//
//   transform_2d(out, in, first, second, n, scratch):
//     out[i][j] (n,) = sum over a, b of first[i][a] * in[a][b] (n,) * second[j][b]
//
// for a small grid of channel vectors (at most 6 x 6), e.g. V = B^T d B for one input tile.
#pragma once
#include <cstdint>

namespace chalknet::winograd {

constexpr int kAlpha = 6;  // side of a transformed tile, the largest matrix side

// A matrix of at most kAlpha x kAlpha coefficients, kept as the nonzeros of each row
// (terms[i] of them: column index[i][t], value coef[i][t]) so the loops skip the zeros.
// A plain aggregate: built in winograd.cpp, only read by the instruction-set files.
template <typename T>
struct Matrix {
  int rows, cols;
  int terms[kAlpha];
  int index[kAlpha][kAlpha];
  T coef[kAlpha][kAlpha];
};

// A grid of channel vectors: vector (a, b) starts at base + a * row_step + b * col_step.
template <typename T>
struct Grid {
  T* base;
  int64_t row_step, col_step;
};

// out (first.rows x second.rows vectors) = first . in . second^T for each of the n channels;
// scratch holds first.rows x second.cols vectors.
template <typename T>
using Transform2d = void (*)(Grid<T> out, Grid<const T> in, const Matrix<T>& first,
                             const Matrix<T>& second, int64_t n, T* scratch);

#define CHALKNET_WINOGRAD_DECLARE(isa)                                                        \
  namespace isa {                                                                             \
  void transform_2d(Grid<float> out, Grid<const float> in, const Matrix<float>& first,        \
                    const Matrix<float>& second, int64_t n, float* scratch);                  \
  void transform_2d(Grid<double> out, Grid<const double> in, const Matrix<double>& first,     \
                    const Matrix<double>& second, int64_t n, double* scratch);                \
  }
CHALKNET_WINOGRAD_DECLARE(generic)
CHALKNET_WINOGRAD_DECLARE(avx2)
CHALKNET_WINOGRAD_DECLARE(avx512)
#undef CHALKNET_WINOGRAD_DECLARE

}  // namespace chalknet::winograd

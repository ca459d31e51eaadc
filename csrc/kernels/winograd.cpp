// winograd.cpp: stride-1 NHWC convolution by Winograd's minimal filtering F(m x m, r x r).
//
// One dimension first.  m outputs of an r-tap correlation, y[i] = sum_k g[k] d[i + k], read
// alpha = m + r - 1 inputs.  Winograd computes them with alpha multiplications instead of m*r:
//
//   y (m) = A^T [ (G g) (alpha) * (B^T d) (alpha) ]          (* elementwise)
//
// The matrices come from evaluating polynomials at alpha points p_0 .. p_{alpha-2} and "at
// infinity" (the leading coefficient): the correlation is the transpose of multiplying two
// polynomials, which is done by evaluating both at the points, multiplying the values and
// interpolating (Toom-Cook).  With N_t = prod over finite l != t of (p_t - p_l):
//
//   A^T[i][t] = p_t^i                B^T[t] = coefficients of prod over finite l != t (x - p_l)
//   G[t][k]   = p_t^k / N_t          B^T[inf] = coefficients of prod over finite l (x - p_l)
//   A^T[i][inf] = [i == m-1]         G[inf][k] = [k == r-1]
//
// Here alpha = 6 with the points 0, 1, -1, 2, -2, infinity (Lavin & Gray's choice for F(4, 3)),
// and m = 7 - r for any kernel side r in 2..5: F(4, 3) does 36 multiplications for 16 outputs of
// a 3x3 kernel instead of 144, F(2, 5) 36 for 4 outputs of a 5x5 kernel instead of 100.  B^T
// depends on the points alone, so the two axes of a non-square kernel share it.
//
// In two dimensions the transforms apply to rows and then columns:
//
//   Y (m_h x m_w) = A_h^T [ U * V ] A_w,   U = G_h g G_w^T (alpha x alpha),   V = B^T d B
//
// and over channels the elementwise products become matrix products: for each of the
// alpha^2 = 36 positions (xi, nu) of the transformed tile,
//
//   M[xi,nu] (tiles, F) = V[xi,nu] (tiles, C) . U[xi,nu] (C, F)
//
// so the convolution is 36 gemms plus the transforms, which are sums of a few channel vectors
// with small integer or rational coefficients (the loops below run over the contiguous
// channel axis of NHWC, which the compiler vectorises).  Backward-kernel is the same algorithm
// with the roles turned: d_kernel (r x r) = sum over output tiles of the correlation of an
// input tile with an m x m tile of d_y, i.e. F(r, m):
//
//   d_kernel = A'_h^T [ sum over tiles of (G'_h dy G'_w^T) * (B^T x B) ] A'_w
//
// where the sum over tiles is again 36 gemms, W[xi,nu] (C, F) = V[xi,nu]^T . DY[xi,nu].
//
// Work is cut into blocks of output tiles sized so one block's transformed input and product
// (36 x tiles x (C + F) values) stay in L2; blocks run in an OpenMP loop, each thread with its
// own buffers, and gemm stays serial inside.  Every forward output belongs to one tile, so the
// result does not depend on the thread count; backward-kernel sums blocks in chunks fixed by the
// shape and adds the chunks in order, as conv2d.cpp does.
//
// Accuracy: the transforms add a few roundings of values scaled by at most |B^T| = 5 and
// |G| <= 1; in float32 the error stays within a small multiple of the im2col path's.
#include "winograd.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "gemm.h"
#include "gemm_kernels.h"
#include "parallel.h"
#include "winograd_transform.h"

namespace chalknet {
namespace {

using winograd::Grid;
using winograd::kAlpha;  // side of a transformed tile
using winograd::Matrix;
using winograd::Transform2d;

constexpr double kPoints[kAlpha - 1] = {0, 1, -1, 2, -2};  // the finite points
constexpr int kInfinity = kAlpha - 1;        // index of the last point, infinity
constexpr int kPositions = kAlpha * kAlpha;  // positions of a transformed tile

// Bytes of transformed input and products per block of tiles (about half an L2 cache).
constexpr int64_t kBlockBytes = int64_t(1) << 20;
// Backward-kernel: at most this many partial sums of the 36 transformed gradients, and memory.
constexpr int64_t kMaxChunks = 8;
constexpr int64_t kPartialBytes = int64_t(64) << 20;

// N_t = product over finite l != t of (p_t - p_l); 1 for the point at infinity.
double point_scale(int t) {
  if (t == kInfinity) return 1.0;
  double scale = 1.0;
  for (int l = 0; l < kInfinity; ++l) {
    if (l != t) scale *= kPoints[t] - kPoints[l];
  }
  return scale;
}

double power(double base, int exponent) {
  double result = 1.0;
  for (int e = 0; e < exponent; ++e) result *= base;
  return result;
}

// The nonzeros of a dense rows x cols matrix (at most alpha x alpha), as winograd::Matrix.
template <typename T>
Matrix<T> sparse_matrix(int rows, int cols, const double (&dense)[kAlpha][kAlpha]) {
  Matrix<T> matrix{rows, cols, {}, {}, {}};
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      if (dense[i][j] == 0.0) continue;
      matrix.index[i][matrix.terms[i]] = j;
      matrix.coef[i][matrix.terms[i]] = static_cast<T>(dense[i][j]);
      ++matrix.terms[i];
    }
  }
  return matrix;
}

// B^T (alpha x alpha): row t holds the coefficients of prod over finite l != t of (x - p_l),
// the point at infinity's row those of the product over all finite points.
template <typename T>
Matrix<T> input_transform() {
  double dense[kAlpha][kAlpha] = {};
  for (int t = 0; t < kAlpha; ++t) {
    double poly[kAlpha] = {1.0};  // coefficients, lowest power first
    int degree = 0;
    for (int l = 0; l < kInfinity; ++l) {
      if (l == t) continue;
      for (int n = degree + 1; n > 0; --n) poly[n] = poly[n - 1] - kPoints[l] * poly[n];
      poly[0] = -kPoints[l] * poly[0];
      ++degree;
    }
    for (int n = 0; n < kAlpha; ++n) dense[t][n] = poly[n];
  }
  return sparse_matrix<T>(kAlpha, kAlpha, dense);
}

// G (alpha x taps): evaluates a polynomial of `taps` coefficients at each point, over N_t.
template <typename T>
Matrix<T> filter_transform(int taps) {
  double dense[kAlpha][kAlpha] = {};
  for (int t = 0; t < kInfinity; ++t) {
    for (int k = 0; k < taps; ++k) dense[t][k] = power(kPoints[t], k) / point_scale(t);
  }
  dense[kInfinity][taps - 1] = 1.0;
  return sparse_matrix<T>(kAlpha, taps, dense);
}

// A^T (outputs x alpha): interpolates `outputs` values back from the products at the points.
template <typename T>
Matrix<T> output_transform(int outputs) {
  double dense[kAlpha][kAlpha] = {};
  for (int i = 0; i < outputs; ++i) {
    for (int t = 0; t < kInfinity; ++t) dense[i][t] = power(kPoints[t], i);
  }
  dense[outputs - 1][kInfinity] = 1.0;
  return sparse_matrix<T>(outputs, kAlpha, dense);
}

// The build of the transform loops that matches gemm's instruction-set path.
template <typename T>
Transform2d<T> transform_2d_for_isa() {
  switch (gemm_isa()) {
#if defined(CHALKNET_HAVE_AVX512)
    case Isa::Avx512: return winograd::avx512::transform_2d;
#endif
#if defined(CHALKNET_HAVE_AVX2)
    case Isa::Avx2: return winograd::avx2::transform_2d;
#endif
    default: return winograd::generic::transform_2d;
  }
}

// The tiling of one convolution: output tiles of tile_h x tile_w pixels, the transforms.
template <typename T>
struct Plan {
  const Conv2dShape& s;
  int tile_h, tile_w;               // m = alpha + 1 - r on each axis
  int64_t tiles_h, tiles_w, tiles;  // tiles per column, per row, in all
  int64_t block;                    // tiles per block
  Matrix<T> bt;                     // B^T, alpha x alpha
  Matrix<T> g_h, g_w;               // G of the kernel rows / columns, alpha x r
  Matrix<T> at_h, at_w;             // A^T of the output tile, m x alpha
  // Backward-kernel, F(r, m): G of the d_y tile (alpha x m) and A^T of the kernel (r x alpha).
  Matrix<T> g_dy_h, g_dy_w;
  Matrix<T> at_kernel_h, at_kernel_w;
  Transform2d<T> transform_2d;      // the loops built for gemm's instruction set

  explicit Plan(const Conv2dShape& shape)
      : s(shape),
        tile_h(kAlpha + 1 - static_cast<int>(shape.kernel_h)),
        tile_w(kAlpha + 1 - static_cast<int>(shape.kernel_w)),
        tiles_h((shape.out_h + tile_h - 1) / tile_h),
        tiles_w((shape.out_w + tile_w - 1) / tile_w),
        tiles(shape.batch * tiles_h * tiles_w),
        block(std::clamp<int64_t>(
            kBlockBytes / (kPositions * (shape.in_c + shape.filters) * int64_t(sizeof(T))), 8,
            256)),
        bt(input_transform<T>()),
        g_h(filter_transform<T>(static_cast<int>(shape.kernel_h))),
        g_w(filter_transform<T>(static_cast<int>(shape.kernel_w))),
        at_h(output_transform<T>(tile_h)),
        at_w(output_transform<T>(tile_w)),
        g_dy_h(filter_transform<T>(tile_h)),
        g_dy_w(filter_transform<T>(tile_w)),
        at_kernel_h(output_transform<T>(static_cast<int>(shape.kernel_h))),
        at_kernel_w(output_transform<T>(static_cast<int>(shape.kernel_w))),
        transform_2d(transform_2d_for_isa<T>()) {}

  int64_t blocks() const { return (tiles + block - 1) / block; }

  // Image and top-left output pixel of tile q.
  void tile_origin(int64_t q, int64_t* n, int64_t* oh0, int64_t* ow0) const {
    *n = q / (tiles_h * tiles_w);
    *oh0 = (q / tiles_w) % tiles_h * tile_h;
    *ow0 = q % tiles_w * tile_w;
  }
};

// tile (alpha, alpha, C) = the input pixels under output tile q, zeros outside the image.
template <typename T>
void gather_input_tile(T* tile, const T* x, const Plan<T>& plan, int64_t q) {
  const Conv2dShape& s = plan.s;
  int64_t n, oh0, ow0;
  plan.tile_origin(q, &n, &oh0, &ow0);
  const int64_t ih0 = oh0 - s.pad_top, iw0 = ow0 - s.pad_left;
  const int64_t iw_begin = std::max<int64_t>(iw0, 0), iw_end = std::min(iw0 + kAlpha, s.in_w);
  for (int a = 0; a < kAlpha; ++a) {
    T* row = tile + a * kAlpha * s.in_c;
    const int64_t ih = ih0 + a;
    if (ih < 0 || ih >= s.in_h || iw_begin >= iw_end) {
      std::fill(row, row + kAlpha * s.in_c, T(0));
      continue;
    }
    const T* src = x + ((n * s.in_h + ih) * s.in_w + iw_begin) * s.in_c;
    T* dst = row + (iw_begin - iw0) * s.in_c;
    std::fill(row, dst, T(0));
    std::copy(src, src + (iw_end - iw_begin) * s.in_c, dst);
    std::fill(dst + (iw_end - iw_begin) * s.in_c, row + kAlpha * s.in_c, T(0));
  }
}

// v (36 positions x block x C, position stride block * C): B^T d B of the tiles
// [q0, q0 + count), each at row (q - q0) of its position.
template <typename T>
void transform_inputs(T* v, const T* x, const Plan<T>& plan, int64_t q0, int64_t count,
                      T* tile, T* scratch) {
  const int64_t c = plan.s.in_c, position_step = plan.block * c;
  for (int64_t p = 0; p < count; ++p) {
    gather_input_tile(tile, x, plan, q0 + p);
    plan.transform_2d({v + p * c, kAlpha * position_step, position_step},
                      {tile, kAlpha * c, c}, plan.bt, plan.bt, c, scratch);
  }
}

// u (36 positions x C x F) = G_h g G_w^T for every (c, f): the kernel (kh, kw, C, F) in the
// transformed domain.
template <typename T>
std::unique_ptr<T[]> transform_kernel(const T* kernel, const Plan<T>& plan) {
  const Conv2dShape& s = plan.s;
  const int64_t matrix = s.in_c * s.filters;
  auto u = uninitialized<T>(kPositions * matrix);
  auto scratch = uninitialized<T>(kAlpha * s.kernel_w * matrix);
  plan.transform_2d({u.get(), kAlpha * matrix, matrix}, {kernel, s.kernel_w * matrix, matrix},
                    plan.g_h, plan.g_w, matrix, scratch.get());
  return u;
}

// The output tiles [q0, q0 + count) of y = A_h^T M A_w (+ bias), from m (36 positions x block
// x F).  Tiles that reach past the output's bottom or right edge go through `tile` (m_h x m_w x
// F) and only their valid pixels are copied.
template <typename T>
void transform_outputs(T* y, const T* m, const T* bias, const Plan<T>& plan, int64_t q0,
                       int64_t count, T* tile, T* scratch) {
  const Conv2dShape& s = plan.s;
  const int64_t f = s.filters, position_step = plan.block * f, row_step = s.out_w * f;
  for (int64_t p = 0; p < count; ++p) {
    int64_t n, oh0, ow0;
    plan.tile_origin(q0 + p, &n, &oh0, &ow0);
    const int64_t rows = std::min<int64_t>(plan.tile_h, s.out_h - oh0);
    const int64_t cols = std::min<int64_t>(plan.tile_w, s.out_w - ow0);
    T* corner = y + ((n * s.out_h + oh0) * s.out_w + ow0) * f;
    const bool whole = rows == plan.tile_h && cols == plan.tile_w;
    const Grid<T> out = whole ? Grid<T>{corner, row_step, f}
                              : Grid<T>{tile, plan.tile_w * f, f};
    plan.transform_2d(out, {m + p * f, kAlpha * position_step, position_step}, plan.at_h,
                      plan.at_w, f, scratch);
    for (int64_t i = 0; i < rows; ++i) {
      T* dst = corner + i * row_step;
      if (!whole) std::copy(tile + i * plan.tile_w * f, tile + (i * plan.tile_w + cols) * f, dst);
      if (!bias) continue;
      for (int64_t j = 0; j < cols; ++j) {
        for (int64_t k = 0; k < f; ++k) dst[j * f + k] += bias[k];
      }
    }
  }
}

// tile (tile_h, tile_w, F) = d_y of output tile q, zeros past the output's bottom/right edge.
template <typename T>
void gather_output_tile(T* tile, const T* d_output, const Plan<T>& plan, int64_t q) {
  const Conv2dShape& s = plan.s;
  int64_t n, oh0, ow0;
  plan.tile_origin(q, &n, &oh0, &ow0);
  const int64_t f = s.filters, row_length = plan.tile_w * f;
  const int64_t valid = std::min<int64_t>(plan.tile_w, s.out_w - ow0) * f;
  for (int64_t a = 0; a < plan.tile_h; ++a) {
    T* row = tile + a * row_length;
    if (oh0 + a >= s.out_h) {
      std::fill(row, row + row_length, T(0));
      continue;
    }
    const T* src = d_output + ((n * s.out_h + oh0 + a) * s.out_w + ow0) * f;
    std::copy(src, src + valid, row);
    std::fill(row + valid, row + row_length, T(0));
  }
}

// dy (36 positions x block x F, position stride block * F) = G_h' d_y G_w'^T of the output
// tiles [q0, q0 + count): the d_y tiles as the "filters" of F(r, m).
template <typename T>
void transform_d_outputs(T* dy, const T* d_output, const Plan<T>& plan, int64_t q0,
                         int64_t count, T* tile, T* scratch) {
  const int64_t f = plan.s.filters, position_step = plan.block * f;
  for (int64_t p = 0; p < count; ++p) {
    gather_output_tile(tile, d_output, plan, q0 + p);
    plan.transform_2d({dy + p * f, kAlpha * position_step, position_step},
                      {tile, plan.tile_w * f, f}, plan.g_dy_h, plan.g_dy_w, f, scratch);
  }
}

// Values of the largest scratch a 2-D transform of this plan needs (alpha x alpha vectors of
// the widest channel count).
template <typename T>
int64_t scratch_size(const Plan<T>& plan) {
  return kPositions * std::max(plan.s.in_c, plan.s.filters);
}

}  // namespace

bool winograd_applies(const Conv2dShape& s) {
  const bool sides = s.kernel_h >= 2 && s.kernel_h <= kAlpha - 1 && s.kernel_w >= 2 &&
                     s.kernel_w <= kAlpha - 1;
  return sides && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 &&
         s.dilation_w == 1 && s.in_c >= 8 && s.filters >= 8 && s.out_pixels() > 0;
}

template <typename T>
void winograd_forward(T* y, const T* x, const T* kernel, const T* bias, const Conv2dShape& s) {
  const Plan<T> plan(s);
  const int64_t c = s.in_c, f = s.filters, block = plan.block;
  const auto u = transform_kernel(kernel, plan);
  std::vector<PackedB<T>> packed_u;  // each position's (C, F) matrix packed once for all blocks
  packed_u.reserve(kPositions);
  for (int position = 0; position < kPositions; ++position) {
    packed_u.emplace_back(u.get() + position * c * f, f, false, c, f);
  }
#pragma omp parallel if (parallel_worth_it(plan.blocks()))
  {
    auto v = uninitialized<T>(kPositions * block * c);
    auto m = uninitialized<T>(kPositions * block * f);
    auto tile = uninitialized<T>(kPositions * std::max(c, f));
    auto scratch = uninitialized<T>(scratch_size(plan));
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < plan.blocks(); ++b) {
      const int64_t q0 = b * block, count = std::min(block, plan.tiles - q0);
      transform_inputs(v.get(), x, plan, q0, count, tile.get(), scratch.get());
      for (int position = 0; position < kPositions; ++position) {
        gemm_packed<T>(m.get() + position * block * f, f, v.get() + position * block * c, c,
                       false, packed_u[position], count, T(1), T(0));
      }
      transform_outputs(y, m.get(), bias, plan, q0, count, tile.get(), scratch.get());
    }
  }
}

template <typename T>
void winograd_backward_kernel(T* d_kernel, const T* d_output, const T* x, const Conv2dShape& s) {
  const Plan<T> plan(s);
  const int64_t c = s.in_c, f = s.filters, block = plan.block, blocks = plan.blocks();
  // The 36 transformed kernel gradients W[xi,nu] (C, F) are sums over all tiles.  Blocks are
  // grouped in chunks fixed by the shape; each chunk sums its blocks in order into its own
  // partial, and the partials are added in chunk order: the same result for any thread count.
  const int64_t matrices = kPositions * c * f;
  const int64_t max_chunks = std::clamp<int64_t>(
      kPartialBytes / (matrices * int64_t(sizeof(T))), 1, kMaxChunks);
  const Chunks chunks = chunks_of(blocks, max_chunks);
  struct Scratch {
    std::unique_ptr<T[]> v, dy, tile, transform;
  };
  const auto make_scratch = [&] {
    return Scratch{uninitialized<T>(kPositions * block * c),
                   uninitialized<T>(kPositions * block * f),
                   uninitialized<T>(kPositions * std::max(c, f)),
                   uninitialized<T>(scratch_size(plan))};
  };
  auto transformed = uninitialized<T>(matrices);
  T* w = transformed.get();
  sum_chunks_in_order(w, matrices, chunks.count, make_scratch,
                      [&](int64_t chunk, T* sum, Scratch& scratch) {
    const int64_t first = chunk * chunks.per_chunk;
    const int64_t last = std::min(blocks, first + chunks.per_chunk);
    for (int64_t b = first; b < last; ++b) {
      const int64_t q0 = b * block, count = std::min(block, plan.tiles - q0);
      transform_inputs(scratch.v.get(), x, plan, q0, count, scratch.tile.get(),
                       scratch.transform.get());
      transform_d_outputs(scratch.dy.get(), d_output, plan, q0, count, scratch.tile.get(),
                          scratch.transform.get());
      for (int position = 0; position < kPositions; ++position) {
        // W (C, F) += V^T (C, tiles) . DY (tiles, F); the chunk's first block sets it.
        gemm<T>(sum + position * c * f, f, scratch.v.get() + position * block * c, c, true,
                scratch.dy.get() + position * block * f, f, false, c, f, count, T(1),
                b == first ? T(0) : T(1));
      }
    }
  });
  // d_kernel (kh, kw, C, F) = A'_h^T W A'_w, back from the transformed domain.
  const int64_t matrix = c * f;
  auto scratch = uninitialized<T>(s.kernel_h * kAlpha * matrix);
  plan.transform_2d({d_kernel, s.kernel_w * matrix, matrix}, {w, kAlpha * matrix, matrix},
                    plan.at_kernel_h, plan.at_kernel_w, matrix, scratch.get());
}

template void winograd_backward_kernel<float>(float*, const float*, const float*,
                                              const Conv2dShape&);
template void winograd_backward_kernel<double>(double*, const double*, const double*,
                                               const Conv2dShape&);
template void winograd_forward<float>(float*, const float*, const float*, const float*,
                                      const Conv2dShape&);
template void winograd_forward<double>(double*, const double*, const double*, const double*,
                                       const Conv2dShape&);

}  // namespace chalknet

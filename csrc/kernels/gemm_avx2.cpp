// gemm_avx2.cpp: the AVX2 + FMA GEMM microkernels (compiled with -mavx2 -mfma and only this
// file).
//
// Register block: 6 rows x 2 vectors (6 x 16 floats or 6 x 8 doubles), 12 ymm accumulators.
// Each step p loads the two vectors of the packed B row, broadcasts the 6 values of the packed
// A column and issues 12 fused multiply-adds:  acc[i][v] += A[i, p] * B[p, v*L : (v+1)*L];
// then C tile = alpha * acc + beta * C.  The microkernel template is gemm_micro.inc, the loop
// nest and packing gemm_driver.h, both compiled here with these flags.
#include <immintrin.h>

#include <utility>

#include "conv_direct.h"
#include "gemm_driver.h"

namespace chalknet::gemm_detail {
namespace {

struct Avx2Float {
  using T = float;
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kPrefetchB = 0;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const T* p) { return _mm256_loadu_ps(p); }
  static Vec splat(T x) { return _mm256_set1_ps(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static void store(T* p, Vec v) { _mm256_storeu_ps(p, v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

struct Avx2Double {
  using T = double;
  using Vec = __m256d;
  static constexpr int kLanes = 4;
  static constexpr int kPrefetchB = 0;
  static Vec zero() { return _mm256_setzero_pd(); }
  static Vec load(const T* p) { return _mm256_loadu_pd(p); }
  static Vec splat(T x) { return _mm256_set1_pd(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_pd(a, b, c); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_pd(a, b); }
  static Vec add(Vec a, Vec b) { return _mm256_add_pd(a, b); }
  static void store(T* p, Vec v) { _mm256_storeu_pd(p, v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

#include "gemm_micro.inc"

struct MicroF32 : Micro<Avx2Float, 6, 2> {
  static constexpr int64_t kMC = 96, kKC = 512, kNC = 1024;
};
struct MicroF64 : Micro<Avx2Double, 6, 2> {
  static constexpr int64_t kMC = 96, kKC = 512, kNC = 1024;
};

#include "conv_direct_micro.inc"

using DirectF32 = DirectConv<Avx2Float, 6, 2>;
using DirectF64 = DirectConv<Avx2Double, 6, 2>;

}  // namespace

const Kernel<float> kAvx2F32 = Driver<MicroF32>::kernel("avx2");
const Kernel<double> kAvx2F64 = Driver<MicroF64>::kernel("avx2");

}  // namespace chalknet::gemm_detail

#define CHALKNET_CONV_DIRECT_ISA avx2
#include "conv_direct_export.inc"

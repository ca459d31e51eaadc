// gemm_avx512.cpp: the AVX-512 GEMM microkernels (compiled with -mavx512f -mavx512dq
// -mavx512bw -mavx512vl -mfma and only this file).
//
// Register block: 12 rows x 2 vectors (12 x 32 floats or 12 x 16 doubles), 24 zmm accumulators.
// Each step p loads the two vectors of the packed B row, broadcasts the 12 values of the
// packed A column one at a time and issues 24 fused multiply-adds:
//     acc[i][v] += A[i, p] * B[p, v*L : (v+1)*L]
// Then C tile = alpha * acc + beta * C (rounded multiply, multiply, add; C unread when beta == 0).
// The B panel is prefetched 16 steps (2 KiB) ahead: when B comes from L3 (an RNN's recurrent
// kernel of 512 x 2048 floats) that made the product 5-8 % faster on the Sapphire Rapids
// machine, and no slower from L2 (the AVX2 kernel, one cache line per step, lost 3-5 %).
// Edge tiles use the same template instantiated for fewer rows or one vector.  The loop nest
// around it and the packing are gemm_driver.h, compiled here with these flags.
#include <immintrin.h>

#include <utility>

#include "conv_direct.h"
#include "gemm_driver.h"

namespace chalknet::gemm_detail {
namespace {

struct Avx512Float {
  using T = float;
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kPrefetchB = 16;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const T* p) { return _mm512_loadu_ps(p); }
  static Vec splat(T x) { return _mm512_set1_ps(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static void store(T* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

struct Avx512Double {
  using T = double;
  using Vec = __m512d;
  static constexpr int kLanes = 8;
  static constexpr int kPrefetchB = 16;
  static Vec zero() { return _mm512_setzero_pd(); }
  static Vec load(const T* p) { return _mm512_loadu_pd(p); }
  static Vec splat(T x) { return _mm512_set1_pd(x); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_pd(a, b); }
  static Vec add(Vec a, Vec b) { return _mm512_add_pd(a, b); }
  static void store(T* p, Vec v) { _mm512_storeu_pd(p, v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

#include "gemm_micro.inc"

struct MicroF32 : Micro<Avx512Float, 12, 2> {
  static constexpr int64_t kMC = 96, kKC = 1024, kNC = 1024;
};
struct MicroF64 : Micro<Avx512Double, 12, 2> {
  static constexpr int64_t kMC = 96, kKC = 512, kNC = 1024;
};

#include "conv_direct_micro.inc"

using DirectF32 = DirectConv<Avx512Float, 12, 2>;
using DirectF64 = DirectConv<Avx512Double, 12, 2>;

}  // namespace

const Kernel<float> kAvx512F32 = Driver<MicroF32>::kernel("avx512");
const Kernel<double> kAvx512F64 = Driver<MicroF64>::kernel("avx512");

}  // namespace chalknet::gemm_detail

#define CHALKNET_CONV_DIRECT_ISA avx512
#include "conv_direct_export.inc"

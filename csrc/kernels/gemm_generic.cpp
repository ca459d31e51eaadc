// gemm_generic.cpp: the portable GEMM microkernels (plain C++, compiled with the default flags
// of the target: SSE2 on x86-64, NEON-free scalar or auto-vectorised code elsewhere).
//
// Register block: 4 rows x 2 "vectors" of 4 floats (or 2 doubles), i.e. 4 x 8 floats or 4 x 4
// doubles, held in small fixed arrays the compiler keeps in registers.  The arithmetic is that
// of gemm_micro.inc without fusion: acc += A[i, p] * B[p, j] (a rounded multiply, then an add),
// then C tile = alpha * acc + beta * C.  The loop nest and packing are gemm_driver.h.
#include <utility>

#include "conv_direct.h"
#include "gemm_driver.h"

namespace chalknet::gemm_detail {
namespace {

// A fixed-size group of kLanes values standing in for a SIMD register.
template <typename Scalar, int Lanes>
struct Lanes_ {
  using T = Scalar;
  struct Vec {
    T lane[Lanes];
  };
  static constexpr int kLanes = Lanes;
  static constexpr int kPrefetchB = 0;
  static Vec zero() { return splat(T(0)); }
  static Vec load(const T* p) {
    Vec v;
    for (int l = 0; l < Lanes; ++l) v.lane[l] = p[l];
    return v;
  }
  static Vec splat(T x) {
    Vec v;
    for (int l = 0; l < Lanes; ++l) v.lane[l] = x;
    return v;
  }
  static Vec fma(Vec a, Vec b, Vec c) {
    for (int l = 0; l < Lanes; ++l) c.lane[l] += a.lane[l] * b.lane[l];
    return c;
  }
  static Vec mul(Vec a, Vec b) {
    for (int l = 0; l < Lanes; ++l) a.lane[l] *= b.lane[l];
    return a;
  }
  static Vec add(Vec a, Vec b) {
    for (int l = 0; l < Lanes; ++l) a.lane[l] += b.lane[l];
    return a;
  }
  static void prefetch(const T*) {}
  static void store(T* p, Vec v) {
    for (int l = 0; l < Lanes; ++l) p[l] = v.lane[l];
  }
};

#include "gemm_micro.inc"

struct MicroF32 : Micro<Lanes_<float, 4>, 4, 2> {
  static constexpr int64_t kMC = 128, kKC = 256, kNC = 2048;
};
struct MicroF64 : Micro<Lanes_<double, 2>, 4, 2> {
  static constexpr int64_t kMC = 64, kKC = 256, kNC = 2048;
};

#include "conv_direct_micro.inc"

using DirectF32 = DirectConv<Lanes_<float, 4>, 4, 2>;
using DirectF64 = DirectConv<Lanes_<double, 2>, 4, 2>;

}  // namespace

const Kernel<float> kGenericF32 = Driver<MicroF32>::kernel("generic");
const Kernel<double> kGenericF64 = Driver<MicroF64>::kernel("generic");

}  // namespace chalknet::gemm_detail

#define CHALKNET_CONV_DIRECT_ISA generic
#include "conv_direct_export.inc"

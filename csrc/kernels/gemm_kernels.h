// gemm_kernels.h: what gemm.cpp needs from each instruction-set file (gemm_generic.cpp,
// gemm_avx2.cpp, gemm_avx512.cpp) and the run-time choice between them.
//
// Each ISA file fills one constant Kernel<T> per dtype: its register-block and cache-block sizes
// and a function that computes one rectangle of C on the calling thread, with packing
// workspaces provided by the caller.  gemm.cpp owns the threads and the workspaces; the ISA
// files own the loops and the arithmetic.  The Kernel objects are constant data (no code runs
// to build them), so merely linking the AVX-512 file is safe on a CPU without AVX-512.
#pragma once
#include <cstdint>

#include "cpu.h"

namespace chalknet::gemm_detail {

// C = alpha * op(A) * op(B) + beta * C, row-major (see gemm.h).  When b_packed is set, op(B)
// is read from it (the layout of Kernel::pack_b) and b, ldb, trans_b are unused.
template <typename T>
struct Problem {
  T* c;
  int64_t ldc;
  const T* a;
  int64_t lda;
  bool trans_a;
  const T* b;
  int64_t ldb;
  bool trans_b;
  int64_t m, n, k;
  T alpha, beta;
  const T* b_packed = nullptr;
};

// Register block mr x nr (the microkernel's tile of C) and cache blocks: an mc x kc block of A
// is packed per thread (meant for L2), a kc x nc panel of B per thread (meant for L3).
struct Blocking {
  int64_t mr, nr, mc, kc, nc;
};

template <typename T>
struct Kernel {
  const char* isa;
  Blocking blocking;
  // Computes C[row0:row1, col0:col1] of the problem on the calling thread.  a_pack holds
  // mc*kc and b_pack kc*nc elements, both 64-byte aligned.  The k reduction is cut into the
  // same kc blocks for any rectangle, so an element's value does not depend on how C is split.
  void (*region)(const Problem<T>& problem, int64_t row0, int64_t row1, int64_t col0,
                 int64_t col1, T* a_pack, T* b_pack);
  // Packs all of the problem's op(B) (k x n) into `packed` (packed_b_size(k, n) elements) as
  // the region loops would pack it block by block, so that a problem with b_packed set runs
  // the same arithmetic on the same panels without packing.
  void (*pack_b)(T* packed, const Problem<T>& problem);
};

// Elements of a whole packed op(B) (k x n): the columns rounded up to whole nr panels.
inline int64_t packed_b_size(const Blocking& blocking, int64_t k, int64_t n) {
  return (n + blocking.nr - 1) / blocking.nr * blocking.nr * k;
}

// Defined in the ISA files; the AVX ones exist only in x86-64 builds (CHALKNET_HAVE_AVX2/512).
extern const Kernel<float> kGenericF32;
extern const Kernel<double> kGenericF64;
extern const Kernel<float> kAvx2F32;
extern const Kernel<double> kAvx2F64;
extern const Kernel<float> kAvx512F32;
extern const Kernel<double> kAvx512F64;

}  // namespace chalknet::gemm_detail

namespace chalknet {

// The instruction-set path gemm runs now (detect_isa() at load time unless lowered).
Isa gemm_isa();
// True when the path was compiled into this build and the CPU and OS support it.
bool gemm_isa_available(Isa isa);
// Switch the path (for CHALKNET_ISA and the tests).  An unavailable request changes nothing and
// returns false.  Not meant to race with running gemm calls.
bool set_gemm_isa(Isa isa);

}  // namespace chalknet

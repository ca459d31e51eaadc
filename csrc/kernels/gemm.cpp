// gemm.cpp: C = alpha * op(A) * op(B) + beta * C: the instruction-set dispatch, the threads and
// the packing workspaces around the per-ISA kernels (gemm_generic.cpp, gemm_avx2.cpp,
// gemm_avx512.cpp; their loop nest is described in gemm_driver.h).
//
// Dispatch.  A table of kernel pointers is filled when the library loads, from detect_isa()
// (CPUID plus the OS's XGETBV check), always with the portable kernels as the fallback;
// set_gemm_isa() may switch to another compiled and supported path (CHALKNET_ISA, the tests).
//
// Threads.  C is cut into a grid of rectangles, one per thread, on microkernel-tile boundaries
// (never the k reduction); each thread runs the whole blocked loop nest on its rectangle with
// its own packing buffers.  Every element is therefore computed by the same sequence of
// operations for any thread count, so results are bit-identical.  Small products (RNN steps)
// and calls made from inside a parallel region run on the calling thread, with no fork; so do
// mid-size ones when the team sleeps and waking it costs more than it saves (team.h).
//
// Pre-packed B.  PackedB packs all of op(B) once (Kernel::pack_b, the panels the loop nest
// would pack block by block); gemm_packed runs the same loops on those panels, on the kernel
// the matrix was packed for, so it equals gemm bit for bit.
//
// Workspaces.  Each thread keeps its two packing buffers (thread_local, 64-byte aligned) and
// reuses them across calls; they grow to the largest block size asked of them.  Nothing is
// shared between threads, so several Python threads may call gemm at once.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "cpu.h"
#include "gemm_kernels.h"
#include "team.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace chalknet {
namespace {

using gemm_detail::Kernel;
using gemm_detail::Problem;

// Products with fewer multiply-adds than this run on the calling thread: a fork/join costs a
// few microseconds, about what 2^18 multiply-adds take on one AVX-512 core.
constexpr int64_t kSerialWork = int64_t(1) << 18;

// ---- dispatch ----------------------------------------------------------------------------

bool compiled(Isa isa) {
  switch (isa) {
#if defined(CHALKNET_HAVE_AVX512)
    case Isa::Avx512: return true;
#endif
#if defined(CHALKNET_HAVE_AVX2)
    case Isa::Avx2: return true;
#endif
    case Isa::Generic: return true;
    default: return false;
  }
}

template <typename T>
const Kernel<T>* kernel_for(Isa isa);

template <>
const Kernel<float>* kernel_for<float>(Isa isa) {
  switch (isa) {
#if defined(CHALKNET_HAVE_AVX512)
    case Isa::Avx512: return &gemm_detail::kAvx512F32;
#endif
#if defined(CHALKNET_HAVE_AVX2)
    case Isa::Avx2: return &gemm_detail::kAvx2F32;
#endif
    default: return &gemm_detail::kGenericF32;
  }
}

template <>
const Kernel<double>* kernel_for<double>(Isa isa) {
  switch (isa) {
#if defined(CHALKNET_HAVE_AVX512)
    case Isa::Avx512: return &gemm_detail::kAvx512F64;
#endif
#if defined(CHALKNET_HAVE_AVX2)
    case Isa::Avx2: return &gemm_detail::kAvx2F64;
#endif
    default: return &gemm_detail::kGenericF64;
  }
}

// The best compiled path the CPU supports.
Isa best_available() {
  for (Isa isa : {Isa::Avx512, Isa::Avx2}) {
    if (gemm_isa_available(isa)) return isa;
  }
  return Isa::Generic;
}

// The dispatch table: one index, read by every call (atomic, so the tests may switch it).
std::atomic<int> g_isa{static_cast<int>(best_available())};

// ---- workspaces --------------------------------------------------------------------------

// A growable 64-byte-aligned byte buffer.
class AlignedBuffer {
 public:
  void* get(std::size_t bytes) {
    if (bytes > capacity_) {
      storage_.reset(new unsigned char[bytes + kAlign]);
      capacity_ = bytes;
    }
    const auto address = reinterpret_cast<std::uintptr_t>(storage_.get());
    return storage_.get() + (kAlign - address % kAlign) % kAlign;
  }

 private:
  static constexpr std::size_t kAlign = 64;
  std::unique_ptr<unsigned char[]> storage_;
  std::size_t capacity_ = 0;
};

struct Workspace {
  AlignedBuffer a_pack, b_pack;
};

thread_local Workspace t_workspace;

// ---- threads -----------------------------------------------------------------------------

int64_t ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }

// Grid of threads over C: grid_rows x grid_cols rectangles (of whole tiles) for `threads`
// threads, chosen to balance the largest rectangle, then to keep rectangles square-ish (less
// packing per multiply-add).
struct Grid {
  int64_t rows, cols;
};

Grid choose_grid(int64_t row_tiles, int64_t col_tiles, int threads) {
  Grid best{1, 1};
  int64_t best_load = -1, best_edge = 0;
  for (int64_t rows = 1; rows <= threads; ++rows) {
    if (threads % rows != 0) continue;
    const int64_t cols = threads / rows;
    if (rows > row_tiles || cols > col_tiles) continue;
    const int64_t load = ceil_div(row_tiles, rows) * ceil_div(col_tiles, cols);
    const int64_t edge = ceil_div(row_tiles, rows) + ceil_div(col_tiles, cols);
    if (best_load < 0 || load < best_load || (load == best_load && edge < best_edge)) {
      best = {rows, cols};
      best_load = load;
      best_edge = edge;
    }
  }
  return best;
}

template <typename T>
void run_region(const Kernel<T>& kernel, const Problem<T>& problem, int64_t row0, int64_t row1,
                int64_t col0, int64_t col1) {
  const auto& block = kernel.blocking;
  Workspace& ws = t_workspace;
  T* a_pack = static_cast<T*>(ws.a_pack.get(sizeof(T) * block.mc * block.kc));
  T* b_pack = static_cast<T*>(ws.b_pack.get(sizeof(T) * block.kc * block.nc));
  kernel.region(problem, row0, row1, col0, col1, a_pack, b_pack);
}

// C = beta * C (alpha == 0 or k == 0: A and B are not read; beta == 0 writes zeros).
template <typename T>
void scale(T* c, int64_t ldc, int64_t m, int64_t n, T beta) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
  }
}

// The problem on `kernel`, split among the usable threads (see the top of the file).
template <typename T>
void run(const Kernel<T>& kernel, const Problem<T>& problem) {
  const int64_t m = problem.m, n = problem.n, k = problem.k;
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || problem.alpha == T(0)) {
    scale(problem.c, problem.ldc, m, n, problem.beta);
    return;
  }
  const int64_t mr = kernel.blocking.mr, nr = kernel.blocking.nr;
  const int64_t row_tiles = ceil_div(m, mr), col_tiles = ceil_div(n, nr);
  const int64_t multiply_adds = m * n * k;
  // double runs at half float's rate
  const TeamChoice team(multiply_adds >= kSerialWork,
                        multiply_adds * int64_t(sizeof(T)) / 4 / kMultiplyAddsPerNs);
  const Grid grid = choose_grid(row_tiles, col_tiles, team.parallel ? get_num_threads() : 1);
  if (grid.rows * grid.cols == 1) {
    run_region(kernel, problem, 0, m, 0, n);
    return;
  }
#if defined(_OPENMP)
  const int64_t rectangles = grid.rows * grid.cols;
#pragma omp parallel num_threads(static_cast<int>(rectangles))
  // One rectangle per thread; a smaller team than asked for (OMP_THREAD_LIMIT, OMP_DYNAMIC)
  // takes the rest in turn, so every rectangle is computed whatever the team.
  for (int64_t id = omp_get_thread_num(); id < rectangles; id += omp_get_num_threads()) {
    const int64_t gr = id / grid.cols, gc = id % grid.cols;
    // Rectangle (gr, gc): a balanced share of the tiles in each direction.
    const int64_t row0 = row_tiles * gr / grid.rows * mr;
    const int64_t row1 = std::min(m, row_tiles * (gr + 1) / grid.rows * mr);
    const int64_t col0 = col_tiles * gc / grid.cols * nr;
    const int64_t col1 = std::min(n, col_tiles * (gc + 1) / grid.cols * nr);
    if (row0 < row1 && col0 < col1) run_region(kernel, problem, row0, row1, col0, col1);
  }
#endif
}

}  // namespace

bool gemm_isa_available(Isa isa) {
  return compiled(isa) && static_cast<int>(isa) <= static_cast<int>(detect_isa());
}

Isa gemm_isa() { return static_cast<Isa>(g_isa.load(std::memory_order_relaxed)); }

bool set_gemm_isa(Isa isa) {
  if (!gemm_isa_available(isa)) return false;
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

template <typename T>
void gemm(T* c, int64_t ldc, const T* a, int64_t lda, bool trans_a, const T* b, int64_t ldb,
          bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, T beta) {
  const Problem<T> problem{c, ldc, a, lda, trans_a, b, ldb, trans_b, m, n, k, alpha, beta};
  run(*kernel_for<T>(gemm_isa()), problem);
}

template <typename T>
void PackedB<T>::Free::operator()(T* p) const {
  ::operator delete(p, std::align_val_t{64});
}

template <typename T>
int64_t PackedB<T>::storage_size(int64_t k, int64_t n) {
  const auto& blocking = kernel_for<T>(gemm_isa())->blocking;
  return std::max<int64_t>(gemm_detail::packed_b_size(blocking, std::max<int64_t>(k, 0),
                                                      std::max<int64_t>(n, 0)), 1);
}

template <typename T>
PackedB<T>::PackedB(const T* b, int64_t ldb, bool trans_b, int64_t k, int64_t n)
    : kernel_(kernel_for<T>(gemm_isa())), k_(std::max<int64_t>(k, 0)),
      n_(std::max<int64_t>(n, 0)),
      owned_(static_cast<T*>(::operator new(sizeof(T) * storage_size(k, n),
                                            std::align_val_t{64}))),
      data_(owned_.get()) {
  pack(b, ldb, trans_b);
}

template <typename T>
PackedB<T>::PackedB(const T* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, T* storage)
    : kernel_(kernel_for<T>(gemm_isa())), k_(std::max<int64_t>(k, 0)),
      n_(std::max<int64_t>(n, 0)), data_(storage) {
  pack(b, ldb, trans_b);
}

template <typename T>
void PackedB<T>::pack(const T* b, int64_t ldb, bool trans_b) {
  const Problem<T> problem{nullptr, 0, nullptr, 0, false, b, ldb, trans_b, 0, n_, k_, T(1), T(0)};
  if (k_ > 0 && n_ > 0) kernel_->pack_b(data_, problem);
}

template <typename T>
void gemm_packed(T* c, int64_t ldc, const T* a, int64_t lda, bool trans_a, const PackedB<T>& b,
                 int64_t m, T alpha, T beta) {
  Problem<T> problem{c, ldc, a, lda, trans_a, nullptr, 0, false, m, b.n(), b.k(), alpha, beta};
  problem.b_packed = b.data();
  run(b.kernel(), problem);
}

template void gemm<float>(float*, int64_t, const float*, int64_t, bool, const float*, int64_t,
                          bool, int64_t, int64_t, int64_t, float, float);
template void gemm<double>(double*, int64_t, const double*, int64_t, bool, const double*, int64_t,
                           bool, int64_t, int64_t, int64_t, double, double);
template class PackedB<float>;
template class PackedB<double>;
template void gemm_packed<float>(float*, int64_t, const float*, int64_t, bool,
                                 const PackedB<float>&, int64_t, float, float);
template void gemm_packed<double>(double*, int64_t, const double*, int64_t, bool,
                                  const PackedB<double>&, int64_t, double, double);

}  // namespace chalknet

// gemm_driver.h: the loops around a packed microkernel (the GotoBLAS/BLIS loop nest), included
// by each instruction-set file and compiled with that file's flags.
//
// For one rectangle C[row0:row1, col0:col1] on one thread:
//
//   for jc over columns in steps of nc:                   B panel, kc x nc  (L3)
//     for pc over the k reduction in steps of kc:
//       pack op(B)[pc:pc+kc, jc:jc+nc] into b_pack as nr-wide column panels
//       for ic over rows in steps of mc:                  A block, mc x kc  (L2)
//         pack op(A)[ic:ic+mc, pc:pc+kc] into a_pack as mr-tall row panels
//         for jr over the B panel in steps of nr:         one B micro-panel, kc x nr (L1)
//           for ir over the A block in steps of mr:
//             C tile (mr x nr) = alpha * A panel . B micro-panel + (pc == 0 ? beta : 1) * C tile
//
// When a B micro-panel does not fit in half of L1 but the B panel fits in half of L2, the two
// innermost loops swap (ir outside, jr inside): one A micro-panel stays in L1 while the B
// panel streams from L2 (rows_outside).  Either order computes every tile the same way, so
// results do not depend on it.
//
// Packed layouts: an A panel stores, for each p, the mr values A[i, p] of its rows side by side
// (a_panel[p * mr + i]); a B panel stores, for each p, its columns side by side
// (b_panel[p * width + j]).  The transposes of A and B are absorbed here: packing reads
// whichever way the caller's matrix is stored, the microkernel never knows.  Tiles at the
// bottom edge use a microkernel instantiated for fewer rows; tiles at the right edge run on a
// panel rounded up to whole vectors, into a small buffer, and only the valid columns are
// combined into C with the same arithmetic.  So every element of C is computed the same way,
// whatever tile and whatever thread it falls in: the result is independent of the thread count.
//
// With a pre-packed B (Problem::b_packed, filled once by pack_whole_b) the same loops run on
// the same panels without the packing step, so the result is bit-identical to the plain call.
//
// The kc blocks are balanced (k = 784 with kc = 256 gives four blocks of 196, not a last block
// of 16) and depend only on k.  Everything here is a static member of Driver<Micro>, and Micro
// is a type private to one ISA file, so no function compiled with one ISA's flags can be picked
// by the linker for another file (no shared inline symbols).
#pragma once
#include <cstdint>

#include "gemm_kernels.h"

namespace chalknet::gemm_detail {

// Where the microkernel reads A: the packed panel, or the caller's matrix (A[i, p] at
// a[i * lda + p] for kRowsA, a[p * lda + i] for kColsA).
enum AMode { kPackedA = 0, kRowsA = 1, kColsA = 2 };

// Micro provides:
//   using T; kMR, kNR (register block), kLanes (elements per vector; panels are rounded up to
//   it), kMC, kKC, kNC (cache blocks, multiples of kMR / kNR);
//   static void tile(int a_mode, int rows, int vectors, int64_t kc, const T* a, int64_t lda,
//                    const T* b_panel, T* c, int64_t ldc, T alpha, T beta)
//     c (rows x vectors*kLanes) = alpha * a_panel . b_panel + beta * c, never reading c when
//     beta == 0; the b_panel is vectors*kLanes wide.  Arithmetic per element: a chain of
//     multiply-adds over p in order, then alpha*acc + beta*c (rounded multiply, multiply, add).
template <class Micro>
struct Driver {
  using T = typename Micro::T;
  static constexpr int64_t kMR = Micro::kMR, kNR = Micro::kNR, kLanes = Micro::kLanes;

  static int64_t min(int64_t x, int64_t y) { return x < y ? x : y; }
  static int64_t round_up(int64_t x, int64_t step) { return (x + step - 1) / step * step; }

  // Block length for a loop of `total` in blocks of at most `limit`, balanced and rounded up
  // to `step`.
  static int64_t balanced(int64_t total, int64_t limit, int64_t step) {
    const int64_t blocks = (total + limit - 1) / limit;
    return min(limit, round_up((total + blocks - 1) / blocks, step));
  }

  static void fill_zero(T* data, int64_t count) {
    for (int64_t i = 0; i < count; ++i) data[i] = T(0);
  }

  // a_pack: the rows [r0, r0 + rows) x k range [p0, p0 + kc) of op(A) as mr-tall panels; the
  // last panel is padded with zero rows.
  static void pack_a(T* a_pack, const Problem<T>& g, int64_t r0, int64_t rows, int64_t p0,
                     int64_t kc) {
    for (int64_t ir = 0; ir < rows; ir += kMR) {
      T* panel = a_pack + ir * kc;
      const int64_t panel_rows = min(kMR, rows - ir);
      if (panel_rows < kMR) fill_zero(panel, kMR * kc);
      if (g.trans_a) {  // A[i, p] = a[p * lda + i]: each p is a contiguous run of rows
        const T* src = g.a + p0 * g.lda + r0 + ir;
        for (int64_t p = 0; p < kc; ++p) {
          for (int64_t i = 0; i < panel_rows; ++i) panel[p * kMR + i] = src[p * g.lda + i];
        }
      } else {  // A[i, p] = a[i * lda + p]: each row is contiguous in p
        for (int64_t i = 0; i < panel_rows; ++i) {
          const T* src = g.a + (r0 + ir + i) * g.lda + p0;
          for (int64_t p = 0; p < kc; ++p) panel[p * kMR + i] = src[p];
        }
      }
    }
  }

  // b_pack: the k range [p0, p0 + kc) x columns [c0, c0 + cols) of op(B) as nr-wide panels;
  // the last panel is as wide as its columns rounded up to whole vectors, padded with zeros.
  static void pack_b(T* b_pack, const Problem<T>& g, int64_t p0, int64_t kc, int64_t c0,
                     int64_t cols) {
    for (int64_t jr = 0; jr < cols; jr += kNR) {
      const int64_t panel_cols = min(kNR, cols - jr);
      const int64_t width = round_up(panel_cols, kLanes);
      T* panel = b_pack + jr * kc;
      if (panel_cols < width) fill_zero(panel, width * kc);
      if (g.trans_b) {  // B[p, j] = b[j * ldb + p]: each column is contiguous in p
        for (int64_t j = 0; j < panel_cols; ++j) {
          const T* src = g.b + (c0 + jr + j) * g.ldb + p0;
          for (int64_t p = 0; p < kc; ++p) panel[p * width + j] = src[p];
        }
      } else {  // B[p, j] = b[p * ldb + j]: each p is a contiguous run of columns
        // A plain loop, not memcpy: for runs of a few vectors the compiler's inline
        // `rep movs` is several times slower than vector moves.
        const T* src = g.b + p0 * g.ldb + c0 + jr;
        for (int64_t p = 0; p < kc; ++p) {
          T* dst = panel + p * width;
          const T* src_p = src + p * g.ldb;
          for (int64_t j = 0; j < panel_cols; ++j) dst[j] = src_p[j];
        }
      }
    }
  }

  // C tile (rows x cols) at c; the B panel is round_up(cols, kLanes) wide; A is read as
  // a_mode says (packed panel, or the caller's matrix with leading dimension lda).
  static void tile(int a_mode, int64_t rows, int64_t cols, int64_t kc, const T* a, int64_t lda,
                   const T* b_panel, T* c, int64_t ldc, T alpha, T beta) {
    const int vectors = static_cast<int>((cols + kLanes - 1) / kLanes);
    const int r = static_cast<int>(rows);
    if (cols == vectors * kLanes) {
      Micro::tile(a_mode, r, vectors, kc, a, lda, b_panel, c, ldc, alpha, beta);
      return;
    }
    // Right edge: the whole vectors into a buffer (acc exactly: alpha 1, beta 0), then the
    // valid columns combined as the microkernel combines.
    alignas(64) T acc[kMR * kNR];
    Micro::tile(a_mode, r, vectors, kc, a, lda, b_panel, acc, kNR, T(1), T(0));
    for (int64_t i = 0; i < rows; ++i) {
      T* c_row = c + i * ldc;
      const T* acc_row = acc + i * kNR;
      if (beta == T(0)) {
        for (int64_t j = 0; j < cols; ++j) c_row[j] = alpha * acc_row[j];
      } else {
        for (int64_t j = 0; j < cols; ++j) c_row[j] = alpha * acc_row[j] + beta * c_row[j];
      }
    }
  }

  // Whether to pack the A block or let the microkernel read A in place.  Packing pays when the
  // block serves several column panels, except that rows of A read in place are just mr
  // sequential streams, as fast as a packed panel (measured on Zen 4) unless their stride is a
  // multiple of 4 KiB (then all mr rows fall in one L1 set and evict each other).  A column of
  // transposed A read in place touches a new cache line every step: packed whenever reused.
  static bool pack_a_pays(const Problem<T>& g, int64_t nc) {
    if (nc <= kNR) return false;  // one column panel: each A value is used once
    if (g.trans_a) return true;
    return nc > 4 * kNR && (g.lda * int64_t(sizeof(T))) % 4096 == 0;
  }

  // Whether the row tiles go outside the column panels.  The classical order (column panels
  // outside) keeps one B micro-panel (kc x nr) in L1 while every row tile meets it, and reads
  // the B block from L3 once.  When that micro-panel is too big for half of L1 it comes from
  // L2 anyway; then, if the whole B block (kc x nc) fits in half of L2, it is better to keep
  // each A micro-panel (mr x kc) in L1 instead and stream the block from L2.  On the
  // Sapphire Rapids VM (48 KiB L1, 2 MiB L2): 2240x256x2048 (an RNN's input projection)
  // 141-157 -> 176-188 GFLOP/s; 1024^3 (a 4 MB block) stays in the classical order, which
  // the other would slow by 12 %.
  static bool rows_outside(int64_t kc, int64_t nc) {
    const int64_t element = int64_t(sizeof(T));
    return kc * kNR * element > l1_cache_bytes() / 2 && kc * nc * element <= l2_cache_bytes() / 2;
  }

  static void region(const Problem<T>& g, int64_t row0, int64_t row1, int64_t col0,
                     int64_t col1, T* a_pack, T* b_pack) {
    const int64_t kc_step = balanced(g.k, Micro::kKC, 8);
    const int64_t nc_step = balanced(col1 - col0, Micro::kNC, kNR);
    const int64_t mc_step = balanced(row1 - row0, Micro::kMC, kMR);
    for (int64_t jc = col0; jc < col1; jc += nc_step) {
      const int64_t nc = min(nc_step, col1 - jc);
      for (int64_t pc = 0; pc < g.k; pc += kc_step) {
        const int64_t kc = min(kc_step, g.k - pc);
        const T beta = pc == 0 ? g.beta : T(1);
        const T* b_block = b_pack;
        if (g.b_packed) {
          b_block = g.b_packed + pc * round_up(g.n, kNR) + jc * kc;
        } else {
          pack_b(b_pack, g, pc, kc, jc, nc);
        }
        for (int64_t ic = row0; ic < row1; ic += mc_step) {
          const int64_t mc = min(mc_step, row1 - ic);
          const bool pack = pack_a_pays(g, nc);
          if (pack) pack_a(a_pack, g, ic, mc, pc, kc);
          const int a_mode = pack ? kPackedA : g.trans_a ? kColsA : kRowsA;
          const auto tile_at = [&](int64_t ir, int64_t jr) {
            const T* a = pack ? a_pack + ir * kc
                         : g.trans_a ? g.a + pc * g.lda + ic + ir
                                     : g.a + (ic + ir) * g.lda + pc;
            tile(a_mode, min(kMR, mc - ir), min(kNR, nc - jr), kc, a, g.lda, b_block + jr * kc,
                 g.c + (ic + ir) * g.ldc + jc + jr, g.ldc, g.alpha, beta);
          };
          if (rows_outside(kc, nc)) {
            for (int64_t ir = 0; ir < mc; ir += kMR) {
              for (int64_t jr = 0; jr < nc; jr += kNR) tile_at(ir, jr);
            }
          } else {
            for (int64_t jr = 0; jr < nc; jr += kNR) {
              for (int64_t ir = 0; ir < mc; ir += kMR) tile_at(ir, jr);
            }
          }
        }
      }
    }
  }

  // All of op(B) packed once: for each k block (the balanced kc steps region uses), the
  // panels pack_b writes for columns [0, n); the block starting at k offset pc begins at
  // pc * round_up(n, nr), and its columns from jc (a multiple of nr) on at + jc * kc.
  static void pack_whole_b(T* packed, const Problem<T>& g) {
    const int64_t kc_step = balanced(g.k, Micro::kKC, 8);
    for (int64_t pc = 0; pc < g.k; pc += kc_step) {
      pack_b(packed + pc * round_up(g.n, kNR), g, pc, min(kc_step, g.k - pc), 0, g.n);
    }
  }

  static constexpr Kernel<T> kernel(const char* isa) {
    return Kernel<T>{isa, Blocking{kMR, kNR, Micro::kMC, Micro::kKC, Micro::kNC}, &region,
                     &pack_whole_b};
  }
};

}  // namespace chalknet::gemm_detail

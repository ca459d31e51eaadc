// rnn.cpp: SimpleRNN, LSTM and GRU over whole sequences, forward and backward-through-time.
//
// Every cell is computed the same way (G = gates per cell: 1, 4 or 3):
//
//   forward   1. ONE gemm for the input projection of all steps:
//                pre (B*T, G*H) = x (B*T, I) . kernel (I, G*H)
//             2. per step t: ONE gemm for the recurrent part, h_{t-1} . U, added straight
//                into pre[:, t] (the GRU's candidate block goes apart, into its cache u_h),
//                then ONE fused pass over (batch, unit) that adds the bias, applies the gate
//                nonlinearities, updates the state and caches the activations (the bias
//                costs no extra pass over the sequence).
//   backward  per step t (from T-1 down to 0): ONE fused pass turning dL/dh_t (and dL/dc_t)
//             into the pre-activation gradients d_pre[:, t] (stored for the whole sequence),
//             then ONE gemm for the gradient flowing to the previous state,
//             dh_{t-1} += d_pre[:, t] . U^T.
//             U (forward) and U^T (backward) are packed into gemm's panels once per call
//             (PackedB), not at every step: for the (35, 64, 256, 512) LSTM that packing was
//             a quarter of each step's time.
//             After the loop, three large gemms over all B*T rows give the rest:
//                d_x       (B*T, I)   = d_pre . kernel^T
//                d_kernel  (I, G*H)   = x^T . d_pre
//                d_U       (H, G*H)   = h_prev^T . d_pre   (h_prev = h_{t-1} for each row)
//             and d_bias is the column sum of d_pre in fixed chunks.
//
// Layout.  Sequences stay batch-major (B, T, .) as Keras hands them over; the slice of step t
// is a matrix whose rows are T * width apart, which gemm reads and writes through its
// leading dimension, so nothing is transposed or copied per step.  The GRU keeps its input
// and recurrent pre-activation gradients apart (d_pre and d_rec) because the reset gate
// multiplies only the recurrent half of the candidate.
//
// Activations.  For float, sigmoid and tanh run in rnn_gates (a branch-free exp built once per
// instruction set and chosen at run time); double uses libm, for the gradient checks.
//
// Threads.  The step loop runs inside ONE parallel region per call, split by units: unit j of
// step t (its G gates, its state) needs all of h_{t-1} but only the G columns of U that feed
// it.  Each thread owns a range of units (those columns of U are packed once per call), and
// per step multiplies h_{t-1} by them and runs the fused pass on its own units; one barrier
// per step (StepBarrier: a short spin, then sleep) makes h_t whole before the next product
// reads it.  The backward pass mirrors it: a thread
// owns the units of dh_{t-1}, computes the step's pre-activation gradients for them, waits at
// the barrier for the other units' gradients, then multiplies them by its rows of U.  (A
// fork/join per step, gemm splitting each small product, cost more than the work at 2 threads.)
// The sequence-wide gemms parallelise themselves.  Every value is produced by one thread with
// the same operations whatever the split (gemm's arithmetic per element does not depend on the
// tile) and the column sums use fixed chunks, so results do not depend on the thread count.
#include "rnn.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "parallel.h"
#include "rnn_gates.h"
#include "team.h"

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace chalknet {
namespace {

// Below this many values the sequence-wide loops (column sums, shifted states) run on the
// calling thread.
constexpr int64_t kParallelMinWork = 8192;
// The step loop uses several threads only when a step's recurrent product has at least this
// many multiply-adds (gemm's own threshold for forking) ...
constexpr int64_t kParallelMinStepWork = int64_t(1) << 18;
// ... and gives each thread a whole number of blocks of this many units (full SIMD vectors).
constexpr int64_t kUnitBlock = 16;
// Rows per chunk of the bias-gradient column sums (fixed, so the order of additions is too).
constexpr int64_t kSumChunkRows = 256;

// The backward pass's sequence-sized scratch (d_pre, d_rec, h_prev) and the packed copies of
// the recurrent kernel are kept per calling thread and only grow, so a training loop does not
// pay fresh page faults on every batch (GEMM's workspaces work the same way; a one-step
// (64, 256, 512) LSTM forward took 3.1 ms with a fresh 4 MB packed kernel per call, 1.9 ms
// without).
// Each slot holds one buffer at a time.
enum class Scratch { PreGradients = 0, RecurrentGradients = 1, PreviousStates = 2, Packed = 3 };

template <typename T>
T* scratch(Scratch slot, int64_t count) {
  thread_local std::vector<T> slots[4];
  std::vector<T>& storage = slots[static_cast<int>(slot)];
  if (storage.size() < static_cast<size_t>(count)) storage.resize(static_cast<size_t>(count));
  return storage.data();
}

// ----- activations: apply(x), and the derivative written in terms of y = apply(x) ----------

// float sigmoid and tanh over arrays go through rnn_gates (vectorised, per instruction set;
// see apply_in_place below); these per-value forms serve double.
struct TanhFn {
  template <typename T>
  static T apply(T x) { return std::tanh(x); }
  template <typename T>
  static T slope(T y) { return T(1) - y * y; }
};
struct ReluFn {
  template <typename T>
  static T apply(T x) { return x < T(0) ? T(0) : x; }  // NaN stays NaN
  template <typename T>
  static T slope(T y) { return y > T(0) ? T(1) : T(0); }
};
struct LinearFn {
  template <typename T>
  static T apply(T x) { return x; }
  template <typename T>
  static T slope(T) { return T(1); }
};
struct SigmoidFn {
  template <typename T>
  static T apply(T x) { return T(1) / (T(1) + std::exp(-x)); }
  template <typename T>
  static T slope(T y) { return y * (T(1) - y); }
};
struct HardSigmoidFn {  // Keras 3: clip(x / 6 + 1/2, 0, 1)
  template <typename T>
  static T apply(T x) {  // written with `<`/`>` selects so that NaN stays NaN
    const T v = x / T(6) + T(0.5);
    return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
  }
  template <typename T>
  static T slope(T y) { return (y > T(0) && y < T(1)) ? T(1) / T(6) : T(0); }
};

// Call body(Fn{}) with the functor of `kind` (templates keep the fused loops branch-free).
template <typename Body>
void with_activation(Activation kind, Body&& body) {
  switch (kind) {
    case Activation::Tanh: body(TanhFn{}); break;
    case Activation::Relu: body(ReluFn{}); break;
    case Activation::Linear: body(LinearFn{}); break;
    case Activation::Sigmoid: body(SigmoidFn{}); break;
    case Activation::HardSigmoid: body(HardSigmoidFn{}); break;
  }
}

template <typename Body>
void with_activations(Activation activation, Activation recurrent, Body&& body) {
  with_activation(activation, [&](auto act) {
    with_activation(recurrent, [&](auto rec) { body(act, rec); });
  });
}

#include "rnn_cell_backward.inc"

// ----- shared pieces -------------------------------------------------------------------------

// The fused passes are written as short loops over contiguous runs of one row, each simple
// enough for the compiler to vectorise (one activation per loop; float sigmoid and tanh use
// the per-instruction-set loops of rnn_gates.h).

// v[j] = Fn::apply(v[j]) for j < n.
template <class Fn, typename T>
void apply_in_place(T* v, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) v[j] = Fn::apply(v[j]);
}
template <>
void apply_in_place<SigmoidFn, float>(float* v, int64_t n) { rnn_gates::table().sigmoid(v, n); }
template <>
void apply_in_place<TanhFn, float>(float* v, int64_t n) { rnn_gates::table().tanh(v, n); }

// v[j] += w[j] for j < n.
template <typename T>
void add_in_place(T* v, const T* w, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) v[j] += w[j];
}

// A (rows, width) matrix inside a larger array: element (r, c) is data[r * ld + c].
template <typename T>
struct Slice {
  T* data;
  int64_t ld;
  T* row(int64_t r) const { return data + r * ld; }
};

// h_{t-1} as a (B, H) slice: the initial state at t = 0, else step t-1 of the states.
template <typename T>
Slice<const T> previous(const T* states, const T* initial, int64_t t, const RnnShape& s) {
  if (t == 0) return {initial, s.units};
  return {states + (t - 1) * s.units, s.steps * s.units};
}

bool is_real_step(const uint8_t* mask, int64_t b, int64_t t, const RnnShape& s) {
  return mask == nullptr || mask[b * s.steps + t] != 0;
}

// pre (B*T, width) = x (B*T, I) . kernel (I, width).
template <typename T>
void input_projection(T* pre, const T* x, const T* kernel, int64_t width, const RnnShape& s) {
  gemm<T>(pre, width, x, s.input_size, false, kernel, width, false, s.batch * s.steps, width,
          s.input_size, T(1), T(0));
}

// out (cols,) = sum over the rows of m (rows, cols), in fixed chunks added in order.
template <typename T>
void column_sums(T* out, const T* m, int64_t rows, int64_t cols) {
  const int64_t chunks = (rows + kSumChunkRows - 1) / kSumChunkRows;
  std::vector<T> partial(static_cast<size_t>(chunks * cols), T(0));
  const TeamChoice team(rows * cols >= kParallelMinWork, rows * cols / kElementsPerNs);
#pragma omp parallel for schedule(static) if (team.parallel)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    T* sum = partial.data() + chunk * cols;
    const int64_t end = std::min(rows, (chunk + 1) * kSumChunkRows);
    for (int64_t r = chunk * kSumChunkRows; r < end; ++r) {
      for (int64_t c = 0; c < cols; ++c) sum[c] += m[r * cols + c];
    }
  }
  std::fill(out, out + cols, T(0));
  add_partials_in_order(out, partial.data(), chunks, cols);
}

// h_prev (B, T, H): row (b, t) holds h_{t-1} (h0 at t = 0), so that the recurrent-kernel
// gradient is one gemm over all B*T rows.
template <typename T>
void shifted_states(T* h_prev, const T* h0, const T* states, const RnnShape& s) {
  const int64_t H = s.units, TH = s.steps * s.units;
  const int64_t values = s.batch * TH;
  const TeamChoice team(values >= kParallelMinWork, values / kElementsPerNs);
#pragma omp parallel for schedule(static) if (team.parallel)
  for (int64_t b = 0; b < s.batch; ++b) {
    std::memcpy(h_prev + b * TH, h0 + b * H, sizeof(T) * H);
    std::memcpy(h_prev + b * TH + H, states + b * TH, sizeof(T) * (TH - H));
  }
}

// The three sequence-wide gemms of the backward pass (see the top of the file):
//   d_x = d_pre . kernel^T,  d_kernel = x^T . d_pre,  d_recurrent = h_prev^T . d_rec.
// For the SimpleRNN and the LSTM d_rec is d_pre.
template <typename T>
void weight_gradients(T* d_x, T* d_kernel, T* d_recurrent_kernel, const T* d_pre,
                      const T* d_rec, const T* x, const T* h0, const T* states,
                      const T* kernel, int64_t width, const RnnShape& s) {
  const int64_t rows = s.batch * s.steps, I = s.input_size, H = s.units;
  gemm<T>(d_x, I, d_pre, width, false, kernel, width, true, rows, I, width, T(1), T(0));
  gemm<T>(d_kernel, width, x, I, true, d_pre, width, false, I, width, rows, T(1), T(0));
  T* h_prev = scratch<T>(Scratch::PreviousStates, rows * H);
  shifted_states(h_prev, h0, states, s);
  gemm<T>(d_recurrent_kernel, width, h_prev, H, true, d_rec, width, false, H, width, rows,
          T(1), T(0));
}

// ----- the step loops, split among threads by units (see "Threads" at the top) ---------------

// The units [begin, end) of one share of the step loop.
struct Units {
  int64_t begin, end;
  int64_t count() const { return end - begin; }
};

// Whether the step loop splits among threads: when a step's recurrent product is worth a
// barrier and the whole loop is worth waking the team (team.h).
TeamChoice step_team(const RnnShape& s, int64_t gates) {
  const int64_t step_work = s.batch * s.units * gates * s.units;
  return TeamChoice(step_work >= kParallelMinStepWork, s.steps * step_work / kMultiplyAddsPerNs);
}

// How many shares (threads) the step loop uses: at most one per block of kUnitBlock units.
int step_shares(const RnnShape& s, const TeamChoice& team) {
  if (!team.parallel) return 1;
  return static_cast<int>(std::clamp<int64_t>(s.units / kUnitBlock, 1, get_num_threads()));
}

// Share `share` of `shares` of the units: whole blocks of kUnitBlock, balanced.
Units share_units(int64_t units, int64_t share, int64_t shares) {
  const int64_t blocks = (units + kUnitBlock - 1) / kUnitBlock;
  return {std::min(units, blocks * share / shares * kUnitBlock),
          std::min(units, blocks * (share + 1) / shares * kUnitBlock)};
}

// body(share) for the shares of the calling thread (one each when the team is complete).
template <class Body>
void for_my_shares(int shares, const Body& body) {
#if defined(_OPENMP)
  const int first = omp_get_thread_num(), stride = omp_get_num_threads();
#else
  const int first = 0, stride = 1;
#endif
  for (int share = first; share < shares; share += stride) body(share);
}

// The step loops' barrier.  An OpenMP barrier's waiting thread goes to sleep after
// GOMP_SPINCOUNT spins (chalknet sets 1,000, a few microseconds: see chalknet/__init__.py),
// and waking a sleeping thread took 25-80 us on the 2-core VM, more than a small step's work.
// Here a waiting thread spins for up to kSpinTime, which covers the threads' usual imbalance
// within a step, and only then sleeps on a condition variable; the last thread to arrive wakes
// the sleepers.  On a busy machine a preempted partner costs at most kSpinTime of spinning
// per step before the waiter gives up its core.  set_threads() must be given the team's real
// size before anyone waits (set_team_size).
class StepBarrier {
 public:
  void set_threads(int threads) { threads_ = threads; }

  void wait() {
    const unsigned generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      arrived_.store(0, std::memory_order_relaxed);  // seen by the others with the generation
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.store(generation + 1, std::memory_order_release);
      wake_.notify_all();
      return;
    }
    if (spin_until_changed(generation)) return;
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != generation; });
  }

 private:
  static constexpr std::chrono::microseconds kSpinTime{20};

  // True when the generation moved on within kSpinTime.
  bool spin_until_changed(unsigned generation) const {
    const auto start = std::chrono::steady_clock::now();
    for (unsigned checks = 1;; ++checks) {
      if (generation_.load(std::memory_order_acquire) != generation) return true;
      if (checks % 32 == 0 && std::chrono::steady_clock::now() - start > kSpinTime) return false;
#if defined(__x86_64__) || defined(_M_X64)
      _mm_pause();
#endif
    }
  }

  std::atomic<int> arrived_{0};
  std::atomic<unsigned> generation_{0};
  int threads_ = 1;
  std::mutex mutex_;
  std::condition_variable wake_;
};

// Called by every thread at the start of a step loop's parallel region: the barrier learns the
// team's size (which may be smaller than asked for) before anyone waits at it.
inline void set_team_size(StepBarrier& barrier) {
#if defined(_OPENMP)
#pragma omp single
  barrier.set_threads(omp_get_num_threads());
#else
  (void)barrier;
#endif
}

// A matrix op(B) (k, n) to pack, given as to PackedB's constructor.
template <typename T>
struct ToPack {
  const T* b;
  int64_t ldb;
  bool trans_b;
  int64_t k, n;
};

// The matrices packed one after the other into this thread's Scratch::Packed, each from a
// 64-byte boundary.
template <typename T>
std::vector<PackedB<T>> pack_in_scratch(const std::vector<ToPack<T>>& sources) {
  constexpr int64_t kAlign = 64 / sizeof(T);
  std::vector<int64_t> offsets;
  int64_t total = 0;
  for (const ToPack<T>& m : sources) {
    offsets.push_back(total);
    total += (PackedB<T>::storage_size(m.k, m.n) + kAlign - 1) / kAlign * kAlign;
  }
  T* base = scratch<T>(Scratch::Packed, total + kAlign);
  base += (kAlign - reinterpret_cast<std::uintptr_t>(base) / sizeof(T) % kAlign) % kAlign;
  std::vector<PackedB<T>> packed;
  for (size_t i = 0; i < sources.size(); ++i) {
    const ToPack<T>& m = sources[i];
    packed.emplace_back(m.b, m.ldb, m.trans_b, m.k, m.n, base + offsets[i]);
  }
  return packed;
}

// Where gate block g of h_{t-1} . U goes at step t: added to the (B, H) slice (beta 1: it holds
// x_t . kernel) or written over it (beta 0).
template <typename T>
struct Target {
  Slice<T> slice;
  T beta;
};

// Forward recurrence.  Per step t and share, for each gate block g:
//   target(t, g)[:, units] (+)= h_{t-1} (B, H) . U[:, g*H + units]   (packed once per call)
// then step(t, units) runs the fused pass on the share's units, writing h_t there; a barrier
// ends the step.  The product lands where the pass reads it, so the pre-activations written
// by the input projection long before are read by the gemm, which prefetches them while it
// multiplies, not by the pass.  Everything is allocated before the parallel region.
template <typename T, class TargetFn, class Step>
void forward_steps(const T* states, const T* h0, const T* recurrent_kernel, int64_t gates,
                   const RnnShape& s, const TargetFn& target, const Step& step) {
  const TeamChoice team = step_team(s, gates);
  const int shares = step_shares(s, team);
  std::vector<Units> units;
  std::vector<ToPack<T>> sources;  // share * gates + g: U[:, g*H + units] (H, n)
  for (int share = 0; share < shares; ++share) {
    units.push_back(share_units(s.units, share, shares));
    for (int64_t g = 0; g < gates; ++g) {
      sources.push_back({recurrent_kernel + g * s.units + units.back().begin, gates * s.units,
                         false, s.units, units.back().count()});
    }
  }
  const std::vector<PackedB<T>> blocks = pack_in_scratch(sources);
  StepBarrier barrier;
#pragma omp parallel num_threads(shares)
  {
    set_team_size(barrier);
    for (int64_t t = 0; t < s.steps; ++t) {
      const Slice<const T> h_prev = previous(states, h0, t, s);
      for_my_shares(shares, [&](int share) {
        for (int64_t g = 0; g < gates; ++g) {
          const Target<T> out = target(t, g);
          gemm_packed<T>(out.slice.data + units[share].begin, out.slice.ld, h_prev.data,
                         h_prev.ld, false, blocks[share * gates + g], s.batch, T(1), out.beta);
        }
        step(t, units[share]);
      });
      barrier.wait();
    }
  }
}

// Backward recurrence.  dh holds two (B, H) buffers, dL/dh_t and dL/dh_{t-1} in turn; the
// one of step T-1 holds dL/dh_{T-1} on entry.  Per step t and share, step(t, units, dh_t,
// dh_prev) writes the step's gradients d_rec[:, t] and the pass-through part of dh_prev for
// the share's units; after a barrier (d_rec[:, t] complete) the share adds
// dh_prev[:, units] += d_rec[:, t] (B, G*H) . U[units, :]^T.  Returns dL/dh_{-1} = dL/dh0.
template <typename T, class Step>
T* backward_steps(T* dh, const T* d_rec, const T* recurrent_kernel, int64_t gates,
                  const RnnShape& s, const Step& step) {
  const int64_t H = s.units, width = gates * s.units, BH = s.batch * s.units;
  const auto dh_at = [&](int64_t t) { return dh + (s.steps - 1 - t) % 2 * BH; };
  const TeamChoice team = step_team(s, gates);
  const int shares = step_shares(s, team);
  std::vector<Units> units;
  std::vector<ToPack<T>> sources;  // op(B) (G*H, n) = U^T[:, units], U's rows read transposed
  for (int share = 0; share < shares; ++share) {
    units.push_back(share_units(H, share, shares));
    sources.push_back(
        {recurrent_kernel + units.back().begin * width, width, true, width, units.back().count()});
  }
  const std::vector<PackedB<T>> rows_t = pack_in_scratch(sources);
  StepBarrier barrier;
#pragma omp parallel num_threads(shares)
  {
    set_team_size(barrier);
    for (int64_t t = s.steps - 1; t >= 0; --t) {
      T* dh_prev = dh_at(t - 1);
      for_my_shares(shares, [&](int share) { step(t, units[share], dh_at(t), dh_prev); });
      barrier.wait();
      for_my_shares(shares, [&](int share) {
        gemm_packed<T>(dh_prev + units[share].begin, H, d_rec + t * width, s.steps * width,
                       false, rows_t[share], s.batch, T(1), T(1));
      });
    }
  }
  return dh_at(-1);
}

// Every fused pass below works on one share of the units, [units.begin, units.end), for all
// batch rows: the pointers of a row are moved to the share's first unit, and gate block g of
// the share sits at + g * H.

// ----- SimpleRNN -----------------------------------------------------------------------------

// h_t = act(h_t + bias) in place: h_t holds x_t.kernel + h_{t-1}.U on entry.
template <typename T, class Act>
void simple_rnn_step(const Slice<T>& h_t, const T* bias, const Slice<const T>& h_prev,
                     const uint8_t* mask, int64_t t, const RnnShape& s, const Units& units,
                     Act) {
  const int64_t n = units.count();
  for (int64_t b = 0; b < s.batch; ++b) {
    T* h = h_t.row(b) + units.begin;
    if (!is_real_step(mask, b, t, s)) {
      std::memcpy(h, h_prev.row(b) + units.begin, sizeof(T) * n);
      continue;
    }
    if (bias) add_in_place(h, bias + units.begin, n);
    apply_in_place<Act>(h, n);
  }
}

// d_pre_t = dh_t * act'(h_t); masked rows pass dh_t to dh_prev unchanged.
template <typename T, class Act>
void simple_rnn_step_backward(const Slice<T>& d_pre_t, T* dh_prev, const T* dh,
                              const Slice<const T>& d_states_t, const Slice<const T>& h_t,
                              const uint8_t* mask, int64_t t, const RnnShape& s,
                              const Units& units, Act) {
  const int64_t H = s.units, n = units.count();
  for (int64_t b = 0; b < s.batch; ++b) {
    T* d_pre = d_pre_t.row(b) + units.begin;
    T* dh_prev_b = dh_prev + b * H + units.begin;
    const T *dh_b = dh + b * H + units.begin, *d_above = d_states_t.row(b) + units.begin;
    const T* h = h_t.row(b) + units.begin;
    const bool real = is_real_step(mask, b, t, s);
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T dh_total = dh_b[j] + d_above[j];
      d_pre[j] = real ? dh_total * Act::slope(h[j]) : T(0);
      dh_prev_b[j] = real ? T(0) : dh_total;
    }
  }
}

// ----- LSTM ----------------------------------------------------------------------------------

// One row of the LSTM step for n units: gate blocks i, f, g, o at gate + {0, 1, 2, 3} * H
// hold pre-activations without the bias on entry, activations on exit; c and h are written.
template <typename T, class Act, class Rec>
void lstm_cell(T* gate, int64_t H, const T* bias, const T* cp, T* c, T* h, int64_t n, Act, Rec) {
  if (bias) {
    for (int64_t g = 0; g < 4; ++g) add_in_place(gate + g * H, bias + g * H, n);
  }
  apply_in_place<Rec>(gate, n);          // i
  apply_in_place<Rec>(gate + H, n);      // f
  apply_in_place<Act>(gate + 2 * H, n);  // g
  apply_in_place<Rec>(gate + 3 * H, n);  // o
  const T *i = gate, *f = gate + H, *g = gate + 2 * H, *o = gate + 3 * H;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) c[j] = f[j] * cp[j] + i[j] * g[j];
  std::memcpy(h, c, sizeof(T) * n);
  apply_in_place<Act>(h, n);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) h[j] *= o[j];
}

// Keras's default activations in float: the fused loop of rnn_gates, per instruction set.
void lstm_cell(float* gate, int64_t H, const float* bias, const float* cp, float* c, float* h,
               int64_t n, TanhFn, SigmoidFn) {
  rnn_gates::table().lstm_cell(gate, H, bias, cp, c, h, n);
}

// gates_t holds x_t.kernel + h_{t-1}.U on entry and i, f, g, o on exit.
template <typename T, class Act, class Rec>
void lstm_step(const Slice<T>& gates_t, const Slice<T>& c_t, const Slice<T>& h_t,
               const T* bias, const Slice<const T>& c_prev, const Slice<const T>& h_prev,
               const uint8_t* mask, int64_t t, const RnnShape& s, const Units& units, Act act,
               Rec rec) {
  const int64_t H = s.units, n = units.count();
  for (int64_t b = 0; b < s.batch; ++b) {
    T *c = c_t.row(b) + units.begin, *h = h_t.row(b) + units.begin;
    const T *cp = c_prev.row(b) + units.begin, *hp = h_prev.row(b) + units.begin;
    lstm_cell(gates_t.row(b) + units.begin, H, bias ? bias + units.begin : nullptr, cp, c, h, n,
              act, rec);
    if (!is_real_step(mask, b, t, s)) {
      std::memcpy(c, cp, sizeof(T) * n);
      std::memcpy(h, hp, sizeof(T) * n);
    }
  }
}

// Keras's default activations in float: the same formulas built per instruction set.
void lstm_cell_backward(float* d_pre, int64_t H, float* dc, float* dh_prev, const float* dh,
                        const float* d_above, const float* gate, const float* c,
                        const float* c_prev, int64_t n, TanhFn, SigmoidFn) {
  rnn_gates::table().lstm_cell_backward(d_pre, H, dc, dh_prev, dh, d_above, gate, c, c_prev, n);
}
template <typename T, class Act, class Rec>
void lstm_cell_backward(T* d_pre, int64_t H, T* dc, T* dh_prev, const T* dh, const T* d_above,
                        const T* gate, const T* c, const T* c_prev, int64_t n, Act, Rec) {
  lstm_backward_row<T, Act, Rec>(d_pre, H, dc, dh_prev, dh, d_above, gate, c, c_prev, n);
}

// The LSTM backward step for the share's units (formulas in rnn_cell_backward.inc): d_pre_t,
// dc (in place: dL/dc_t -> dL/dc_{t-1}) and dh_prev, which masked rows pass through and
// real rows leave at 0 for the recurrent gemm to add d_pre_t . U^T.
template <typename T, class Act, class Rec>
void lstm_step_backward(const Slice<T>& d_pre_t, T* dh_prev, T* dc, const T* dh,
                        const Slice<const T>& d_states_t, const Slice<const T>& gates_t,
                        const Slice<const T>& c_t, const Slice<const T>& c_prev,
                        const uint8_t* mask, int64_t t, const RnnShape& s, const Units& units,
                        Act act, Rec rec) {
  const int64_t H = s.units, n = units.count(), at = units.begin;
  for (int64_t b = 0; b < s.batch; ++b) {
    T* d_pre = d_pre_t.row(b) + at;
    const T *dh_b = dh + b * H + at, *d_above = d_states_t.row(b) + at;
    if (!is_real_step(mask, b, t, s)) {
      for (int64_t j = 0; j < n; ++j) dh_prev[b * H + at + j] = dh_b[j] + d_above[j];
      for (int64_t g = 0; g < 4; ++g) std::fill(d_pre + g * H, d_pre + g * H + n, T(0));
      continue;
    }
    lstm_cell_backward(d_pre, H, dc + b * H + at, dh_prev + b * H + at, dh_b, d_above,
                       gates_t.row(b) + at, c_t.row(b) + at, c_prev.row(b) + at, n, act, rec);
  }
}

// ----- GRU -----------------------------------------------------------------------------------

// One row of the GRU step for n units: gate blocks z, r, h~ at gate + {0, 1, 2} * H hold
// x.kernel (z and r plus h_prev.U) on entry, activations on exit; u_h (the candidate's
// h_prev.U) gets the recurrent bias added; h is written.  Either bias may be null.
template <typename T, class Act, class Rec>
void gru_cell(T* gate, int64_t H, const T* input_bias, const T* recurrent_bias, T* u_h,
              const T* hp, T* h, int64_t n, Act, Rec) {
  if (input_bias) {
    for (int64_t g = 0; g < 3; ++g) add_in_place(gate + g * H, input_bias + g * H, n);
  }
  if (recurrent_bias) {  // z and r see both biases
    add_in_place(gate, recurrent_bias, n);
    add_in_place(gate + H, recurrent_bias + H, n);
    add_in_place(u_h, recurrent_bias + 2 * H, n);
  }
  apply_in_place<Rec>(gate, n);
  apply_in_place<Rec>(gate + H, n);
  T *z = gate, *r = gate + H, *candidate = gate + 2 * H;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) candidate[j] += r[j] * u_h[j];  // reset after the product
  apply_in_place<Act>(candidate, n);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) h[j] = z[j] * hp[j] + (T(1) - z[j]) * candidate[j];
}

// Keras's default activations in float: the fused loop of rnn_gates, per instruction set.
void gru_cell(float* gate, int64_t H, const float* input_bias, const float* recurrent_bias,
              float* u_h, const float* hp, float* h, int64_t n, TanhFn, SigmoidFn) {
  rnn_gates::table().gru_cell(gate, H, input_bias, recurrent_bias, u_h, hp, h, n);
}

// On entry the z and r blocks of gates_t hold x_t.kernel + h_{t-1}.U, the h block x_t.kernel
// alone, and u_h_t the h block of h_{t-1}.U; on exit gates_t holds z, r, h~ and u_h_t has the
// recurrent bias added.
template <typename T, class Act, class Rec>
void gru_step(const Slice<T>& gates_t, const Slice<T>& u_h_t, const Slice<T>& h_t,
              const T* input_bias, const T* recurrent_bias, const Slice<const T>& h_prev,
              const uint8_t* mask, int64_t t, const RnnShape& s, const Units& units, Act act,
              Rec rec) {
  const int64_t n = units.count(), at = units.begin;
  for (int64_t b = 0; b < s.batch; ++b) {
    T* h = h_t.row(b) + at;
    const T* hp = h_prev.row(b) + at;
    gru_cell(gates_t.row(b) + at, s.units, input_bias ? input_bias + at : nullptr,
             recurrent_bias ? recurrent_bias + at : nullptr, u_h_t.row(b) + at, hp, h, n, act,
             rec);
    if (!is_real_step(mask, b, t, s)) std::memcpy(h, hp, sizeof(T) * n);
  }
}

// Keras's default activations in float: the same formulas built per instruction set.
void gru_cell_backward(float* d_pre, float* d_rec, int64_t H, float* dh_prev, const float* dh,
                       const float* d_above, const float* gate, const float* u_h,
                       const float* h_prev, int64_t n, TanhFn, SigmoidFn) {
  rnn_gates::table().gru_cell_backward(d_pre, d_rec, H, dh_prev, dh, d_above, gate, u_h, h_prev,
                                       n);
}
template <typename T, class Act, class Rec>
void gru_cell_backward(T* d_pre, T* d_rec, int64_t H, T* dh_prev, const T* dh, const T* d_above,
                       const T* gate, const T* u_h, const T* h_prev, int64_t n, Act, Rec) {
  gru_backward_row<T, Act, Rec>(d_pre, d_rec, H, dh_prev, dh, d_above, gate, u_h, h_prev, n);
}

// The GRU backward step for the share's units (formulas in rnn_cell_backward.inc): d_pre_t,
// d_rec_t and dh_prev (before the recurrent gemm adds d_rec_t . U^T); masked rows pass dh
// through.
template <typename T, class Act, class Rec>
void gru_step_backward(const Slice<T>& d_pre_t, const Slice<T>& d_rec_t, T* dh_prev,
                       const T* dh, const Slice<const T>& d_states_t,
                       const Slice<const T>& gates_t, const Slice<const T>& u_h_t,
                       const Slice<const T>& h_prev, const uint8_t* mask, int64_t t,
                       const RnnShape& s, const Units& units, Act act, Rec rec) {
  const int64_t H = s.units, n = units.count(), at = units.begin;
  for (int64_t b = 0; b < s.batch; ++b) {
    T *d_pre = d_pre_t.row(b) + at, *d_rec = d_rec_t.row(b) + at;
    const T *dh_b = dh + b * H + at, *d_above = d_states_t.row(b) + at;
    if (!is_real_step(mask, b, t, s)) {
      for (int64_t j = 0; j < n; ++j) dh_prev[b * H + at + j] = dh_b[j] + d_above[j];
      for (int64_t g = 0; g < 3; ++g) {
        std::fill(d_pre + g * H, d_pre + g * H + n, T(0));
        std::fill(d_rec + g * H, d_rec + g * H + n, T(0));
      }
      continue;
    }
    gru_cell_backward(d_pre, d_rec, H, dh_prev + b * H + at, dh_b, d_above, gates_t.row(b) + at,
                      u_h_t.row(b) + at, h_prev.row(b) + at, n, act, rec);
  }
}

// dh (B, H) = d_final (or zeros when null).
template <typename T>
void start_gradient(T* dh, const T* d_final, const RnnShape& s) {
  const int64_t n = s.batch * s.units;
  if (d_final) {
    std::memcpy(dh, d_final, sizeof(T) * n);
  } else {
    std::fill(dh, dh + n, T(0));
  }
}

}  // namespace

// ===== SimpleRNN =============================================================================

template <typename T>
void simple_rnn_forward(T* states, const T* x, const T* h0, const T* kernel,
                        const T* recurrent_kernel, const T* bias, const uint8_t* mask,
                        const RnnShape& s, Activation activation) {
  const int64_t H = s.units, TH = s.steps * s.units;
  input_projection(states, x, kernel, H, s);  // states hold the pre-activations first
  with_activation(activation, [&](auto act) {
    forward_steps<T>(
        states, h0, recurrent_kernel, 1, s,
        [&](int64_t t, int64_t) { return Target<T>{{states + t * H, TH}, T(1)}; },
        [&](int64_t t, const Units& units) {
          simple_rnn_step<T>({states + t * H, TH}, bias, previous(states, h0, t, s), mask, t, s,
                             units, act);
        });
  });
}

template <typename T>
void simple_rnn_backward(T* d_x, T* d_h0, T* d_kernel, T* d_recurrent_kernel, T* d_bias,
                         const T* d_states, const T* d_final_h, const T* x, const T* h0,
                         const T* kernel, const T* recurrent_kernel, const T* states,
                         const uint8_t* mask, const RnnShape& s, Activation activation) {
  const int64_t H = s.units, TH = s.steps * s.units, BH = s.batch * s.units;
  T* d_pre = scratch<T>(Scratch::PreGradients, s.batch * TH);
  auto dh = uninitialized<T>(2 * BH);
  start_gradient(dh.get(), d_final_h, s);
  with_activation(activation, [&](auto act) {
    const T* d_h_initial = backward_steps<T>(
        dh.get(), d_pre, recurrent_kernel, 1, s,
        [&](int64_t t, const Units& units, const T* dh_t, T* dh_prev) {
          simple_rnn_step_backward<T>({d_pre + t * H, TH}, dh_prev, dh_t, {d_states + t * H, TH},
                                      {states + t * H, TH}, mask, t, s, units, act);
        });
    std::memcpy(d_h0, d_h_initial, sizeof(T) * BH);
  });
  weight_gradients<T>(d_x, d_kernel, d_recurrent_kernel, d_pre, d_pre, x, h0, states,
                      kernel, H, s);
  if (d_bias) column_sums(d_bias, d_pre, s.batch * s.steps, H);
}

// ===== LSTM ==================================================================================

template <typename T>
void lstm_forward(T* states, T* cells, T* gates, const T* x, const T* h0, const T* c0,
                  const T* kernel, const T* recurrent_kernel, const T* bias, const uint8_t* mask,
                  const RnnShape& s, Activation activation, Activation recurrent_activation) {
  const int64_t H = s.units, G = 4 * s.units, TH = s.steps * H, TG = s.steps * G;
  input_projection(gates, x, kernel, G, s);  // gates hold the pre-activations first
  with_activations(activation, recurrent_activation, [&](auto act, auto rec_act) {
    forward_steps<T>(
        states, h0, recurrent_kernel, 4, s,
        [&](int64_t t, int64_t g) { return Target<T>{{gates + t * G + g * H, TG}, T(1)}; },
        [&](int64_t t, const Units& units) {
          lstm_step<T>({gates + t * G, TG}, {cells + t * H, TH}, {states + t * H, TH}, bias,
                       previous(cells, c0, t, s), previous(states, h0, t, s), mask, t, s, units,
                       act, rec_act);
        });
  });
}

template <typename T>
void lstm_backward(T* d_x, T* d_h0, T* d_c0, T* d_kernel, T* d_recurrent_kernel, T* d_bias,
                   const T* d_states, const T* d_final_h, const T* d_final_c, const T* x,
                   const T* h0, const T* c0, const T* kernel, const T* recurrent_kernel,
                   const T* states, const T* cells, const T* gates, const uint8_t* mask,
                   const RnnShape& s, Activation activation, Activation recurrent_activation) {
  const int64_t H = s.units, G = 4 * s.units, TH = s.steps * H, TG = s.steps * G;
  const int64_t BH = s.batch * H;
  T* d_pre = scratch<T>(Scratch::PreGradients, s.batch * TG);
  auto dh = uninitialized<T>(2 * BH), dc = uninitialized<T>(BH);
  start_gradient(dh.get(), d_final_h, s);
  start_gradient(dc.get(), d_final_c, s);
  with_activations(activation, recurrent_activation, [&](auto act, auto rec_act) {
    const T* d_h_initial = backward_steps<T>(
        dh.get(), d_pre, recurrent_kernel, 4, s,
        [&](int64_t t, const Units& units, const T* dh_t, T* dh_prev) {
          lstm_step_backward<T>({d_pre + t * G, TG}, dh_prev, dc.get(), dh_t,
                                {d_states + t * H, TH}, {gates + t * G, TG},
                                {cells + t * H, TH}, previous(cells, c0, t, s), mask, t, s,
                                units, act, rec_act);
        });
    std::memcpy(d_h0, d_h_initial, sizeof(T) * BH);
  });
  std::memcpy(d_c0, dc.get(), sizeof(T) * BH);
  weight_gradients<T>(d_x, d_kernel, d_recurrent_kernel, d_pre, d_pre, x, h0, states,
                      kernel, G, s);
  if (d_bias) column_sums(d_bias, d_pre, s.batch * s.steps, G);
}

// ===== GRU ===================================================================================

template <typename T>
void gru_forward(T* states, T* gates, T* recurrent_h, const T* x, const T* h0, const T* kernel,
                 const T* recurrent_kernel, const T* bias, const uint8_t* mask,
                 const RnnShape& s, Activation activation, Activation recurrent_activation) {
  const int64_t H = s.units, G = 3 * s.units, TH = s.steps * H, TG = s.steps * G;
  input_projection(gates, x, kernel, G, s);
  const T* recurrent_bias = bias ? bias + G : nullptr;  // bias row 1; row 0 is the input bias
  with_activations(activation, recurrent_activation, [&](auto act, auto rec_act) {
    forward_steps<T>(
        states, h0, recurrent_kernel, 3, s,
        [&](int64_t t, int64_t g) {  // z, r: added to x_t.kernel; h: apart, as u_h
          return g < 2 ? Target<T>{{gates + t * G + g * H, TG}, T(1)}
                       : Target<T>{{recurrent_h + t * H, TH}, T(0)};
        },
        [&](int64_t t, const Units& units) {
          gru_step<T>({gates + t * G, TG}, {recurrent_h + t * H, TH}, {states + t * H, TH}, bias,
                      recurrent_bias, previous(states, h0, t, s), mask, t, s, units, act,
                      rec_act);
        });
  });
}

template <typename T>
void gru_backward(T* d_x, T* d_h0, T* d_kernel, T* d_recurrent_kernel, T* d_bias,
                  const T* d_states, const T* d_final_h, const T* x, const T* h0,
                  const T* kernel, const T* recurrent_kernel, const T* states, const T* gates,
                  const T* recurrent_h, const uint8_t* mask, const RnnShape& s,
                  Activation activation, Activation recurrent_activation) {
  const int64_t H = s.units, G = 3 * s.units, TH = s.steps * H, TG = s.steps * G;
  const int64_t BH = s.batch * H;
  T* d_pre = scratch<T>(Scratch::PreGradients, s.batch * TG);
  T* d_rec = scratch<T>(Scratch::RecurrentGradients, s.batch * TG);
  auto dh = uninitialized<T>(2 * BH);
  start_gradient(dh.get(), d_final_h, s);
  with_activations(activation, recurrent_activation, [&](auto act, auto rec_act) {
    const T* d_h_initial = backward_steps<T>(
        dh.get(), d_rec, recurrent_kernel, 3, s,
        [&](int64_t t, const Units& units, const T* dh_t, T* dh_prev) {
          gru_step_backward<T>({d_pre + t * G, TG}, {d_rec + t * G, TG}, dh_prev, dh_t,
                               {d_states + t * H, TH}, {gates + t * G, TG},
                               {recurrent_h + t * H, TH}, previous(states, h0, t, s), mask, t,
                               s, units, act, rec_act);
        });
    std::memcpy(d_h0, d_h_initial, sizeof(T) * BH);
  });
  weight_gradients<T>(d_x, d_kernel, d_recurrent_kernel, d_pre, d_rec, x, h0, states,
                      kernel, G, s);
  if (d_bias) {
    column_sums(d_bias, d_pre, s.batch * s.steps, G);
    column_sums(d_bias + G, d_rec, s.batch * s.steps, G);
  }
}

// ===== instantiations ========================================================================

#define CHALKNET_RNN_INSTANTIATE(T)                                                            \
  template void simple_rnn_forward<T>(T*, const T*, const T*, const T*, const T*, const T*,   \
                                      const uint8_t*, const RnnShape&, Activation);            \
  template void simple_rnn_backward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*,      \
                                       const T*, const T*, const T*, const T*, const uint8_t*, \
                                       const RnnShape&, Activation);                           \
  template void lstm_forward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                const T*, const uint8_t*, const RnnShape&, Activation,         \
                                Activation);                                                   \
  template void lstm_backward<T>(T*, T*, T*, T*, T*, T*, const T*, const T*, const T*,        \
                                 const T*, const T*, const T*, const T*, const T*, const T*,  \
                                 const T*, const T*, const uint8_t*, const RnnShape&,          \
                                 Activation, Activation);                                      \
  template void gru_forward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,  \
                               const uint8_t*, const RnnShape&, Activation, Activation);       \
  template void gru_backward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*,   \
                                const T*, const T*, const T*, const T*, const T*,              \
                                const uint8_t*, const RnnShape&, Activation, Activation);

CHALKNET_RNN_INSTANTIATE(float)
CHALKNET_RNN_INSTANTIATE(double)
#undef CHALKNET_RNN_INSTANTIATE

}  // namespace chalknet

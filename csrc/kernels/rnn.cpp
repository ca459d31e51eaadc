// rnn.cpp: SimpleRNN, LSTM and GRU over whole sequences, forward and backward-through-time.
//
// Every cell is computed the same way (G = gates per cell: 1, 4 or 3):
//
//   forward   1. ONE gemm for the input projection of all steps:
//                pre (B*T, G*H) = x (B*T, I) . kernel (I, G*H)
//             2. per step t: ONE gemm for the recurrent part, rec (B, G*H) = h_{t-1} . U,
//                then ONE fused pass over (batch, unit) that adds rec and the bias to
//                pre[:, t], applies the gate nonlinearities, updates the state and caches the
//                activations (the bias costs no extra pass over the sequence).
//   backward  per step t (from T-1 down to 0): ONE fused pass turning dL/dh_t (and dL/dc_t)
//             into the pre-activation gradients d_pre[:, t] (stored for the whole sequence),
//             then ONE gemm for the gradient flowing to the previous state,
//             dh_{t-1} += d_pre[:, t] . U^T  (U^T is transposed once per call, so the
//             per-step gemm reads both operands row-major).
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
// Threads.  gemm parallelises itself and is always called from the sequential step loop; the
// fused passes are OpenMP loops over batch rows when the step is large enough to pay for a
// parallel region (kParallelMinWork).  Every value is produced by one thread in a fixed order
// and the column sums use fixed chunks, so results do not depend on the thread count.
#include "rnn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "gemm.h"
#include "rnn_gates.h"

namespace chalknet {
namespace {

// Below this many gate values per step the fused pass runs on the calling thread.
constexpr int64_t kParallelMinWork = 8192;
// Rows per chunk of the bias-gradient column sums (fixed, so the order of additions is too).
constexpr int64_t kSumChunkRows = 256;

template <typename T>
std::unique_ptr<T[]> buffer(int64_t count) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(std::max<int64_t>(count, 1))]);
}

// The backward pass's sequence-sized scratch (d_pre, d_rec, h_prev) is kept per calling
// thread and only grows, so a training loop does not pay fresh page faults on every batch
// (GEMM's workspaces work the same way).  Each slot holds one buffer at a time.
enum class Scratch { PreGradients = 0, RecurrentGradients = 1, PreviousStates = 2 };

template <typename T>
T* scratch(Scratch slot, int64_t count) {
  thread_local std::vector<T> slots[3];
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

// (cols, rows) copy of the row-major (rows, cols) matrix m.
template <typename T>
std::unique_ptr<T[]> transposed(const T* m, int64_t rows, int64_t cols) {
  auto out = buffer<T>(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = m[r * cols + c];
  }
  return out;
}

// out (cols,) = sum over the rows of m (rows, cols), in fixed chunks added in order.
template <typename T>
void column_sums(T* out, const T* m, int64_t rows, int64_t cols) {
  const int64_t chunks = (rows + kSumChunkRows - 1) / kSumChunkRows;
  std::vector<T> partial(static_cast<size_t>(chunks * cols), T(0));
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMinWork)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    T* sum = partial.data() + chunk * cols;
    const int64_t end = std::min(rows, (chunk + 1) * kSumChunkRows);
    for (int64_t r = chunk * kSumChunkRows; r < end; ++r) {
      for (int64_t c = 0; c < cols; ++c) sum[c] += m[r * cols + c];
    }
  }
  std::fill(out, out + cols, T(0));
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    for (int64_t c = 0; c < cols; ++c) out[c] += partial[chunk * cols + c];
  }
}

// h_prev (B, T, H): row (b, t) holds h_{t-1} (h0 at t = 0), so that the recurrent-kernel
// gradient is one gemm over all B*T rows.
template <typename T>
void shifted_states(T* h_prev, const T* h0, const T* states, const RnnShape& s) {
  const int64_t H = s.units, TH = s.steps * s.units;
#pragma omp parallel for schedule(static) if (s.batch * TH >= kParallelMinWork)
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

// dh_prev (B, H) += d_rec_t (B, width) . U^T, given U^T (width, H): the gradient reaching
// h_{t-1} through the recurrent kernel.
template <typename T>
void recurrent_backward(T* dh_prev, const Slice<const T>& d_rec_t,
                        const T* recurrent_kernel_t, int64_t width, const RnnShape& s) {
  gemm<T>(dh_prev, s.units, d_rec_t.data, d_rec_t.ld, false, recurrent_kernel_t, s.units, false,
          s.batch, s.units, width, T(1), T(1));
}

// ----- SimpleRNN -----------------------------------------------------------------------------

// h_t = act(pre_t + bias) in place (pre_t already holds x_t.kernel + h_{t-1}.U).
template <typename T, class Act>
void simple_rnn_step(const Slice<T>& h_t, const Slice<const T>& h_prev, const T* bias,
                     const uint8_t* mask, int64_t t, const RnnShape& s, Act) {
  const int64_t H = s.units;
#pragma omp parallel for schedule(static) if (s.batch * H >= kParallelMinWork)
  for (int64_t b = 0; b < s.batch; ++b) {
    T* h = h_t.row(b);
    if (!is_real_step(mask, b, t, s)) {
      std::memcpy(h, h_prev.row(b), sizeof(T) * H);
      continue;
    }
    if (bias) add_in_place(h, bias, H);
    apply_in_place<Act>(h, H);
  }
}

// d_pre_t = dh_t * act'(h_t); masked rows pass dh_t to dh_prev unchanged.
template <typename T, class Act>
void simple_rnn_step_backward(const Slice<T>& d_pre_t, T* dh_prev, const T* dh,
                              const Slice<const T>& d_states_t, const Slice<const T>& h_t,
                              const uint8_t* mask, int64_t t, const RnnShape& s, Act) {
  const int64_t H = s.units;
#pragma omp parallel for schedule(static) if (s.batch * H >= kParallelMinWork)
  for (int64_t b = 0; b < s.batch; ++b) {
    T* d_pre = d_pre_t.row(b);
    const T* d_above = d_states_t.row(b);
    const T* h = h_t.row(b);
    const bool real = is_real_step(mask, b, t, s);
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T dh_total = dh[b * H + j] + d_above[j];
      d_pre[j] = real ? dh_total * Act::slope(h[j]) : T(0);
      dh_prev[b * H + j] = real ? T(0) : dh_total;
    }
  }
}

// ----- LSTM ----------------------------------------------------------------------------------

template <typename T, class Act, class Rec>
void lstm_step(const Slice<T>& gates_t, const Slice<T>& c_t, const Slice<T>& h_t,
               const T* rec, const T* bias, const Slice<const T>& c_prev,
               const Slice<const T>& h_prev, const uint8_t* mask, int64_t t, const RnnShape& s,
               Act, Rec) {
  const int64_t H = s.units;
#pragma omp parallel for schedule(static) if (s.batch * 4 * H >= kParallelMinWork)
  for (int64_t b = 0; b < s.batch; ++b) {
    T* gate = gates_t.row(b);  // x_t.kernel on entry; i, f, g, o on exit
    T *c = c_t.row(b), *h = h_t.row(b);
    const T *cp = c_prev.row(b), *hp = h_prev.row(b);
    add_in_place(gate, rec + b * 4 * H, 4 * H);  // + h_{t-1}.U
    if (bias) add_in_place(gate, bias, 4 * H);
    apply_in_place<Rec>(gate, 2 * H);            // i, f
    apply_in_place<Act>(gate + 2 * H, H);        // g
    apply_in_place<Rec>(gate + 3 * H, H);        // o
    const T *i = gate, *f = gate + H, *g = gate + 2 * H, *o = gate + 3 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) c[j] = f[j] * cp[j] + i[j] * g[j];
    std::memcpy(h, c, sizeof(T) * H);
    apply_in_place<Act>(h, H);
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) h[j] *= o[j];
    if (!is_real_step(mask, b, t, s)) {
      std::memcpy(c, cp, sizeof(T) * H);
      std::memcpy(h, hp, sizeof(T) * H);
    }
  }
}

// From dL/dh_t (dh + d_states_t) and dL/dc_t (dc, updated in place to dL/dc_{t-1}):
//   d_o = dh * act(c_t)                    dc_t += dh * o * act'(c_t)
//   d_i = dc_t * g    d_g = dc_t * i    d_f = dc_t * c_{t-1}    dc_{t-1} = dc_t * f
// each times its activation's slope gives d_pre_t; dh_prev is set to the masked rows'
// pass-through (0 elsewhere) before the recurrent gemm adds d_pre_t . U^T.
template <typename T, class Act, class Rec>
void lstm_step_backward(const Slice<T>& d_pre_t, T* dh_prev, T* dc, T* act_c, const T* dh,
                        const Slice<const T>& d_states_t, const Slice<const T>& gates_t,
                        const Slice<const T>& c_t, const Slice<const T>& c_prev,
                        const uint8_t* mask, int64_t t, const RnnShape& s, Act, Rec) {
  const int64_t H = s.units;
#pragma omp parallel for schedule(static) if (s.batch * 4 * H >= kParallelMinWork)
  for (int64_t b = 0; b < s.batch; ++b) {
    T* d_pre = d_pre_t.row(b);
    T *dc_b = dc + b * H, *dh_prev_b = dh_prev + b * H, *act_c_b = act_c + b * H;
    const T *dh_b = dh + b * H, *d_above = d_states_t.row(b);
    const T *gate = gates_t.row(b), *cp = c_prev.row(b);
    if (!is_real_step(mask, b, t, s)) {
      for (int64_t j = 0; j < H; ++j) dh_prev_b[j] = dh_b[j] + d_above[j];
      std::fill(d_pre, d_pre + 4 * H, T(0));
      continue;
    }
    std::memcpy(act_c_b, c_t.row(b), sizeof(T) * H);
    apply_in_place<Act>(act_c_b, H);
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T dh_total = dh_b[j] + d_above[j];
      const T i = gate[j], f = gate[H + j], g = gate[2 * H + j], o = gate[3 * H + j];
      const T dc_total = dc_b[j] + dh_total * o * Act::slope(act_c_b[j]);
      d_pre[j] = dc_total * g * Rec::slope(i);
      d_pre[H + j] = dc_total * cp[j] * Rec::slope(f);
      d_pre[2 * H + j] = dc_total * i * Act::slope(g);
      d_pre[3 * H + j] = dh_total * act_c_b[j] * Rec::slope(o);
      dc_b[j] = dc_total * f;
      dh_prev_b[j] = T(0);
    }
  }
}

// ----- GRU -----------------------------------------------------------------------------------

template <typename T, class Act, class Rec>
void gru_step(const Slice<T>& gates_t, const Slice<T>& u_h_t, const Slice<T>& h_t,
              T* rec, const T* input_bias, const T* recurrent_bias, const Slice<const T>& h_prev,
              const uint8_t* mask, int64_t t, const RnnShape& s, Act, Rec) {
  const int64_t H = s.units;
#pragma omp parallel for schedule(static) if (s.batch * 3 * H >= kParallelMinWork)
  for (int64_t b = 0; b < s.batch; ++b) {
    T* gate = gates_t.row(b);  // x_t.kernel on entry; z, r, h~ on exit
    T *u_h = u_h_t.row(b), *h = h_t.row(b);
    T* u = rec + b * 3 * H;  // h_{t-1}.U, this row only
    const T* hp = h_prev.row(b);
    if (input_bias) add_in_place(gate, input_bias, 3 * H);
    if (recurrent_bias) add_in_place(u, recurrent_bias, 3 * H);
    add_in_place(gate, u, 2 * H);  // z and r see x + u
    apply_in_place<Rec>(gate, 2 * H);
    std::memcpy(u_h, u + 2 * H, sizeof(T) * H);
    T *z = gate, *r = gate + H, *candidate = gate + 2 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) candidate[j] += r[j] * u_h[j];  // reset after the product
    apply_in_place<Act>(candidate, H);
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) h[j] = z[j] * hp[j] + (T(1) - z[j]) * candidate[j];
    if (!is_real_step(mask, b, t, s)) std::memcpy(h, hp, sizeof(T) * H);
  }
}

// From dL/dh_t (dh + d_states_t):
//   d_candidate = dh * (1 - z) * act'(h~)         (pre-activation of h~)
//   d_z = dh * (h_{t-1} - h~) * rec'(z)
//   d_r = d_candidate * u_h * rec'(r)
//   input side     d_pre_t = (d_z, d_r, d_candidate)
//   recurrent side d_rec_t = (d_z, d_r, d_candidate * r)
//   dh_prev = dh * z (before the recurrent gemm adds d_rec_t . U^T)
template <typename T, class Act, class Rec>
void gru_step_backward(const Slice<T>& d_pre_t, const Slice<T>& d_rec_t, T* dh_prev,
                       const T* dh, const Slice<const T>& d_states_t,
                       const Slice<const T>& gates_t, const Slice<const T>& u_h_t,
                       const Slice<const T>& h_prev, const uint8_t* mask, int64_t t,
                       const RnnShape& s, Act, Rec) {
  const int64_t H = s.units;
#pragma omp parallel for schedule(static) if (s.batch * 3 * H >= kParallelMinWork)
  for (int64_t b = 0; b < s.batch; ++b) {
    T *d_pre = d_pre_t.row(b), *d_rec = d_rec_t.row(b);
    const T* d_above = d_states_t.row(b);
    const T *gate = gates_t.row(b), *u_h = u_h_t.row(b), *hp = h_prev.row(b);
    if (!is_real_step(mask, b, t, s)) {
      for (int64_t j = 0; j < H; ++j) dh_prev[b * H + j] = dh[b * H + j] + d_above[j];
      std::fill(d_pre, d_pre + 3 * H, T(0));
      std::fill(d_rec, d_rec + 3 * H, T(0));
      continue;
    }
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T dh_total = dh[b * H + j] + d_above[j];
      const T z = gate[j], r = gate[H + j], candidate = gate[2 * H + j];
      const T d_candidate = dh_total * (T(1) - z) * Act::slope(candidate);
      const T d_z = dh_total * (hp[j] - candidate) * Rec::slope(z);
      const T d_r = d_candidate * u_h[j] * Rec::slope(r);
      d_pre[j] = d_rec[j] = d_z;
      d_pre[H + j] = d_rec[H + j] = d_r;
      d_pre[2 * H + j] = d_candidate;
      d_rec[2 * H + j] = d_candidate * r;
      dh_prev[b * H + j] = dh_total * z;
    }
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
    for (int64_t t = 0; t < s.steps; ++t) {
      const Slice<const T> h_prev = previous(states, h0, t, s);
      const Slice<T> h_t{states + t * H, TH};
      // pre_t += h_{t-1} . U  (different columns of `states`: no aliasing)
      gemm<T>(h_t.data, TH, h_prev.data, h_prev.ld, false, recurrent_kernel, H, false, s.batch, H,
              H, T(1), T(1));
      simple_rnn_step<T>(h_t, h_prev, bias, mask, t, s, act);
    }
  });
}

template <typename T>
void simple_rnn_backward(T* d_x, T* d_h0, T* d_kernel, T* d_recurrent_kernel, T* d_bias,
                         const T* d_states, const T* d_final_h, const T* x, const T* h0,
                         const T* kernel, const T* recurrent_kernel, const T* states,
                         const uint8_t* mask, const RnnShape& s, Activation activation) {
  const int64_t H = s.units, TH = s.steps * s.units, BH = s.batch * s.units;
  T* d_pre = scratch<T>(Scratch::PreGradients, s.batch * TH);
  auto dh = buffer<T>(BH), dh_prev = buffer<T>(BH);
  const auto recurrent_t = transposed(recurrent_kernel, H, H);
  start_gradient(dh.get(), d_final_h, s);
  with_activation(activation, [&](auto act) {
    for (int64_t t = s.steps - 1; t >= 0; --t) {
      const Slice<T> d_pre_t{d_pre + t * H, TH};
      simple_rnn_step_backward<T>(d_pre_t, dh_prev.get(), dh.get(), {d_states + t * H, TH},
                                  {states + t * H, TH}, mask, t, s, act);
      recurrent_backward<T>(dh_prev.get(), {d_pre_t.data, TH}, recurrent_t.get(), H, s);
      std::swap(dh, dh_prev);
    }
  });
  std::memcpy(d_h0, dh.get(), sizeof(T) * BH);
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
  auto rec = buffer<T>(s.batch * G);
  with_activations(activation, recurrent_activation, [&](auto act, auto rec_act) {
    for (int64_t t = 0; t < s.steps; ++t) {
      const Slice<const T> h_prev = previous(states, h0, t, s);
      const Slice<const T> c_prev = previous(cells, c0, t, s);
      gemm<T>(rec.get(), G, h_prev.data, h_prev.ld, false, recurrent_kernel, G, false, s.batch, G,
              H, T(1), T(0));
      lstm_step<T>({gates + t * G, TG}, {cells + t * H, TH}, {states + t * H, TH}, rec.get(),
                   bias, c_prev, h_prev, mask, t, s, act, rec_act);
    }
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
  auto dh = buffer<T>(BH), dh_prev = buffer<T>(BH), dc = buffer<T>(BH);
  const auto recurrent_t = transposed(recurrent_kernel, H, G);
  auto act_c = buffer<T>(BH);  // act(c_t) of the step being processed
  start_gradient(dh.get(), d_final_h, s);
  start_gradient(dc.get(), d_final_c, s);
  with_activations(activation, recurrent_activation, [&](auto act, auto rec_act) {
    for (int64_t t = s.steps - 1; t >= 0; --t) {
      const Slice<T> d_pre_t{d_pre + t * G, TG};
      lstm_step_backward<T>(d_pre_t, dh_prev.get(), dc.get(), act_c.get(), dh.get(),
                            {d_states + t * H, TH}, {gates + t * G, TG}, {cells + t * H, TH},
                            previous(cells, c0, t, s), mask, t, s, act, rec_act);
      recurrent_backward<T>(dh_prev.get(), {d_pre_t.data, TG}, recurrent_t.get(), G, s);
      std::swap(dh, dh_prev);
    }
  });
  std::memcpy(d_h0, dh.get(), sizeof(T) * BH);
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
  auto rec = buffer<T>(s.batch * G);
  with_activations(activation, recurrent_activation, [&](auto act, auto rec_act) {
    for (int64_t t = 0; t < s.steps; ++t) {
      const Slice<const T> h_prev = previous(states, h0, t, s);
      gemm<T>(rec.get(), G, h_prev.data, h_prev.ld, false, recurrent_kernel, G, false, s.batch, G,
              H, T(1), T(0));
      gru_step<T>({gates + t * G, TG}, {recurrent_h + t * H, TH}, {states + t * H, TH},
                  rec.get(), bias, recurrent_bias, h_prev, mask, t, s, act, rec_act);
    }
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
  auto dh = buffer<T>(BH), dh_prev = buffer<T>(BH);
  const auto recurrent_t = transposed(recurrent_kernel, H, G);
  start_gradient(dh.get(), d_final_h, s);
  with_activations(activation, recurrent_activation, [&](auto act, auto rec_act) {
    for (int64_t t = s.steps - 1; t >= 0; --t) {
      const Slice<T> d_rec_t{d_rec + t * G, TG};
      gru_step_backward<T>({d_pre + t * G, TG}, d_rec_t, dh_prev.get(), dh.get(),
                           {d_states + t * H, TH}, {gates + t * G, TG},
                           {recurrent_h + t * H, TH}, previous(states, h0, t, s), mask, t, s,
                           act, rec_act);
      recurrent_backward<T>(dh_prev.get(), {d_rec_t.data, TG}, recurrent_t.get(), G, s);
      std::swap(dh, dh_prev);
    }
  });
  std::memcpy(d_h0, dh.get(), sizeof(T) * BH);
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

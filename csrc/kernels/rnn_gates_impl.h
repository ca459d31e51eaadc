// rnn_gates_impl.h: the body of rnn_gates_{generic,avx2,avx512}.cpp (the functions of
// rnn_gates.h).  Each of those files defines CHALKNET_GATES_ISA (the namespace) and includes
// this one, so the same loops are compiled once per instruction set; everything here lives in
// that namespace (no inline function is shared between files built with different flags).
// The backward rows are the formulas of rnn_cell_backward.inc, included here with this file's
// tanh and sigmoid.
//
// e^x for float, Cephes's expf scheme written without branches so that the loops vectorise:
// x is clamped to [-87, 88] (where e^x is a normal float), split as x = n ln2 + r with
// |r| <= ln2/2 (ln2 in two parts, Cody-Waite), e^r comes from a degree-7 polynomial
// (relative error about 1 ulp) and 2^n is written straight into the exponent bits.  n is
// rounded with the 1.5 * 2^23 trick, so there is no float-to-int conversion (and no undefined
// behaviour on NaN, which propagates through the polynomial).
#include <cstdint>
#include <cstring>
#include <limits>

#include "rnn_gates.h"

#ifndef CHALKNET_GATES_ISA
#error "define CHALKNET_GATES_ISA before including rnn_gates_impl.h"
#endif

namespace chalknet::rnn_gates::CHALKNET_GATES_ISA {
namespace {

inline float exp_approx(float x) {
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const float given = x;  // e^-inf = 0 and e^inf = inf exactly (so sigmoid(-inf) = 0)
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float shifted = x * 1.44269504088896341f + kShift;
  const float n = shifted - kShift;
  float r = x - n * 0.693359375f;  // ln2, high part (exact in float)
  r = r - n * -2.12194440e-4f;     // ln2, low part
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t shifted_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
  // The low mantissa bits of `shifted` hold n, offset from kShift's bit pattern 0x4B400000;
  // unsigned arithmetic, so a NaN's bits wrap harmlessly instead of overflowing.
  const uint32_t scale_bits = (shifted_bits - 0x4B400000u + 127u) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  const float result = p * scale;
  return given == kInf ? kInf : (given == -kInf ? 0.0f : result);
}

inline float sigmoid_of(float x) { return 1.0f / (1.0f + exp_approx(-x)); }
inline float tanh_of(float x) { return 1.0f - 2.0f / (exp_approx(2.0f * x) + 1.0f); }

// The activations as rnn_cell_backward.inc wants them: apply(x), and slope(y) = act'(x) given
// y = act(x).
struct Tanh {
  static float apply(float x) { return tanh_of(x); }
  static float slope(float y) { return 1.0f - y * y; }
};
struct Sigmoid {
  static float apply(float x) { return sigmoid_of(x); }
  static float slope(float y) { return y * (1.0f - y); }
};

#include "rnn_cell_backward.inc"

// v[j] += w[j] for j < n, when w is given.
inline void add_bias(float* v, const float* w, int64_t n) {
  if (w == nullptr) return;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) v[j] += w[j];
}

void sigmoid(float* v, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) v[j] = sigmoid_of(v[j]);
}

void tanh(float* v, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) v[j] = tanh_of(v[j]);
}

void lstm_cell(float* gate, int64_t stride, const float* bias, const float* c_prev, float* c,
               float* h, int64_t n) {
  float *i = gate, *f = gate + stride, *g = gate + 2 * stride, *o = gate + 3 * stride;
  for (int64_t block = 0; block < 4; ++block) {
    add_bias(gate + block * stride, bias ? bias + block * stride : nullptr, n);
  }
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    i[j] = sigmoid_of(i[j]);
    f[j] = sigmoid_of(f[j]);
    g[j] = tanh_of(g[j]);
    o[j] = sigmoid_of(o[j]);
    c[j] = f[j] * c_prev[j] + i[j] * g[j];
    h[j] = o[j] * tanh_of(c[j]);
  }
}

void gru_cell(float* gate, int64_t stride, const float* input_bias, const float* recurrent_bias,
              float* u_h, const float* h_prev, float* h, int64_t n) {
  float *z = gate, *r = gate + stride, *candidate = gate + 2 * stride;
  for (int64_t block = 0; block < 3; ++block) {
    add_bias(gate + block * stride, input_bias ? input_bias + block * stride : nullptr, n);
  }
  add_bias(z, recurrent_bias, n);
  add_bias(r, recurrent_bias ? recurrent_bias + stride : nullptr, n);
  add_bias(u_h, recurrent_bias ? recurrent_bias + 2 * stride : nullptr, n);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    z[j] = sigmoid_of(z[j]);
    r[j] = sigmoid_of(r[j]);
    candidate[j] = tanh_of(candidate[j] + r[j] * u_h[j]);
    h[j] = z[j] * h_prev[j] + (1.0f - z[j]) * candidate[j];
  }
}

void lstm_cell_backward(float* d_pre, int64_t stride, float* dc, float* dh_prev, const float* dh,
                        const float* d_above, const float* gate, const float* c,
                        const float* c_prev, int64_t n) {
  lstm_backward_row<float, Tanh, Sigmoid>(d_pre, stride, dc, dh_prev, dh, d_above, gate, c,
                                          c_prev, n);
}

void gru_cell_backward(float* d_pre, float* d_rec, int64_t stride, float* dh_prev,
                       const float* dh, const float* d_above, const float* gate,
                       const float* u_h, const float* h_prev, int64_t n) {
  gru_backward_row<float, Tanh, Sigmoid>(d_pre, d_rec, stride, dh_prev, dh, d_above, gate, u_h,
                                         h_prev, n);
}

}  // namespace

#define CHALKNET_GATES_NAME_(isa) #isa
#define CHALKNET_GATES_NAME(isa) CHALKNET_GATES_NAME_(isa)
const Table kTable = {sigmoid, tanh, lstm_cell, gru_cell, lstm_cell_backward, gru_cell_backward,
                      CHALKNET_GATES_NAME(CHALKNET_GATES_ISA)};
#undef CHALKNET_GATES_NAME
#undef CHALKNET_GATES_NAME_

}  // namespace chalknet::rnn_gates::CHALKNET_GATES_ISA

// rnn_gates.h: the float sigmoid and tanh loops of the recurrent gate passes, one build per
// instruction set (rnn_gates_generic.cpp, rnn_gates_avx2.cpp, rnn_gates_avx512.cpp, each
// compiled with its own flags from rnn_gates_impl.h), chosen once at run time.
//
//   sigmoid(v, n):  v[j] = 1 / (1 + e^{-v[j]})       for j < n, in place
//   tanh(v, n):     v[j] = 1 - 2 / (e^{2 v[j]} + 1)
//
// and the whole fused pass of one batch row of an LSTM or GRU step with Keras's default
// activations (sigmoid gates, tanh cell), one loop over the units that reads and writes each
// value once (the separate passes of rnn.cpp cost about twice as much on the large layers):
//
//   lstm_cell(gate, stride, bias, c_prev, c, h, n): the gate blocks i, f, g, o start at gate
//     + {0, 1, 2, 3} * stride and hold pre-activations without the bias (blocks of bias
//     likewise, or null); in place i, f, o = sigmoid, g = tanh of (block + bias), then
//     c = f * c_prev + i * g and h = o * tanh(c).
//   gru_cell(gate, stride, input_bias, recurrent_bias, u_h, h_prev, h, n): blocks z, r, h~
//     hold x.kernel (z and r plus h_prev.U), u_h the candidate's h_prev.U; in place
//     z, r = sigmoid(block + input_bias + recurrent_bias), u_h += its recurrent bias,
//     h~ = tanh(block + input_bias + r * u_h), then h = z * h_prev + (1 - z) * h~.
//     Either bias may be null.
//   lstm_cell_backward, gru_cell_backward: one row of the backward steps, the formulas of
//     rnn_cell_backward.inc with these activations (arguments as there).
//
// e^x is computed branch-free (see rnn_gates_impl.h) with a relative error of about 1 ulp;
// tanh's absolute error is a few ulp of 1.  NaN propagates.
#pragma once
#include <cstdint>

namespace chalknet::rnn_gates {

using LstmCell = void (*)(float* gate, int64_t stride, const float* bias, const float* c_prev,
                          float* c, float* h, int64_t n);
using GruCell = void (*)(float* gate, int64_t stride, const float* input_bias,
                         const float* recurrent_bias, float* u_h, const float* h_prev, float* h,
                         int64_t n);

using LstmCellBackward = void (*)(float* d_pre, int64_t stride, float* dc, float* dh_prev,
                                  const float* dh, const float* d_above, const float* gate,
                                  const float* c, const float* c_prev, int64_t n);
using GruCellBackward = void (*)(float* d_pre, float* d_rec, int64_t stride, float* dh_prev,
                                 const float* dh, const float* d_above, const float* gate,
                                 const float* u_h, const float* h_prev, int64_t n);

struct Table {
  void (*sigmoid)(float* v, int64_t n);
  void (*tanh)(float* v, int64_t n);
  LstmCell lstm_cell;
  GruCell gru_cell;
  LstmCellBackward lstm_cell_backward;
  GruCellBackward gru_cell_backward;
  const char* isa;
};

// The best build this CPU and OS support; CHALKNET_ISA=generic|avx2|avx512 may lower it.
const Table& table();

// Each build's table, constant data defined in rnn_gates_<isa>.cpp (so linking a build this
// CPU cannot run is safe: no code of it runs unless chosen).
namespace generic {
extern const Table kTable;
}
namespace avx2 {
extern const Table kTable;
}
namespace avx512 {
extern const Table kTable;
}

}  // namespace chalknet::rnn_gates

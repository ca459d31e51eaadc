// rnn_gates.h: the float sigmoid and tanh loops of the recurrent gate passes, one build per
// instruction set (rnn_gates_generic.cpp, rnn_gates_avx2.cpp, rnn_gates_avx512.cpp, each
// compiled with its own flags from rnn_gates_impl.h), chosen once at run time.
//
//   sigmoid(v, n):  v[j] = 1 / (1 + e^{-v[j]})       for j < n, in place
//   tanh(v, n):     v[j] = 1 - 2 / (e^{2 v[j]} + 1)
//
// e^x is computed branch-free (see rnn_gates_impl.h) with a relative error of about 1 ulp;
// tanh's absolute error is a few ulp of 1.  NaN propagates.
#pragma once
#include <cstdint>

namespace chalknet::rnn_gates {

struct Table {
  void (*sigmoid)(float* v, int64_t n);
  void (*tanh)(float* v, int64_t n);
  const char* isa;
};

// The best build this CPU and OS support; CHALKNET_ISA=generic|avx2|avx512 may lower it.
const Table& table();

namespace generic {
void sigmoid(float* v, int64_t n);
void tanh(float* v, int64_t n);
}  // namespace generic
namespace avx2 {
void sigmoid(float* v, int64_t n);
void tanh(float* v, int64_t n);
}  // namespace avx2
namespace avx512 {
void sigmoid(float* v, int64_t n);
void tanh(float* v, int64_t n);
}  // namespace avx512

}  // namespace chalknet::rnn_gates

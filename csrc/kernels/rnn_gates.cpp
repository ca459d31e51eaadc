// rnn_gates.cpp: picks the build of the gate loops once, from the CPU's features (cpu.h, with
// the OS check) lowered by CHALKNET_ISA when it asks for less.  Built without ISA flags.
#include "rnn_gates.h"

#include <cstdlib>
#include <string>

#include "cpu.h"

namespace chalknet::rnn_gates {
namespace {

#ifdef CHALKNET_RNN_GATES_X86
Isa chosen_isa() {
  Isa isa = detect_isa();
  const char* requested = std::getenv("CHALKNET_ISA");
  Isa lower;
  if (requested && parse_isa(requested, &lower) && lower < isa) isa = lower;
  return isa;
}
#endif

Table make_table() {
#ifdef CHALKNET_RNN_GATES_X86
  switch (chosen_isa()) {
    case Isa::Avx512:
      return {avx512::sigmoid, avx512::tanh, avx512::lstm_cell, avx512::gru_cell,
              avx512::lstm_cell_backward, avx512::gru_cell_backward, "avx512"};
    case Isa::Avx2:
      return {avx2::sigmoid, avx2::tanh, avx2::lstm_cell, avx2::gru_cell,
              avx2::lstm_cell_backward, avx2::gru_cell_backward, "avx2"};
    case Isa::Generic: break;
  }
#endif
  return {generic::sigmoid, generic::tanh, generic::lstm_cell, generic::gru_cell,
          generic::lstm_cell_backward, generic::gru_cell_backward, "generic"};
}

}  // namespace

const Table& table() {
  static const Table chosen = make_table();  // thread-safe one-time initialisation
  return chosen;
}

}  // namespace chalknet::rnn_gates

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

const Table& chosen_table() {
#ifdef CHALKNET_RNN_GATES_X86
  switch (chosen_isa()) {
    case Isa::Avx512: return avx512::kTable;
    case Isa::Avx2: return avx2::kTable;
    case Isa::Generic: break;
  }
#endif
  return generic::kTable;
}

}  // namespace

const Table& table() {
  static const Table& chosen = chosen_table();  // thread-safe one-time initialisation
  return chosen;
}

}  // namespace chalknet::rnn_gates

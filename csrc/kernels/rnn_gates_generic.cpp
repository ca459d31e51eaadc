// rnn_gates_generic.cpp: the gate activation loops built for any CPU (no extra flags).
#define CHALKNET_GATES_ISA generic
#include "rnn_gates_impl.h"

// rnn_gates_avx2.cpp: the gate activation loops built for avx2 (flags set in CMakeLists.txt).
#define CHALKNET_GATES_ISA avx2
#include "rnn_gates_impl.h"

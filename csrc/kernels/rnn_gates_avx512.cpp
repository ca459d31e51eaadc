// rnn_gates_avx512.cpp: the gate activation loops built for avx512 (flags set in CMakeLists.txt).
#define CHALKNET_GATES_ISA avx512
#include "rnn_gates_impl.h"

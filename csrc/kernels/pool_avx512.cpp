// pool_avx512.cpp: the pooling loops built for avx512 (flags set in CMakeLists.txt).
#define CHALKNET_POOL_ISA avx512
#include "pool_impl.h"

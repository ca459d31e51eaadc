// pool_avx2.cpp: the pooling loops built for avx2 (flags set in CMakeLists.txt).
#define CHALKNET_POOL_ISA avx2
#include "pool_impl.h"

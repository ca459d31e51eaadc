// pool_generic.cpp: the pooling loops built for generic (flags set in CMakeLists.txt).
#define CHALKNET_POOL_ISA generic
#include "pool_impl.h"

// winograd_transform_avx2.cpp: the Winograd transform loops built for avx2 (flags set in
// CMakeLists.txt).
#define CHALKNET_WINOGRAD_ISA avx2
#include "winograd_transform_impl.h"

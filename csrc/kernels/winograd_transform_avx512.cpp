// winograd_transform_avx512.cpp: the Winograd transform loops built for avx512 (flags set in
// CMakeLists.txt).
#define CHALKNET_WINOGRAD_ISA avx512
#include "winograd_transform_impl.h"

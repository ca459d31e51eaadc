// winograd_transform_generic.cpp: the Winograd transform loops built for generic (flags set in
// CMakeLists.txt).
#define CHALKNET_WINOGRAD_ISA generic
#include "winograd_transform_impl.h"

// cpu.h: what the CPU can do and how many threads the kernels use.
//
// The instruction-set level is detected once (CPUID plus the OS check that the wide registers
// are saved on context switch, XGETBV) and may be lowered, never raised, by the environment
// variable CHALKNET_ISA=generic|avx2|avx512.
#pragma once
#include <cstdint>
#include <string>

namespace chalknet {

enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };

// The best level this CPU and OS support.
Isa detect_isa();
// Name of a level: "generic", "avx2", "avx512".
const char* isa_name(Isa isa);
// Parse a name; returns false when the name is unknown.
bool parse_isa(const std::string& name, Isa* out);

// Bytes of one core's L1 data cache and L2 cache as the C library reports them (sysconf), or
// 32 KiB and 512 KiB when it does not say.  Read once.
int64_t l1_cache_bytes();
int64_t l2_cache_bytes();

// Threads used by the OpenMP kernels (1 when built without OpenMP).
int get_num_threads();
void set_num_threads(int n);
bool have_openmp();

}  // namespace chalknet

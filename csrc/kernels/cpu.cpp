// cpu.cpp: CPU feature detection (CPUID/XGETBV on x86-64, generic elsewhere) and thread count.
#include "cpu.h"

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(_M_X64)
#define CHALKNET_X86_64 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace chalknet {

#if defined(CHALKNET_X86_64)
namespace {

void cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
#if defined(_MSC_VER)
  int r[4];
  __cpuidex(r, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) regs[i] = static_cast<unsigned>(r[i]);
#else
  __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

// XCR0: which register states the OS saves (bit 1 SSE, 2 AVX, 5-7 AVX-512 opmask/ZMM).
unsigned long long xcr0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
#endif
}

}  // namespace

Isa detect_isa() {
  unsigned r[4];
  cpuid(0, 0, r);
  if (r[0] < 7) return Isa::Generic;
  cpuid(1, 0, r);
  const bool osxsave = (r[2] >> 27) & 1;
  const bool fma = (r[2] >> 12) & 1;
  if (!osxsave) return Isa::Generic;
  const unsigned long long xcr = xcr0();
  const bool os_avx = (xcr & 0x6) == 0x6;
  const bool os_avx512 = (xcr & 0xE6) == 0xE6;
  cpuid(7, 0, r);
  const bool avx2 = (r[1] >> 5) & 1;
  const bool avx512f = (r[1] >> 16) & 1;
  const bool avx512dq = (r[1] >> 17) & 1;
  const bool avx512bw = (r[1] >> 30) & 1;
  const bool avx512vl = (r[1] >> 31) & 1;
  if (os_avx512 && avx512f && avx512dq && avx512bw && avx512vl && fma) return Isa::Avx512;
  if (os_avx && avx2 && fma) return Isa::Avx2;
  return Isa::Generic;
}
#else
Isa detect_isa() { return Isa::Generic; }
#endif

#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
namespace {

// sysconf's answer for `name` when positive, else `fallback`.
int64_t reported_or(int name, int64_t fallback) {
  const long reported = sysconf(name);
  return reported > 0 ? static_cast<int64_t>(reported) : fallback;
}

}  // namespace

int64_t l1_cache_bytes() {
  static const int64_t bytes = reported_or(_SC_LEVEL1_DCACHE_SIZE, int64_t(32) << 10);
  return bytes;
}
int64_t l2_cache_bytes() {
  static const int64_t bytes = reported_or(_SC_LEVEL2_CACHE_SIZE, int64_t(512) << 10);
  return bytes;
}
#else
int64_t l1_cache_bytes() { return int64_t(32) << 10; }
int64_t l2_cache_bytes() { return int64_t(512) << 10; }
#endif

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
  }
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "generic") { *out = Isa::Generic; return true; }
  if (name == "avx2") { *out = Isa::Avx2; return true; }
  if (name == "avx512") { *out = Isa::Avx512; return true; }
  return false;
}

#if defined(_OPENMP)
int get_num_threads() { return omp_get_max_threads(); }
void set_num_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }
bool have_openmp() { return true; }
#else
int get_num_threads() { return 1; }
void set_num_threads(int) {}
bool have_openmp() { return false; }
#endif

}  // namespace chalknet

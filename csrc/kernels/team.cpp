// team.cpp: see team.h.
#include "team.h"

#include <atomic>
#include <chrono>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace chalknet {
namespace {

// For this long after a region ends its workers are taken to be spinning still (GOMP_SPINCOUNT
// 1,000 spun for 10-15 us on the benchmark VM: a 128^3 product 5-10 us after the previous one
// found the team spinning, 20 us after it found it asleep).
constexpr int64_t kSpinningNs = 8000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::atomic<int64_t> g_last_region_end_ns{0};  // steady clock
std::atomic<int64_t> g_cold_region_ns{kColdRegionNs};
std::atomic<int64_t> g_parallel_choices{0};

bool team_exists() {
#if defined(_OPENMP)
  return omp_get_max_threads() > 1 && !omp_in_parallel();
#else
  return false;
#endif
}

bool team_ready(int64_t serial_ns) {
  if (now_ns() - g_last_region_end_ns.load(std::memory_order_relaxed) < kSpinningNs) return true;
#if defined(_OPENMP)
  const int64_t threads = omp_get_max_threads();
  return serial_ns * (threads - 1) > g_cold_region_ns.load(std::memory_order_relaxed) * threads;
#else
  (void)serial_ns;
  return false;
#endif
}

}  // namespace

TeamChoice::TeamChoice(bool big_enough, int64_t serial_ns)
    : parallel(big_enough && team_exists() && team_ready(serial_ns)) {
  if (parallel) g_parallel_choices.fetch_add(1, std::memory_order_relaxed);
}

TeamChoice::~TeamChoice() {
  if (parallel) g_last_region_end_ns.store(now_ns(), std::memory_order_relaxed);
}

void override_cold_region_ns(int64_t ns) {
  g_cold_region_ns.store(ns < 0 ? kColdRegionNs : ns, std::memory_order_relaxed);
}

int64_t parallel_choices() { return g_parallel_choices.load(std::memory_order_relaxed); }

}  // namespace chalknet

// team.h: whether a parallel region pays for waking the other OpenMP threads.
//
// After a parallel region libgomp's worker threads spin for a moment (GOMP_SPINCOUNT: chalknet
// sets 1,000, about 10 us here), then sleep.  A region that finds them spinning costs about a
// microsecond.  One that has to wake them pays the wake-up, and then the woken thread works
// from cold caches: its core slept, and the data it needs sits in the caller's cache.  On the
// 2-core VM of the benchmarks (measured 2026-12-05, medians):
//   - a 64x784x256 float product took 150-157 us on one thread, 78-82 us on two spinning
//     threads, and 155-180 us on two threads woken after 20-1000 us of serial work (80 us
//     with OMP_WAIT_POLICY=active, where the workers never sleep);
//   - 128^3: 22-28 us on one thread, 13.5 us warm, 85-94 us woken;
//   - 256^3: 155-172 us on one thread, 84-97 us warm, 136-156 us woken.
// So on a sleeping team a split pays only from about 150-165 us of serial work, where the
// woken team's extra cost, about 75-80 us, equals the half the split saves.  With t threads a
// region runs serial / t of the work plus that cost: it pays when
// serial * (t - 1) / t > kColdRegionNs.  Each kernel's own threshold still says when its work
// beats a fork/join on spinning threads.
//
// A measured constant rather than a calibration at run time: on this VM short calibrations
// read anywhere from 1 to 126 us from run to run, and a fixed rule keeps which path runs
// reproducible.  Where waking is cheaper (a laptop without a hypervisor), kernels of at most
// ~150 us stay on one thread and lose at most about half of that.  The choice never changes a
// result: every kernel computes the same values on any number of threads.
#pragma once
#include <cstdint>

namespace chalknet {

// What a region on a sleeping team costs beyond one on a spinning team (see above).
constexpr int64_t kColdRegionNs = 75000;

// Rough serial speeds that turn a kernel's work into time (one core, float; measured here:
// gemm 82-93 multiply-adds per ns from 128^3 to 256^3, ReLU's backward 2.4-7 elements per ns).
constexpr int64_t kMultiplyAddsPerNs = 80;
constexpr int64_t kElementsPerNs = 4;

// One kernel's choice of threads.  `parallel` is true when the kernel's own test passes
// (`big_enough`: its work beats a fork/join on spinning threads) and the team is ready: a
// parallel region ended moments ago (its threads still spin), or `serial_ns`, the time the
// work takes on one thread, hides the cold-region cost.  Never inside a parallel region or
// with one thread.  Leaving the scope after a parallel region records when the team started
// spinning: construct it in the scope that ends with the kernel's region.  (Out of line, so
// the per-instruction-set files share no code through it.)
class TeamChoice {
 public:
  TeamChoice(bool big_enough, int64_t serial_ns);
  ~TeamChoice();
  TeamChoice(const TeamChoice&) = delete;
  TeamChoice& operator=(const TeamChoice&) = delete;

  const bool parallel;
};

// For the tests: take a region on a sleeping team to cost `ns` (negative: kColdRegionNs
// again), and count the TeamChoices that chose a parallel region.
void override_cold_region_ns(int64_t ns);
int64_t parallel_choices();

}  // namespace chalknet

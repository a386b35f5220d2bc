// The timing rule every calibration GEMM follows, written once: one untimed run (first touch,
// JIT, clocks ramping up), then the best of `runs` timed runs. The peak, not the mean, is the
// denominator of a fraction-of-peak, so the best run is the figure.
#pragma once

#include <algorithm>
#include <limits>

namespace sdpa {

// `timed_run()` runs the workload once and returns its time in seconds, measured however the
// device is best timed (wall clock, CUDA events). Returns the smallest of `runs` such times.
template <class TimedRun>
double best_of_seconds(int runs, TimedRun&& timed_run) {
  timed_run();
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < runs; ++r) best = std::min(best, static_cast<double>(timed_run()));
  return best;
}

}  // namespace sdpa

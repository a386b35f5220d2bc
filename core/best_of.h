// The timing rule every calibration GEMM follows, written once: one untimed run (first touch,
// JIT, clocks ramping up), then the best of `runs` timed runs. The peak, not the mean, is the
// denominator of a fraction-of-peak, so the best run is the figure.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <vector>

namespace sdpa {

// The rule for several workloads measured together: each runs once untimed, then `rounds`
// rounds in which workload i runs runs_per_round[i] times. On a shared machine whose speed
// swings over seconds, each workload's best then comes from the whole window, not from its own
// slice of it (which may lie wholly in a slow phase). Returns each workload's best, in order.
inline std::vector<double> best_of_seconds_interleaved(int rounds, const std::vector<int>& runs_per_round,
                                                       const std::vector<std::function<double()>>& timed_runs) {
  std::vector<double> best(timed_runs.size(), std::numeric_limits<double>::infinity());
  for (const auto& run : timed_runs) run();
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < timed_runs.size(); ++i) {
      for (int k = 0; k < runs_per_round[i]; ++k) best[i] = std::min(best[i], timed_runs[i]());
    }
  }
  return best;
}

// `timed_run()` runs the workload once and returns its time in seconds, measured however the
// device is best timed (wall clock, CUDA events). Returns the smallest of `runs` such times: the
// interleaved rule above with one workload.
template <class TimedRun>
double best_of_seconds(int runs, TimedRun&& timed_run) {
  const std::function<double()> run = [&] { return static_cast<double>(timed_run()); };
  return best_of_seconds_interleaved(runs, {1}, {run})[0];
}

}  // namespace sdpa

// Statistics of a paired, interleaved A/B comparison: base and current timed in alternating
// short rounds, each round pair giving one log ratio log(current / base). The estimate is the
// Hodges–Lehmann median of the Walsh averages, its interval the one the Wilcoxon signed-rank
// test inverts (exact null distribution), so a slow phase of the machine that hits both sides
// of a pair cancels, and one that hits one side only moves a few ratios: it widens the interval
// more than it moves the estimate. Pure functions: no clock, no I/O.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace sdpa {

struct RatioInterval {
  std::size_t n = 0;       // round pairs
  double ratio = 1;        // current / base, Hodges–Lehmann
  double lo = 0, hi = 0;   // the confidence interval of the ratio; 0, +inf when n is too small
  double confidence = 0;   // the interval's actual coverage (exact; >= the level asked)
  // Half the interval's width in log space as a ratio (sqrt(hi / lo) - 1): the smallest effect
  // this run resolves around its estimate. +inf when there is no interval.
  double half_width() const;
};

// Hodges–Lehmann estimate and Wilcoxon signed-rank confidence interval of exp(median) of
// `log_ratios`, at `level` (e.g. 0.95). Fewer than 6 pairs give no finite interval at 0.95.
RatioInterval paired_ratio_interval(const std::vector<double>& log_ratios, double level = 0.95);

enum class PairedVerdict { same, slower, faster, unresolved };
std::string_view to_string(PairedVerdict verdict);

// SLOWER only when the whole interval lies above 1 + threshold, FASTER when it lies below
// 1 / (1 + threshold), SAME when it lies within [1 / (1 + threshold), 1 + threshold];
// UNRESOLVED otherwise (the run could not tell).
PairedVerdict judge_ratio(const RatioInterval& interval, double threshold);

// The confirmation of a first batch's SLOWER by later, independent batches of the same case
// (fresh blocks timed after every other case). Requiring every batch's interval to lie above
// 1 + threshold again would compound the misses of a real slowdown (three batches each resolving
// it with probability p confirm it with p^3), and a later batch that meets a loaded machine is
// noisier than the first. Instead each later batch must point the same way (its Hodges–Lehmann
// ratio above 1) and the interval over all blocks pooled must still lie above 1 + threshold. A
// first batch that said SLOWER by chance, or by a slow phase it met alone, is refused: later
// blocks near 1 pull the pooled interval down to 1.
struct SlowerConfirmation {
  bool confirmed = false;
  RatioInterval pooled;                 // every block of every batch
  std::vector<RatioInterval> batches;   // each later batch alone
};
SlowerConfirmation confirm_slower(const std::vector<double>& first, const std::vector<std::vector<double>>& later,
                                  double threshold, double level = 0.95);

// The median of samples (the worker's warm-up estimate, a case's summary over its rounds).
double round_statistic(std::vector<double> samples);

// One timed round's statistic: its lower quartile (nearest rank). Interference on a shared
// machine (preemption, another job's cache traffic) only adds time, so the low calls of a round
// are the ones that measure the code; a quartile rather than the minimum keeps one lucky call
// from deciding.
double round_low_quartile(std::vector<double> samples);

}  // namespace sdpa

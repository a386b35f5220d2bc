// Pure statistics used by measurements and reports: percentiles, summaries, log-log fits.
#pragma once

#include <cstdint>
#include <vector>

namespace sdpa {

// Percentile by linear interpolation between order statistics (NumPy's default, "linear"):
// q in [0, 100]. Empty input gives NaN.
double percentile(std::vector<double> samples, double q);

struct Summary {
  int64_t count = 0;
  double min = 0, mean = 0, stddev = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
Summary summarize(const std::vector<double>& samples);

// Least-squares fit of log(y) = intercept + slope·log(x): the exponent of a power law.
struct PowerFit {
  double slope = 0;
  double intercept = 0;
  double r2 = 0;  // coefficient of determination of the log-log fit
  int64_t points = 0;
};
PowerFit fit_power_law(const std::vector<double>& x, const std::vector<double>& y);

// MLPerf's early-stopping rule for a latency percentile claim: the smallest number of samples
// for which, with zero samples above the claimed percentile, the claim holds at 99% confidence
// (binomial). 0.90 -> 44; 0.99 -> 459. MLPerf rounds these up to its own 64 / 662 minimums.
int64_t min_samples_for_percentile(double percentile_fraction, double confidence = 0.99);

// MLPerf's early-stopping estimate of a latency percentile: the smallest sample x_(j) (1-based
// order statistic) such that, with `confidence`, the true `percentile_fraction` quantile is at
// most x_(j): P(Binomial(n, q) >= j) <= 1 - confidence. NaN when the samples cannot support
// the claim at all (then min_samples_for_percentile() says how many would).
double early_stopping_percentile(std::vector<double> samples, double percentile_fraction, double confidence = 0.99);

}  // namespace sdpa

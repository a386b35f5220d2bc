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

// Mann-Whitney U test (Wilcoxon rank-sum), two-sided: do the values of x tend to differ from
// those of y? Rank-based, so a few outliers (a preempted sample) cannot make a slowdown look
// significant the way they inflate a t-test's mean. Computed as scipy.stats.mannwhitneyu
// (method "auto", the test Google Benchmark's compare.py runs): the exact null distribution when
// a sample has at most 8 values and there are no ties, else the normal approximation with the tie
// correction of the variance and a continuity correction of 0.5.
struct MannWhitney {
  double u = 0;  // U of x: the pairs (x_i, y_j) with x_i > y_j, a tie counting one half
  double p_value = 1;  // two-sided; 1 when a sample is empty or every value is equal
  bool exact = false;  // exact distribution (else the normal approximation)
};
MannWhitney mann_whitney_u(const std::vector<double>& x, const std::vector<double>& y);

// The smallest two-sided p-value that samples of these sizes can give under any data (complete
// separation without ties: 2 / C(n1 + n2, n1)); 1 when a sample is empty. Below 5 values a side
// the test can never reach p < 0.01.
double mann_whitney_min_p(int64_t n1, int64_t n2);

}  // namespace sdpa

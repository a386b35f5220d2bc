#include "harness/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace sdpa {

double percentile(std::vector<double> s, double q) {
  if (s.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(s.begin(), s.end());
  const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(s.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, s.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return s[lo] + (s[hi] - s[lo]) * frac;
}

Summary summarize(const std::vector<double>& samples) {
  Summary s;
  s.count = static_cast<int64_t>(samples.size());
  if (samples.empty()) return s;
  auto [mn, mx] = std::minmax_element(samples.begin(), samples.end());
  s.min = *mn;
  s.max = *mx;
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(s.count);
  double var = 0;
  for (double x : samples) var += (x - s.mean) * (x - s.mean);
  s.stddev = s.count > 1 ? std::sqrt(var / static_cast<double>(s.count - 1)) : 0.0;
  s.p50 = percentile(samples, 50);
  s.p90 = percentile(samples, 90);
  s.p99 = percentile(samples, 99);
  return s;
}

PowerFit fit_power_law(const std::vector<double>& x, const std::vector<double>& y) {
  PowerFit f;
  std::vector<double> lx, ly;
  for (std::size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    if (x[i] > 0 && y[i] > 0) {
      lx.push_back(std::log(x[i]));
      ly.push_back(std::log(y[i]));
    }
  }
  f.points = static_cast<int64_t>(lx.size());
  if (lx.size() < 2) return f;
  const double n = static_cast<double>(lx.size());
  const double mx = std::accumulate(lx.begin(), lx.end(), 0.0) / n;
  const double my = std::accumulate(ly.begin(), ly.end(), 0.0) / n;
  double sxx = 0, sxy = 0, syy = 0;
  for (std::size_t i = 0; i < lx.size(); ++i) {
    sxx += (lx[i] - mx) * (lx[i] - mx);
    sxy += (lx[i] - mx) * (ly[i] - my);
    syy += (ly[i] - my) * (ly[i] - my);
  }
  if (sxx == 0) return f;
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  // A flat series (syy = 0) is fitted exactly by slope 0.
  f.r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
  return f;
}

int64_t min_samples_for_percentile(double p, double confidence) {
  // P(all n samples at or below the p-quantile) = p^n; the claim needs p^n <= 1 - confidence.
  return static_cast<int64_t>(std::ceil(std::log(1.0 - confidence) / std::log(p)));
}

double early_stopping_percentile(std::vector<double> samples, double q, double confidence) {
  const auto n = static_cast<int64_t>(samples.size());
  if (n == 0) return std::nan("");
  std::sort(samples.begin(), samples.end());
  // Upper tail P(Bin(n, q) >= j) for j = n, n-1, ...: accumulated from the top, in logs, so it
  // stays exact enough for n in the thousands.
  const double log_q = std::log(q), log_1q = std::log1p(-q);
  auto log_pmf = [&](int64_t i) {
    return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
           std::lgamma(static_cast<double>(n - i) + 1) + static_cast<double>(i) * log_q +
           static_cast<double>(n - i) * log_1q;
  };
  double tail = 0;
  int64_t best = -1;
  for (int64_t j = n; j >= 1; --j) {
    tail += std::exp(log_pmf(j));
    if (tail > 1 - confidence) break;
    best = j;
  }
  return best < 0 ? std::nan("") : samples[static_cast<std::size_t>(best - 1)];
}

}  // namespace sdpa

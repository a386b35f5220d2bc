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

namespace {

// How many of the C(m + n, m) equally likely orderings give each U = 0 ... m·n, with m the smaller
// size: the coefficients of the Gaussian binomial prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i).
// O(m²·n), so the exact test stays cheap against a few thousand samples on the other side.
std::vector<double> u_frequencies(int64_t m, int64_t n) {
  const int64_t top = m * n;
  std::vector<double> c(static_cast<std::size_t>(top + 1), 0.0);
  c[0] = 1;
  for (int64_t i = 1; i <= m; ++i) {
    for (int64_t k = top; k >= n + i; --k) c[k] -= c[k - n - i];
    for (int64_t k = i; k <= top; ++k) c[k] += c[k - i];
  }
  return c;
}

double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

}  // namespace

MannWhitney mann_whitney_u(const std::vector<double>& x, const std::vector<double>& y) {
  MannWhitney r;
  const auto n1 = static_cast<int64_t>(x.size()), n2 = static_cast<int64_t>(y.size());
  if (n1 == 0 || n2 == 0) return r;
  // Average ranks of the pooled sample, and the size of every group of ties.
  std::vector<std::pair<double, bool>> pooled;  // value, from x
  pooled.reserve(x.size() + y.size());
  for (double v : x) pooled.emplace_back(v, true);
  for (double v : y) pooled.emplace_back(v, false);
  std::sort(pooled.begin(), pooled.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum_x = 0, tie_term = 0;
  bool ties = false;
  for (std::size_t i = 0; i < pooled.size();) {
    std::size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double t = static_cast<double>(j - i), mean_rank = (static_cast<double>(i + j) + 1) / 2;
    for (std::size_t k = i; k < j; ++k) rank_sum_x += pooled[k].second ? mean_rank : 0;
    tie_term += t * t * t - t;
    ties = ties || t > 1;
    i = j;
  }
  const double m = static_cast<double>(n1), n = static_cast<double>(n2);
  r.u = rank_sum_x - m * (m + 1) / 2;
  const double u_max = std::max(r.u, m * n - r.u);  // two-sided: the larger tail, doubled
  if (std::min(n1, n2) <= 8 && !ties) {
    r.exact = true;
    const std::vector<double> freq = u_frequencies(std::min(n1, n2), std::max(n1, n2));
    // P(U >= u_max) = P(U <= m·n - u_max) by symmetry; summing the small tail keeps precision.
    double tail = 0, total = 0;
    const auto low = static_cast<int64_t>(std::llround(m * n - u_max));
    for (std::size_t k = 0; k < freq.size(); ++k) {
      total += freq[k];
      if (static_cast<int64_t>(k) <= low) tail += freq[k];
    }
    r.p_value = std::min(1.0, 2 * tail / total);
    return r;
  }
  const double count = m + n;
  const double var = m * n / 12 * ((count + 1) - tie_term / (count * (count - 1)));
  if (var <= 0) return r;  // every value equal: nothing tells the samples apart
  const double z = (u_max - m * n / 2 - 0.5) / std::sqrt(var);
  r.p_value = std::clamp(2 * normal_sf(z), 0.0, 1.0);
  return r;
}

double mann_whitney_min_p(int64_t n1, int64_t n2) {
  if (n1 <= 0 || n2 <= 0) return 1;
  const double log_choose = std::lgamma(static_cast<double>(n1 + n2) + 1) - std::lgamma(static_cast<double>(n1) + 1) -
                            std::lgamma(static_cast<double>(n2) + 1);
  return std::min(1.0, 2 * std::exp(-log_choose));
}

}  // namespace sdpa

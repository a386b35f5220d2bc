#include "harness/paired_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace sdpa {

double RatioInterval::half_width() const {
  if (!(lo > 0) || !std::isfinite(hi)) return std::numeric_limits<double>::infinity();
  return std::sqrt(hi / lo) - 1;
}

namespace {

// P(T+ <= t) for t = 0..M under H0, T+ the signed-rank statistic of n pairs without ties: each
// rank enters with probability 1/2 (a dynamic programme over the ranks, in probabilities).
std::vector<double> signed_rank_cdf(std::size_t n) {
  const std::size_t m = n * (n + 1) / 2;
  std::vector<double> p(m + 1, 0.0);
  p[0] = 1;
  std::size_t top = 0;
  for (std::size_t r = 1; r <= n; ++r) {
    top += r;
    for (std::size_t t = top; t >= r; --t) p[t] = 0.5 * (p[t] + p[t - r]);
    for (std::size_t t = std::min(r, top + 1); t-- > 0;) p[t] *= 0.5;
  }
  for (std::size_t t = 1; t <= m; ++t) p[t] += p[t - 1];
  return p;
}

}  // namespace

RatioInterval paired_ratio_interval(const std::vector<double>& log_ratios, double level) {
  if (!(level > 0 && level < 1)) throw std::invalid_argument("confidence level must lie in (0, 1)");
  for (double x : log_ratios) {
    if (!std::isfinite(x)) throw std::invalid_argument("a log ratio is not finite");
  }
  RatioInterval out;
  out.n = log_ratios.size();
  out.hi = std::numeric_limits<double>::infinity();
  if (out.n == 0) return out;
  const std::size_t n = out.n;
  std::vector<double> walsh;
  walsh.reserve(n * (n + 1) / 2);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i; j < n; ++j) walsh.push_back(0.5 * (log_ratios[i] + log_ratios[j]));
  }
  std::sort(walsh.begin(), walsh.end());
  const std::size_t m = walsh.size();
  const double med = m % 2 ? walsh[m / 2] : 0.5 * (walsh[m / 2 - 1] + walsh[m / 2]);
  out.ratio = std::exp(med);
  // The interval [W(k), W(m + 1 - k)] (1-based) covers with probability 1 - 2 P(T+ <= k - 1):
  // the largest k whose tail stays within (1 - level) / 2.
  const std::vector<double> cdf = signed_rank_cdf(n);
  const double tail = 0.5 * (1 - level);
  std::size_t k = 0;
  while (k < m / 2 && cdf[k] <= tail) ++k;  // after the loop: P(T+ <= k - 1) <= tail < P(T+ <= k)
  if (k == 0) return out;                    // too few pairs for any interval at this level
  out.lo = std::exp(walsh[k - 1]);
  out.hi = std::exp(walsh[m - k]);
  out.confidence = 1 - 2 * cdf[k - 1];
  return out;
}

std::string_view to_string(PairedVerdict verdict) {
  switch (verdict) {
    case PairedVerdict::same: return "SAME";
    case PairedVerdict::slower: return "SLOWER";
    case PairedVerdict::faster: return "FASTER";
    case PairedVerdict::unresolved: return "UNRESOLVED";
  }
  return "?";
}

PairedVerdict judge_ratio(const RatioInterval& iv, double threshold) {
  if (!(iv.lo > 0) || !std::isfinite(iv.hi)) return PairedVerdict::unresolved;
  const double up = 1 + threshold, down = 1 / (1 + threshold);
  if (iv.lo > up) return PairedVerdict::slower;
  if (iv.hi < down) return PairedVerdict::faster;
  if (iv.lo >= down && iv.hi <= up) return PairedVerdict::same;
  return PairedVerdict::unresolved;
}

SlowerConfirmation confirm_slower(const std::vector<double>& first, const std::vector<std::vector<double>>& later,
                                  double threshold, double level) {
  SlowerConfirmation out;
  std::vector<double> pooled = first;
  out.confirmed = judge_ratio(paired_ratio_interval(first, level), threshold) == PairedVerdict::slower;
  for (const std::vector<double>& batch : later) {
    out.batches.push_back(paired_ratio_interval(batch, level));
    if (batch.empty() || !(out.batches.back().ratio > 1)) out.confirmed = false;
    pooled.insert(pooled.end(), batch.begin(), batch.end());
  }
  out.pooled = paired_ratio_interval(pooled, level);
  if (judge_ratio(out.pooled, threshold) != PairedVerdict::slower) out.confirmed = false;
  return out;
}

double round_statistic(std::vector<double> samples) {
  if (samples.empty()) throw std::invalid_argument("a round without samples");
  const std::size_t mid = samples.size() / 2;
  std::nth_element(samples.begin(), samples.begin() + mid, samples.end());
  if (samples.size() % 2) return samples[mid];
  const double upper = samples[mid];
  return 0.5 * (upper + *std::max_element(samples.begin(), samples.begin() + mid));
}

double round_low_quartile(std::vector<double> samples) {
  if (samples.empty()) throw std::invalid_argument("a round without samples");
  const std::size_t k = (samples.size() - 1) / 4;
  std::nth_element(samples.begin(), samples.begin() + k, samples.end());
  return samples[k];
}

}  // namespace sdpa

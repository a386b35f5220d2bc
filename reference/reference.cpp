#include "reference/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sdpa {

namespace {

// Neumaier's compensated summation: error independent of the number of terms to first
// order, which plain double accumulation over 64k keys is not (it would lose ~2^-37).
struct CompensatedSum {
  double sum = 0;
  double carry = 0;
  void add(double x) {
    double t = sum + x;
    carry += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  double value() const { return sum + carry; }
};

struct RowStats {
  double logit_sum = 0, logit_sq_sum = 0;  // scaled logits
  double raw_sum = 0, raw_sq_sum = 0;      // unscaled logits
  double max_prob = 0, max_prob_unscaled = 0;
  double abs_max = 0, raw_abs_max = 0;
  double entropy = 0, entropy_unscaled = 0;
  int64_t over_f16 = 0, raw_over_f16 = 0;
  int64_t count = 0;
};

struct SoftmaxShape {
  double max_prob = 0, entropy = 0;
};

// Max probability and entropy of softmax(logits[0..n)), in nats: with w = exp(l − m) and
// L = Σw, p = w/L, so H = log L − Σ p·(l − m).
SoftmaxShape softmax_shape(const std::vector<double>& logits, int64_t n) {
  const double m = *std::max_element(logits.begin(), logits.begin() + n);
  CompensatedSum l, wl;
  for (int64_t j = 0; j < n; ++j) {
    const double x = logits[static_cast<std::size_t>(j)] - m;
    const double w = std::exp(x);
    l.add(w);
    wl.add(w * x);
  }
  return {1.0 / l.value(), std::log(l.value()) - wl.value() / l.value()};  // the max contributes exp(0) = 1
}

Saturation summarise(const std::vector<RowStats>& rows, bool scaled) {
  Saturation s;
  CompensatedSum sum, sq_sum, max_prob, entropy;
  double count = 0, n_rows = 0, over = 0;
  for (const RowStats& r : rows) {
    if (r.count == 0) continue;
    s.logit_abs_max = std::max(s.logit_abs_max, scaled ? r.abs_max : r.raw_abs_max);
    s.logits_over_f16_max += scaled ? r.over_f16 : r.raw_over_f16;
    entropy.add(scaled ? r.entropy : r.entropy_unscaled);
    sum.add(scaled ? r.logit_sum : r.raw_sum);
    sq_sum.add(scaled ? r.logit_sq_sum : r.raw_sq_sum);
    double mp = scaled ? r.max_prob : r.max_prob_unscaled;
    max_prob.add(mp);
    over += mp > 0.95 ? 1 : 0;
    count += static_cast<double>(r.count);
    n_rows += 1;
  }
  if (n_rows == 0) return s;
  s.logit_mean = sum.value() / count;
  s.logit_std = std::sqrt(std::max(0.0, sq_sum.value() / count - s.logit_mean * s.logit_mean));
  s.max_prob_mean = max_prob.value() / n_rows;
  s.rows_max_prob_over_95 = over / n_rows;
  s.entropy_mean = entropy.value() / n_rows;
  return s;
}

// The convention of reference.h for a row that reads a non-finite value; its saturation
// figures are left out (count 0) rather than made NaN for the whole problem.
void set_row_nan(double* o, double* o_abs, int64_t dv, RowStats& st) {
  std::fill(o, o + dv, std::numeric_limits<double>::quiet_NaN());
  std::fill(o_abs, o_abs + dv, std::numeric_limits<double>::quiet_NaN());
  st = {};
}

}  // namespace

ReferenceResult reference_sdpa(const Problem& p, const Inputs& in, int64_t row_stride) {
  row_stride = std::max<int64_t>(1, row_stride);
  const int64_t n_rows = p.b * p.hq * p.sq;
  const double scale = p.scale();
  ReferenceResult res;
  res.out.assign(static_cast<std::size_t>(p.o_elems()), 0.0);
  res.abs_pv.assign(static_cast<std::size_t>(p.o_elems()), 0.0);
  res.row_checked.assign(static_cast<std::size_t>(n_rows), 0);
  res.abs_qk_max.assign(static_cast<std::size_t>(n_rows), 0.0);
  std::vector<RowStats> stats(static_cast<std::size_t>(n_rows));

#pragma omp parallel
  {
    std::vector<double> logits(static_cast<std::size_t>(p.skv));
    std::vector<double> weights(static_cast<std::size_t>(p.skv));
    std::vector<CompensatedSum> acc(static_cast<std::size_t>(p.dv)), acc_abs(static_cast<std::size_t>(p.dv));
#pragma omp for schedule(dynamic, 1)
    for (int64_t row = 0; row < n_rows; row += row_stride) {
      const int64_t i = row % p.sq;
      const int64_t h = (row / p.sq) % p.hq;
      const int64_t bi = row / (p.sq * p.hq);
      const int64_t hk = h / p.group();
      const float* q = &in.q.values[static_cast<std::size_t>(row * p.d)];
      const float* k = &in.k.values[static_cast<std::size_t>((bi * p.hkv + hk) * p.skv * p.d)];
      const float* v = &in.v.values[static_cast<std::size_t>((bi * p.hkv + hk) * p.skv * p.dv)];
      double* o = &res.out[static_cast<std::size_t>(row * p.dv)];
      double* o_abs = &res.abs_pv[static_cast<std::size_t>(row * p.dv)];
      res.row_checked[static_cast<std::size_t>(row)] = 1;

      const int64_t n = p.visible_keys(bi, i);
      if (n == 0) continue;  // fully masked row: output 0 by the spec's convention
      RowStats& st = stats[static_cast<std::size_t>(row)];
      st.count = n;
      bool finite = true;
      double abs_qk_max = 0;
      for (int64_t j = 0; j < n; ++j) {
        // Products of two floats are exact in double; d <= 2^24 terms keep the dot product
        // to ~d·2^-53 relative, far below any dtype's error.
        double dot = 0, abs_dot = 0;
        for (int64_t c = 0; c < p.d; ++c) {
          const double x = static_cast<double>(q[c]) * static_cast<double>(k[j * p.d + c]);
          dot += x;
          abs_dot += std::abs(x);
        }
        // A non-finite q or k makes dot inf or NaN (inf·0, inf − inf); a logit past the f32
        // range is what a kernel cannot hold (the parser's scale limit keeps generated inputs
        // clear of it).
        finite = finite && std::abs(dot * scale) <= std::numeric_limits<float>::max();
        abs_qk_max = std::max(abs_qk_max, abs_dot * std::abs(scale));
        logits[static_cast<std::size_t>(j)] = dot;
        st.raw_sum += dot;
        st.raw_sq_sum += dot * dot;
        st.logit_sum += dot * scale;
        st.logit_sq_sum += dot * dot * scale * scale;
        // 65504: the largest finite f16, what a kernel storing S or P·V in f16 can hold.
        st.abs_max = std::max(st.abs_max, std::abs(dot * scale));
        st.raw_abs_max = std::max(st.raw_abs_max, std::abs(dot));
        st.over_f16 += std::abs(dot * scale) > 65504.0;
        st.raw_over_f16 += std::abs(dot) > 65504.0;
      }
      res.abs_qk_max[static_cast<std::size_t>(row)] = abs_qk_max;
      if (!finite) {
        set_row_nan(o, o_abs, p.dv, st);
        continue;
      }
      const SoftmaxShape unscaled = softmax_shape(logits, n);
      st.max_prob_unscaled = unscaled.max_prob;
      st.entropy_unscaled = unscaled.entropy;
      for (int64_t j = 0; j < n; ++j) logits[static_cast<std::size_t>(j)] *= scale;
      st.entropy = softmax_shape(logits, n).entropy;
      const double m = *std::max_element(logits.begin(), logits.begin() + n);
      CompensatedSum l;
      for (int64_t j = 0; j < n; ++j) {
        double w = std::exp(logits[static_cast<std::size_t>(j)] - m);
        weights[static_cast<std::size_t>(j)] = w;
        l.add(w);
      }
      const double inv_l = 1.0 / l.value();
      st.max_prob = inv_l;
      for (int64_t c = 0; c < p.dv; ++c) {
        acc[static_cast<std::size_t>(c)] = {};
        acc_abs[static_cast<std::size_t>(c)] = {};
      }
      for (int64_t j = 0; j < n; ++j) {
        const double w = weights[static_cast<std::size_t>(j)];
        const float* vj = v + j * p.dv;
        for (int64_t c = 0; c < p.dv; ++c) {
          double x = w * static_cast<double>(vj[c]);
          acc[static_cast<std::size_t>(c)].add(x);
          acc_abs[static_cast<std::size_t>(c)].add(std::abs(x));
        }
      }
      for (int64_t c = 0; c < p.dv; ++c) {
        o[c] = acc[static_cast<std::size_t>(c)].value() * inv_l;
        o_abs[c] = acc_abs[static_cast<std::size_t>(c)].value() * inv_l;
        // Weights are finite and at most 1, and n·FLT_MAX fits in double, so Σw|v| is non-finite
        // exactly when a visible value is (w·inf, 0·inf, w·NaN).
        finite = finite && std::isfinite(o_abs[c]);
      }
      if (!finite) set_row_nan(o, o_abs, p.dv, st);
    }
  }
  for (uint8_t checked : res.row_checked) res.rows_checked += checked;
  res.saturation = summarise(stats, true);
  res.saturation_unscaled = summarise(stats, false);
  return res;
}

}  // namespace sdpa

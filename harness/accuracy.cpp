#include "harness/accuracy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sdpa {

// Derivation of the constants (u = unit roundoff of the storage type: 2^-24 f32, 2^-11 f16,
// 2^-8 bf16).
//
// tol_rel = u for f16 / bf16: the output is stored in the dtype, and rounding r to it costs up to
//   half an ulp, which is at most u·|r|. For f32 we allow 16u: an fp32 kernel also divides by a
//   row sum accumulated over n terms and rescales it once per block.
//
//   Below the normal range (|r| < 2^-14 in f16) rounding is absolute, not relative: gradual
//   underflow gives |fl(r) − r| ≤ max(u·|r|, η) with η half the smallest subnormal spacing
//   (2^-25 f16, 2^-134 bf16, 2^-150 f32), so tol_underflow = η is added to every bound. Without
//   it a correctly rounded output of an "outliers" input (dist=outliers:4:20, n = 2048, f16:
//   want −215.435·2^-24, got −215·2^-24) failed at 1.1x the bound in naive and blocked_cpu alike.
//   The same holds for pₖ that f16 stores as subnormals (pₖ < 2^-14 of the row's reference
//   max): their error is absolute, ≤ η each; it is not in the bound, because those
//   roundings are nearest-even and cancel in Σ δpₖ vₖ instead of aligning, and such pₖ carry
//   next to nothing of the output (no measured case comes near the bound from them).
//
// tol_abs covers errors carried through P·V, which are bounded by (error in p)·Σ|v|:
//   f16 / bf16: fused kernels round P to the dtype before the P·V product (tensor cores take
//     16-bit operands). Each pₖ then carries up to u·pₖ, so |Σ δpₖ vₖ| ≤ u·Σpₖ|vₖ| even if all
//     errors align: tol_abs = u. The inputs themselves are exact (the reference reads the rounded
//     values); the fp32 logit error has its own term, below.
//   f32: nothing is rounded to 16 bits; the error is that of exp, of the division and of the
//     fp32 sums over n keys, plus the fp32 logit error at ordinary scales. tol_abs = 2^-14
//     (6.1e-5), set before the logit term existed: measured on the ci suite, the naive fp32 kernel
//     used at most 1.5% of it with the default scale and 17% in the unscaled ablation (scale=1,
//     logits ~8x larger), a 6x margin for kernels that sum in another order, and still five
//     orders of magnitude below the error of a missing scale or a wrong mask. Kept as it was, so
//     nothing that passed fails now; the logit term carries what grows with the logits.
//
// The logit term. Every backend computes the logits in f32 (16-bit dtypes too: their products
// are exact in f32, and tensor cores accumulate in f32), so a logit sₖ = scale·q·kₖ carries an
// absolute error εₖ that grows with the logits, which none of the constants above does. With
// scale=100 (d=64) the naive f32 kernel erred by 7.6x the old bound, and the same happened at
// the default scale with d=1655368. Its parts, u = 2^-24:
//   - the d-term dot product, summed in any order: |δ| ≤ √d·u·Σᵢ|qᵢkᵢ|, the probabilistic bound
//     of Higham & Mary (SIAM J. Sci. Comput. 41(5), 2019) with λ = 1: rounding errors are
//     independent and mean-zero, so they grow as √d whatever the data and the order of the sum.
//     The deterministic worst case, d·u·Σ|qᵢkᵢ|, is never met. N(0,1) inputs stay about √d
//     below the bound (the partial sums of random signs stay near √j, not near Σ|qᵢkᵢ|); terms of
//     one sign (shifted inputs) make the partial sums grow linearly and the error approach it:
//     the sequential fp32 kernel of mutant_test on |N(0,1)| inputs (d = 1024 to 16384) uses up
//     to 19% of the whole bound, and exceeds the bound without this term by 3.5x;
//   - the scale rounded to f32 and the product by it: 2u·|sₖ|;
//   - sₖ − max: u·|sₖ − m| ≤ 2u·max|s|.
// With A = maxₖ scale·Σᵢ|qᵢkᵢ| ≥ max|sₖ| (the reference supplies it per row), every
// |εₖ| ≤ E = (√d + 4)·u·A. Softmax ignores a common shift, and pₖ' = pₖ·e^{εₖ}/Σⱼ pⱼe^{εⱼ} lies
// within pₖ·e^{±2E}, so |Σₖ δpₖ·vₖ| ≤ (e^{2E} − 1)·Σₖ pₖ|vₖ|: tol_logit = (√d + 4)·u, the same for
// every dtype (the compute precision, not the storage, sets it).
//   Size (N(0,1) inputs, measured): at the default scale A ≈ 0.8·√d (9 for d=128), and the term
// is a quarter of the f32 tol_abs and 1/30 of f16's, so the mutants below are caught as before.
// It grows with the scale: 1.3x the f32 tol_abs at scale=1 (d=64, A ≈ 56); at scale=100
// (A ≈ 5600) 0.8% of Σp|v|, where the naive kernel errs by 0.04%; past scale ≈ 10^4 (E ~ 1) it
// admits any output, as it must: an f32 logit then errs by more than the spread of the softmax.
// It grows with d too: at d=1655368 (A ≈ 820) it is 13% of Σp|v|, all that 1.6M-term f32 dot
// products can promise for inputs of one sign, while N(0,1) inputs use 0.05% of it. The check's
// power there is bounded by f32, not by the harness; saturation figures show where it is.
//
// The margin to the mutants matters as much as the margin to correct kernels: P truncated to f16
// instead of rounded biases every pₖ by up to 2u (one ulp at the bottom of a binade), which the
// mutant test provokes with inputs that put the biased output one ulp past the bound.
Tolerance tolerance_for(DType dtype, int64_t d) {
  const double logit = (std::sqrt(static_cast<double>(std::max<int64_t>(d, 1))) + 4) * std::ldexp(1.0, -24);
  switch (dtype) {
    case DType::f32: return {std::ldexp(1.0, -14), 16 * std::ldexp(1.0, -24), logit, std::ldexp(1.0, -150)};
    case DType::f16: return {std::ldexp(1.0, -11), std::ldexp(1.0, -11), logit, std::ldexp(1.0, -25)};
    case DType::bf16: return {std::ldexp(1.0, -8), std::ldexp(1.0, -8), logit, std::ldexp(1.0, -134)};
  }
  return {};
}

double error_bound(const Tolerance& tol, double abs_pv, double abs_qk_max, double r) {
  return (tol.abs + std::expm1(2 * tol.logit * abs_qk_max)) * abs_pv + tol.rel * std::abs(r) +
         (abs_pv > 0 ? tol.underflow : 0);  // a fully masked row (Σp|v| = 0) stays exactly 0
}

std::string AccuracyReport::summary() const {
  char buf[256];
  if (reference_invalid) {
    std::snprintf(buf, sizeof buf, "invalid: reference not finite (%lld elements", static_cast<long long>(reference_non_finite_elems));
    std::string s = buf;
    if (!worst.empty()) {
      const BadElement& e = worst[0];
      std::snprintf(buf, sizeof buf, "; first [b=%lld,h=%lld,s=%lld,c=%lld] = %g", static_cast<long long>(e.b),
                    static_cast<long long>(e.h), static_cast<long long>(e.s), static_cast<long long>(e.c), e.want);
      s += buf;
    }
    return s + ")";
  }
  std::snprintf(buf, sizeof buf, "max_abs=%.2e max_rel=%.2e nmse=%.2e worst=%.3g of bound%s", max_abs_err,
                max_rel_err, nmse, worst_ratio, non_finite ? " NON-FINITE OUTPUT" : "");
  std::string s = buf;
  if (failed_elems > 0) {
    s += " (" + std::to_string(failed_elems) + " of " + std::to_string(checked_elems) + " elements out of bound";
    for (const BadElement& e : worst) {
      std::snprintf(buf, sizeof buf, "; [b=%lld,h=%lld,s=%lld,c=%lld] got %.6g want %.6g bound %.2e",
                    static_cast<long long>(e.b), static_cast<long long>(e.h), static_cast<long long>(e.s),
                    static_cast<long long>(e.c), e.got, e.want, e.bound);
      s += buf;
    }
    s += ")";
  }
  return s;
}

namespace {

BadElement element_at(const Problem& p, int64_t idx) {
  BadElement e;
  e.c = idx % p.dv;
  e.s = (idx / p.dv) % p.sq;
  e.h = (idx / (p.dv * p.sq)) % p.hq;
  e.b = idx / (p.dv * p.sq * p.hq);
  return e;
}

// A reference with a NaN or inf cannot judge anything: the backend is neither passed (NaN
// comparisons are false, so "worst=0 of bound" would let any output through) nor failed.
bool reference_is_invalid(const Problem& p, const ReferenceResult& ref, AccuracyReport& rep) {
  const int64_t rows = p.b * p.hq * p.sq;
  for (int64_t row = 0; row < rows; ++row) {
    if (!ref.row_checked[static_cast<std::size_t>(row)]) continue;
    for (int64_t c = 0; c < p.dv; ++c) {
      const auto idx = static_cast<std::size_t>(row * p.dv + c);
      if (std::isfinite(ref.out[idx]) && std::isfinite(ref.abs_pv[idx])) continue;
      if (rep.reference_non_finite_elems++ == 0) {
        BadElement e = element_at(p, static_cast<int64_t>(idx));
        e.want = ref.out[idx];
        e.bound = NAN;
        rep.worst.push_back(e);
      }
    }
  }
  rep.reference_invalid = rep.reference_non_finite_elems > 0;
  return rep.reference_invalid;
}

}  // namespace

AccuracyReport check_accuracy(const Problem& p, const std::vector<double>& out, const ReferenceResult& ref,
                              int worst_count) {
  AccuracyReport rep;
  rep.tol = tolerance_for(p.dtype, p.d);
  if (out.size() != ref.out.size()) {
    rep.non_finite = true;
    rep.failed_elems = static_cast<int64_t>(ref.out.size());
    return rep;
  }
  if (reference_is_invalid(p, ref, rep)) return rep;
  double err_sq = 0, ref_sq = 0;
  std::vector<std::pair<double, int64_t>> worst;  // (ratio, index)
  const int64_t rows = p.b * p.hq * p.sq;
  for (int64_t row = 0; row < rows; ++row) {
    if (!ref.row_checked[static_cast<std::size_t>(row)]) continue;
    const double abs_qk_max = ref.abs_qk_max[static_cast<std::size_t>(row)];
    for (int64_t c = 0; c < p.dv; ++c) {
      const auto idx = static_cast<std::size_t>(row * p.dv + c);
      const double o = out[idx], r = ref.out[idx];
      ++rep.checked_elems;
      if (!std::isfinite(o)) {
        rep.non_finite = true;
        ++rep.failed_elems;
        worst.emplace_back(INFINITY, static_cast<int64_t>(idx));
        continue;
      }
      const double err = std::abs(o - r);
      const double bound = error_bound(rep.tol, ref.abs_pv[idx], abs_qk_max, r);
      err_sq += err * err;
      ref_sq += r * r;
      rep.max_abs_err = std::max(rep.max_abs_err, err);
      // Relative error is meaningless where r is ~0 against its own magnitude scale.
      if (std::abs(r) > 1e-3 * ref.abs_pv[idx] && std::abs(r) > 0) {
        rep.max_rel_err = std::max(rep.max_rel_err, err / std::abs(r));
      }
      // A zero bound (fully masked row, r = 0, Σp|v| = 0) demands an exact zero.
      const double ratio = bound > 0 ? err / bound : (err > 0 ? INFINITY : 0.0);
      rep.worst_ratio = std::max(rep.worst_ratio, ratio);
      if (ratio > 1) ++rep.failed_elems;
      if (ratio > 0) worst.emplace_back(ratio, static_cast<int64_t>(idx));
    }
  }
  rep.nmse = ref_sq > 0 ? err_sq / ref_sq : err_sq;
  const auto keep = std::min<std::size_t>(worst.size(), static_cast<std::size_t>(std::max(0, worst_count)));
  std::partial_sort(worst.begin(), worst.begin() + static_cast<std::ptrdiff_t>(keep), worst.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < keep; ++i) {
    const int64_t idx = worst[i].second;
    BadElement e = element_at(p, idx);
    e.got = out[static_cast<std::size_t>(idx)];
    e.want = ref.out[static_cast<std::size_t>(idx)];
    e.bound = error_bound(rep.tol, ref.abs_pv[static_cast<std::size_t>(idx)],
                          ref.abs_qk_max[static_cast<std::size_t>(idx / p.dv)], e.want);
    rep.worst.push_back(e);
  }
  return rep;
}

}  // namespace sdpa

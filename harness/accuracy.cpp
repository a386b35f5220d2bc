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
// tol_abs covers errors carried through P·V, which are bounded by (error in p)·Σ|v|:
//   f16 / bf16: fused kernels round P to the dtype before the P·V product (tensor cores take
//     16-bit operands). Each pₖ then carries up to u·pₖ, so |Σ δpₖ vₖ| ≤ u·Σpₖ|vₖ| even if all
//     errors align: tol_abs = u. The inputs themselves are exact (the reference reads the rounded
//     values), and fp32 logits (|δs| ~ √d·2^-24·|q||k|·scale) add far less than u.
//   f32: nothing is rounded to 16 bits; the error is the fp32 logit error δs (a d-term dot
//     product, ~√d·2^-24·Σ|qᵢkᵢ|·scale), which moves each pₖ by ~pₖ·δs, and the fp32 sums over
//     n keys. tol_abs = 2^-14 (6.1e-5). Measured on the ci suite, the naive fp32 kernel uses at
//     most 1.5% of the bound with the default scale and 17% in the unscaled ablation (scale=1,
//     logits ~8x larger): a 6x margin for kernels that sum in another order, and still five
//     orders of magnitude below the error of a missing scale or a wrong mask.
//
// The margin to the mutants matters as much as the margin to correct kernels: P truncated to f16
// instead of rounded biases every pₖ by up to 2u (one ulp at the bottom of a binade), which the
// mutant test provokes with inputs that put the biased output one ulp past the bound.
Tolerance tolerance_for(DType dtype) {
  switch (dtype) {
    case DType::f32: return {std::ldexp(1.0, -14), 16 * std::ldexp(1.0, -24)};
    case DType::f16: return {std::ldexp(1.0, -11), std::ldexp(1.0, -11)};
    case DType::bf16: return {std::ldexp(1.0, -8), std::ldexp(1.0, -8)};
  }
  return {};
}

std::string AccuracyReport::summary() const {
  char buf[256];
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

AccuracyReport check_accuracy(const Problem& p, const std::vector<double>& out, const ReferenceResult& ref,
                              int worst_count) {
  AccuracyReport rep;
  rep.tol = tolerance_for(p.dtype);
  if (out.size() != ref.out.size()) {
    rep.non_finite = true;
    rep.failed_elems = static_cast<int64_t>(ref.out.size());
    return rep;
  }
  double err_sq = 0, ref_sq = 0;
  std::vector<std::pair<double, int64_t>> worst;  // (ratio, index)
  const int64_t rows = p.b * p.hq * p.sq;
  for (int64_t row = 0; row < rows; ++row) {
    if (!ref.row_checked[static_cast<std::size_t>(row)]) continue;
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
      const double bound = rep.tol.abs * ref.abs_pv[idx] + rep.tol.rel * std::abs(r);
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
    BadElement e;
    e.c = idx % p.dv;
    e.s = (idx / p.dv) % p.sq;
    e.h = (idx / (p.dv * p.sq)) % p.hq;
    e.b = idx / (p.dv * p.sq * p.hq);
    e.got = out[static_cast<std::size_t>(idx)];
    e.want = ref.out[static_cast<std::size_t>(idx)];
    e.bound = rep.tol.abs * ref.abs_pv[static_cast<std::size_t>(idx)] + rep.tol.rel * std::abs(e.want);
    rep.worst.push_back(e);
  }
  return rep;
}

}  // namespace sdpa

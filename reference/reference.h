// The fp64 oracle: softmax(Q·Kᵀ·scale + mask)·V computed in double precision from the
// inputs exactly as stored, with compensated sums so it stays accurate to n = 64k and beyond.
#pragma once

#include <cstdint>
#include <vector>

#include "core/problem.h"
#include "core/tensor.h"

namespace sdpa {

// How peaked the attention is: saturated softmax rows hide errors and scale bugs.
struct Saturation {
  double logit_mean = 0;            // of the visible logits, after scaling
  double logit_std = 0;
  double max_prob_mean = 0;         // mean over rows of max_k p_k
  double rows_max_prob_over_95 = 0; // share of rows whose max probability exceeds 0.95
  double logit_abs_max = 0;         // the largest |logit|
  double entropy_mean = 0;          // mean over rows of the softmax entropy, in nats
  int64_t logits_over_f16_max = 0;  // logits an f16 store would overflow (|l| > 65504)
};

// Non-finite inputs (a convention: the generator never makes them, but hand-made or loaded
// inputs can, and the oracle must say what a correct kernel returns):
//   - a row reads its query and the keys and values its mask leaves visible, nothing else;
//   - if anything it reads is NaN or ±Inf, or a logit overflows, the whole output row is NaN
//     (an ±Inf logit has no finite softmax at finite precision: +Inf − +Inf in the max
//     subtraction; the suite's masks are structural, so a −Inf logit is not a mask either);
//   - a NaN or Inf in a masked key or value changes nothing: a kernel must not let it leak;
//   - a fully masked row reads nothing and outputs 0, whatever the inputs hold.
// check_accuracy() reports a case whose reference has a NaN as invalid, not as pass or fail.
struct ReferenceResult {
  std::vector<double> out;     // b, hq, sq, dv: the exact output (0 in rows not checked)
  std::vector<double> abs_pv;  // Σ_k p_k·|v_k| per output element: the scale of its error bound
  // Per (b, hq, sq) row: max over visible keys k of scale·Σᵢ|qᵢ·kᵢ|, a bound on |logit| and the
  // condition of its dot product: what the f32 logit error of a kernel is proportional to.
  std::vector<double> abs_qk_max;
  std::vector<uint8_t> row_checked;  // per (b, hq, sq) row: computed here or skipped by sampling
  int64_t rows_checked = 0;
  Saturation saturation;           // with the problem's scale
  Saturation saturation_unscaled;  // the same logits with scale = 1 (the ablation)
};

// Computes every `row_stride`-th row of the b·hq·sq query rows (1 = all rows). Large problems
// are checked on a sample because the fp64 oracle costs as much as the naive kernel.
ReferenceResult reference_sdpa(const Problem& problem, const Inputs& inputs, int64_t row_stride = 1);

}  // namespace sdpa

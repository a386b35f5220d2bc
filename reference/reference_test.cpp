#include "reference/reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "harness/inputs.h"

namespace sdpa {
namespace {

// An independent, deliberately plain long-double implementation (no compensation, no shared
// code) for agreement on small cases.
std::vector<long double> long_double_sdpa(const Problem& p, const Inputs& in) {
  std::vector<long double> out(static_cast<std::size_t>(p.o_elems()), 0.0L);
  for (int64_t bi = 0; bi < p.b; ++bi)
    for (int64_t h = 0; h < p.hq; ++h)
      for (int64_t i = 0; i < p.sq; ++i) {
        const int64_t n = p.visible_keys(bi, i);
        if (n == 0) continue;
        const int64_t kh = bi * p.hkv + h / p.group();
        std::vector<long double> s(static_cast<std::size_t>(n));
        for (int64_t j = 0; j < n; ++j) {
          long double dot = 0;
          for (int64_t c = 0; c < p.d; ++c)
            dot += static_cast<long double>(in.q.values[static_cast<std::size_t>(((bi * p.hq + h) * p.sq + i) * p.d + c)]) *
                   in.k.values[static_cast<std::size_t>((kh * p.skv + j) * p.d + c)];
          s[static_cast<std::size_t>(j)] = dot * static_cast<long double>(p.scale());
        }
        const long double m = *std::max_element(s.begin(), s.end());
        long double l = 0;
        for (auto& x : s) l += (x = std::exp(x - m));
        for (int64_t c = 0; c < p.dv; ++c) {
          long double acc = 0;
          for (int64_t j = 0; j < n; ++j)
            acc += s[static_cast<std::size_t>(j)] * in.v.values[static_cast<std::size_t>((kh * p.skv + j) * p.dv + c)];
          out[static_cast<std::size_t>(((bi * p.hq + h) * p.sq + i) * p.dv + c)] = acc / l;
        }
      }
  return out;
}

double v_at(const Problem& p, const Inputs& in, int64_t bi, int64_t kh, int64_t j, int64_t c) {
  return in.v.values[static_cast<std::size_t>(((bi * p.hkv + kh) * p.skv + j) * p.dv + c)];
}

TEST(Reference, AgreesWithLongDoubleOnSmallRandomCases) {
  for (const char* spec : {"b=2,hq=4,hkv=2,sq=19,skv=23,d=16,dv=8,mask=causal_br",
                           "b=1,hq=2,sq=31,d=40,mask=causal,scale=1", "b=2,hq=1,sq=7,skv=13,d=8,mask=kvlen:13/4",
                           "b=1,hq=3,hkv=1,sq=5,skv=64,d=64,dtype=bf16"}) {
    const Problem p = parse_problem(spec);
    const Inputs in = generate_inputs(p);
    const ReferenceResult r = reference_sdpa(p, in);
    const std::vector<long double> want = long_double_sdpa(p, in);
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(r.out[i], static_cast<double>(want[i]), 1e-15 * (1 + r.abs_pv[i])) << spec << " element " << i;
    }
  }
}

TEST(Reference, ZeroQueryGivesTheMeanOfTheVisibleValues) {
  const Problem p = parse_problem("b=1,hq=1,sq=6,skv=6,d=8,dv=4,mask=causal");
  Inputs in = generate_inputs(p);
  std::fill(in.q.values.begin(), in.q.values.end(), 0.0f);
  const ReferenceResult r = reference_sdpa(p, in);
  for (int64_t i = 0; i < p.sq; ++i)
    for (int64_t c = 0; c < p.dv; ++c) {
      double mean = 0;
      for (int64_t j = 0; j <= i; ++j) mean += v_at(p, in, 0, 0, j, c);
      mean /= static_cast<double>(i + 1);
      EXPECT_NEAR(r.out[static_cast<std::size_t>(i * p.dv + c)], mean, 1e-15);
    }
  EXPECT_NEAR(r.saturation.logit_std, 0.0, 1e-15);
}

TEST(Reference, OneKeyGivesItsValue) {
  const Problem p = parse_problem("b=2,hq=2,sq=3,skv=1,d=16,dv=5");
  const Inputs in = generate_inputs(p);
  const ReferenceResult r = reference_sdpa(p, in);
  for (int64_t row = 0; row < p.b * p.hq * p.sq; ++row) {
    const int64_t bi = row / (p.hq * p.sq), h = (row / p.sq) % p.hq;
    for (int64_t c = 0; c < p.dv; ++c) {
      EXPECT_EQ(r.out[static_cast<std::size_t>(row * p.dv + c)], v_at(p, in, bi, h, 0, c));
    }
  }
  EXPECT_DOUBLE_EQ(r.saturation.max_prob_mean, 1.0);
}

TEST(Reference, PermutingKeysWithTheirValuesChangesNothing) {
  const Problem p = parse_problem("b=1,hq=2,sq=9,skv=17,d=8,dv=6");
  const Inputs in = generate_inputs(p);
  Inputs perm = in;
  std::vector<int64_t> order(static_cast<std::size_t>(p.skv));
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());
  std::rotate(order.begin(), order.begin() + 5, order.end());
  for (int64_t h = 0; h < p.hkv; ++h)
    for (int64_t j = 0; j < p.skv; ++j) {
      const int64_t src = order[static_cast<std::size_t>(j)];
      for (int64_t c = 0; c < p.d; ++c)
        perm.k.values[static_cast<std::size_t>((h * p.skv + j) * p.d + c)] = in.k.values[static_cast<std::size_t>((h * p.skv + src) * p.d + c)];
      for (int64_t c = 0; c < p.dv; ++c)
        perm.v.values[static_cast<std::size_t>((h * p.skv + j) * p.dv + c)] = in.v.values[static_cast<std::size_t>((h * p.skv + src) * p.dv + c)];
    }
  const ReferenceResult a = reference_sdpa(p, in), b = reference_sdpa(p, perm);
  for (std::size_t i = 0; i < a.out.size(); ++i) EXPECT_NEAR(a.out[i], b.out[i], 1e-15 * (1 + a.abs_pv[i]));
}

TEST(Reference, CausalRowZeroIsTheFirstValue) {
  const Problem p = parse_problem("b=1,hq=1,sq=8,d=16,mask=causal");
  const Inputs in = generate_inputs(p);
  const ReferenceResult r = reference_sdpa(p, in);
  for (int64_t c = 0; c < p.dv; ++c) EXPECT_EQ(r.out[static_cast<std::size_t>(c)], v_at(p, in, 0, 0, 0, c));
}

TEST(Reference, BottomRightCausalZeroesTheRowsBeforeTheFirstKey) {
  const Problem p = parse_problem("b=1,hq=2,sq=10,skv=4,d=8,mask=causal_br");
  const Inputs in = generate_inputs(p);
  const ReferenceResult r = reference_sdpa(p, in);
  for (int64_t h = 0; h < p.hq; ++h)
    for (int64_t i = 0; i < p.sq; ++i)
      for (int64_t c = 0; c < p.dv; ++c) {
        const double o = r.out[static_cast<std::size_t>(((h * p.sq) + i) * p.dv + c)];
        if (i < p.sq - p.skv) {
          EXPECT_EQ(o, 0.0);
        } else if (i == p.sq - p.skv) {
          EXPECT_EQ(o, v_at(p, in, 0, h, 0, c));  // sees exactly key 0
        }
      }
}

TEST(Reference, GroupedQueryHeadsReadTheirSharedKvHead) {
  const Problem gqa = parse_problem("b=1,hq=4,hkv=2,sq=5,skv=7,d=8");
  const Problem mha = parse_problem("b=1,hq=4,hkv=4,sq=5,skv=7,d=8");
  const Inputs in = generate_inputs(gqa);
  Inputs wide = generate_inputs(mha);
  wide.q = in.q;
  const int64_t per_head = gqa.skv * gqa.d;
  for (int64_t h = 0; h < 4; ++h) {  // kv head h/2 of the GQA problem, copied to head h
    std::copy_n(in.k.values.begin() + (h / 2) * per_head, per_head, wide.k.values.begin() + h * per_head);
    std::copy_n(in.v.values.begin() + (h / 2) * per_head, per_head, wide.v.values.begin() + h * per_head);
  }
  EXPECT_EQ(reference_sdpa(gqa, in).out, reference_sdpa(mha, wide).out);
}

TEST(Reference, SampledRowsEqualTheFullComputation) {
  const Problem p = parse_problem("b=2,hq=3,sq=20,skv=9,d=8,mask=causal_br");
  const Inputs in = generate_inputs(p);
  const ReferenceResult full = reference_sdpa(p, in), sampled = reference_sdpa(p, in, 7);
  EXPECT_EQ(sampled.rows_checked, (p.b * p.hq * p.sq + 6) / 7);
  for (int64_t row = 0; row < p.b * p.hq * p.sq; ++row) {
    ASSERT_EQ(sampled.row_checked[static_cast<std::size_t>(row)], row % 7 == 0);
    if (row % 7) continue;
    for (int64_t c = 0; c < p.dv; ++c) {
      EXPECT_EQ(sampled.out[static_cast<std::size_t>(row * p.dv + c)], full.out[static_cast<std::size_t>(row * p.dv + c)]);
    }
  }
}

TEST(Reference, AbsWeightedValuesBoundTheOutput) {
  const Problem p = parse_problem("b=1,hq=2,sq=16,d=32,mask=causal");
  const ReferenceResult r = reference_sdpa(p, generate_inputs(p));
  for (std::size_t i = 0; i < r.out.size(); ++i) EXPECT_LE(std::abs(r.out[i]), r.abs_pv[i] * (1 + 1e-15));
}

TEST(Reference, StaysAccurateOnALongSequence) {
  // 64k keys with equal logits: every weight is exactly 1, so the output must be the plain
  // mean of V — which uncompensated double sums would miss by ~n·2^-53.
  const Problem p = parse_problem("b=1,hq=1,sq=1,skv=65536,d=1,dv=1");
  Inputs in = generate_inputs(p);
  std::fill(in.q.values.begin(), in.q.values.end(), 0.0f);
  const ReferenceResult r = reference_sdpa(p, in);
  long double mean = 0;
  for (float x : in.v.values) mean += x;
  mean /= static_cast<long double>(in.v.values.size());
  EXPECT_NEAR(r.out[0], static_cast<double>(mean), 1e-16);
}

TEST(Reference, SaturationShowsTheEffectOfTheScale) {
  const Problem p = parse_problem("b=1,hq=4,sq=64,d=128");
  const ReferenceResult r = reference_sdpa(p, generate_inputs(p));
  // N(0,1) inputs: q·k has std √d, so the scaled logits have std ≈ 1 and unscaled ≈ √128.
  EXPECT_NEAR(r.saturation.logit_std, 1.0, 0.1);
  EXPECT_NEAR(r.saturation_unscaled.logit_std, std::sqrt(128.0), 1.2);
  EXPECT_LT(r.saturation.max_prob_mean, 0.3);
  EXPECT_GT(r.saturation_unscaled.max_prob_mean, 0.7);  // without 1/√d the softmax saturates
  EXPECT_GT(r.saturation_unscaled.rows_max_prob_over_95, r.saturation.rows_max_prob_over_95);
}

// The convention of reference.h for non-finite inputs: a row that reads one is NaN in every
// element; what a row does not read (masked keys and values) changes nothing; a fully masked row
// outputs 0 whatever its inputs hold.
TEST(Reference, ARowThatReadsANonFiniteValueIsNaNAndNoOtherRow) {
  const Problem p = parse_problem("b=1,hq=1,sq=6,skv=6,d=4,dv=3,mask=causal");  // row i sees keys 0..i
  const Inputs clean = generate_inputs(p);
  const ReferenceResult want = reference_sdpa(p, clean);
  const auto row_is_nan = [&](const ReferenceResult& r, int64_t row) {
    for (int64_t c = 0; c < p.dv; ++c) {
      const auto idx = static_cast<std::size_t>(row * p.dv + c);
      if (!std::isnan(r.out[idx]) || !std::isnan(r.abs_pv[idx])) return false;
    }
    return true;
  };
  const auto row_is_unchanged = [&](const ReferenceResult& r, int64_t row) {
    for (int64_t c = 0; c < p.dv; ++c) {
      const auto idx = static_cast<std::size_t>(row * p.dv + c);
      if (r.out[idx] != want.out[idx] || r.abs_pv[idx] != want.abs_pv[idx]) return false;
    }
    return true;
  };
  struct Poison {
    const char* what;
    Tensor Inputs::*tensor;
    std::size_t index;
    float value;
    int64_t first_row_reading_it;  // rows from here on read the value (causal)
  };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (const Poison& poison : {Poison{"NaN in q of row 2", &Inputs::q, 2 * 4 + 1, nan, 2},
                               Poison{"+Inf in key 3", &Inputs::k, 3 * 4 + 0, inf, 3},
                               Poison{"-Inf in key 3", &Inputs::k, 3 * 4 + 2, -inf, 3},
                               Poison{"NaN in value 4, one channel", &Inputs::v, 4 * 3 + 1, nan, 4},
                               Poison{"+Inf in value 1", &Inputs::v, 1 * 3 + 2, inf, 1}}) {
    Inputs in = clean;
    (in.*poison.tensor).values[poison.index] = poison.value;
    const ReferenceResult r = reference_sdpa(p, in);
    for (int64_t row = 0; row < p.sq; ++row) {
      const bool reads = poison.tensor == &Inputs::q ? row == 2 : row >= poison.first_row_reading_it;
      if (reads) {
        EXPECT_TRUE(row_is_nan(r, row)) << poison.what << ", row " << row;
      } else {
        EXPECT_TRUE(row_is_unchanged(r, row)) << poison.what << ", row " << row;
      }
    }
    EXPECT_TRUE(std::isfinite(r.saturation.logit_std) && std::isfinite(r.saturation.max_prob_mean)) << poison.what;
  }
}

TEST(Reference, AFullyMaskedRowIsZeroWhateverItsInputs) {
  const Problem p = parse_problem("b=1,hq=1,sq=5,skv=2,d=4,dv=2,mask=causal_br");  // rows 0..2 see nothing
  Inputs in = generate_inputs(p);
  std::fill_n(in.q.values.begin(), 3 * p.d, std::numeric_limits<float>::quiet_NaN());
  const ReferenceResult r = reference_sdpa(p, in);
  for (int64_t row = 0; row < 3; ++row)
    for (int64_t c = 0; c < p.dv; ++c) EXPECT_EQ(r.out[static_cast<std::size_t>(row * p.dv + c)], 0.0);
  EXPECT_TRUE(std::isfinite(r.out[static_cast<std::size_t>(3 * p.dv)]));
}

// Past the parser's scale limit a logit overflows f32, where kernels compute it: the row is NaN
// (the case is then invalid), even where double would still hold the logit.
TEST(Reference, ALogitPastTheF32RangeMakesItsRowNaN) {
  Problem p = parse_problem("b=1,hq=1,sq=3,d=8");
  p.scale_value = 1e39;
  const ReferenceResult r = reference_sdpa(p, generate_inputs(p));
  for (double x : r.out) EXPECT_TRUE(std::isnan(x));
  p.scale_value = max_scale(p.d);
  const ReferenceResult ok = reference_sdpa(p, generate_inputs(p));
  for (double x : ok.out) EXPECT_TRUE(std::isfinite(x));
}

// abs_qk_max, the scale of the logit term of the accuracy rule, is max over visible keys of
// scale·Σ|qᵢkᵢ|.
TEST(Reference, AbsQkMaxIsTheLargestScaledAbsoluteDotProductOfTheVisibleKeys) {
  const Problem p = parse_problem("b=1,hq=1,sq=4,skv=4,d=3,mask=causal,scale=0.5");
  const Inputs in = generate_inputs(p);
  const ReferenceResult r = reference_sdpa(p, in);
  for (int64_t i = 0; i < p.sq; ++i) {
    double want = 0;
    for (int64_t j = 0; j <= i; ++j) {
      double sum = 0;
      for (int64_t c = 0; c < p.d; ++c)
        sum += std::abs(double{in.q.values[static_cast<std::size_t>(i * p.d + c)]} * in.k.values[static_cast<std::size_t>(j * p.d + c)]);
      want = std::max(want, 0.5 * sum);
    }
    EXPECT_DOUBLE_EQ(r.abs_qk_max[static_cast<std::size_t>(i)], want) << "row " << i;
  }
}

}  // namespace
}  // namespace sdpa

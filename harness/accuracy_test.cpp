#include "harness/accuracy.h"

#include <gtest/gtest.h>

#include <cmath>

#include "harness/inputs.h"

namespace sdpa {
namespace {

struct Fixture {
  Problem p = parse_problem("b=2,hq=2,sq=8,skv=8,d=16,dv=4,dtype=f16,mask=causal_br");
  ReferenceResult ref = reference_sdpa(p, generate_inputs(p));
};

TEST(Accuracy, TheReferenceItselfPassesWithZeroError) {
  Fixture f;
  const AccuracyReport r = check_accuracy(f.p, f.ref.out, f.ref);
  EXPECT_TRUE(r.pass());
  EXPECT_EQ(r.max_abs_err, 0);
  EXPECT_EQ(r.nmse, 0);
  EXPECT_EQ(r.checked_elems, f.p.o_elems());
}

TEST(Accuracy, AnErrorJustInsideTheBoundPassesAndJustOutsideFails) {
  Fixture f;
  const std::size_t i = 37;
  const double bound = error_bound(tolerance_for(DType::f16, f.p.d), f.ref.abs_pv[i], f.ref.abs_qk_max[i / 4], f.ref.out[i]);
  std::vector<double> out = f.ref.out;
  out[i] += 0.99 * bound;
  EXPECT_TRUE(check_accuracy(f.p, out, f.ref).pass());
  out[i] = f.ref.out[i] - 1.01 * bound;
  const AccuracyReport r = check_accuracy(f.p, out, f.ref);
  EXPECT_FALSE(r.pass());
  EXPECT_EQ(r.failed_elems, 1);
  ASSERT_FALSE(r.worst.empty());
  // Element 37 of (b=2, h=2, s=8, c=4): c = 1, s = 1, h = 1, b = 0.
  EXPECT_EQ(r.worst[0].c, 1);
  EXPECT_EQ(r.worst[0].s, 1);
  EXPECT_EQ(r.worst[0].h, 1);
  EXPECT_EQ(r.worst[0].b, 0);
  EXPECT_NEAR(r.worst_ratio, 1.01, 1e-9);
  EXPECT_NE(r.summary().find("[b=0,h=1,s=1,c=1]"), std::string::npos);
}

TEST(Accuracy, NonFiniteOutputFails) {
  Fixture f;
  std::vector<double> out = f.ref.out;
  out[3] = NAN;
  EXPECT_FALSE(check_accuracy(f.p, out, f.ref).pass());
  out[3] = INFINITY;
  EXPECT_FALSE(check_accuracy(f.p, out, f.ref).pass());
}

TEST(Accuracy, FullyMaskedRowsMustBeExactlyZero) {
  const Problem p = parse_problem("b=1,hq=1,sq=6,skv=2,d=4,mask=causal_br");  // rows 0..3 fully masked
  const ReferenceResult ref = reference_sdpa(p, generate_inputs(p));
  std::vector<double> out = ref.out;
  out[0] = 1e-30;
  EXPECT_FALSE(check_accuracy(p, out, ref).pass());
}

TEST(Accuracy, WrongSizeFails) {
  Fixture f;
  EXPECT_FALSE(check_accuracy(f.p, std::vector<double>(3), f.ref).pass());
}

TEST(Accuracy, NmseIsRelativeSquaredError) {
  Fixture f;
  std::vector<double> out = f.ref.out;
  double ref_sq = 0;
  for (double& x : out) {
    ref_sq += x * x;
    x *= 1.001;
  }
  EXPECT_NEAR(check_accuracy(f.p, out, f.ref).nmse, 1e-6, 1e-9);
}

TEST(Accuracy, ConstantsFollowTheUnitRoundoffOfEachDtype) {
  EXPECT_EQ(tolerance_for(DType::f16, 64).rel, std::ldexp(1.0, -11));
  EXPECT_EQ(tolerance_for(DType::bf16, 64).rel, std::ldexp(1.0, -8));
  EXPECT_LT(tolerance_for(DType::f32, 64).abs, tolerance_for(DType::f16, 64).abs);
  EXPECT_LT(tolerance_for(DType::f16, 64).abs, tolerance_for(DType::bf16, 64).abs);
}

// scale=1e308 made the reference NaN, and every NaN comparison is false: a backend "passed" with
// "worst=0 of bound nmse=-nan". Such a case is invalid: neither pass nor fail.
TEST(Accuracy, ANonFiniteReferenceIsInvalidNeitherPassNorFail) {
  Problem p = parse_problem("b=1,hq=2,sq=4,d=8");
  p.scale_value = 1e308;  // past the parser's limit, as a hand-made problem can be
  const Inputs in = generate_inputs(p);
  const ReferenceResult ref = reference_sdpa(p, in);
  for (const std::vector<double>& out : {ref.out, std::vector<double>(ref.out.size(), 0.0)}) {
    const AccuracyReport r = check_accuracy(p, out, ref);
    EXPECT_TRUE(r.reference_invalid);
    EXPECT_FALSE(r.pass());
    EXPECT_FALSE(r.fail());
    EXPECT_EQ(r.reference_non_finite_elems, p.o_elems());
    EXPECT_EQ(r.summary().rfind("invalid: reference not finite (64 elements; first [b=0,h=0,s=0,c=0] = nan)", 0), 0u)
        << r.summary();
  }
  // One NaN input: only the row that reads it is NaN, and that is enough to make the case invalid.
  Fixture f;
  Inputs nan_in = generate_inputs(f.p);
  nan_in.q.values[5 * f.p.d] = NAN;  // row 5 = (b=0, h=0, s=5), which sees keys 0..5
  const AccuracyReport r = check_accuracy(f.p, f.ref.out, reference_sdpa(f.p, nan_in));
  EXPECT_TRUE(r.reference_invalid);
  EXPECT_EQ(r.reference_non_finite_elems, f.p.dv);
  EXPECT_NE(r.summary().find("[b=0,h=0,s=5,c=0]"), std::string::npos) << r.summary();
  // A failing backend is still a failure, not invalid.
  std::vector<double> bad = f.ref.out;
  bad[0] += 1;
  EXPECT_TRUE(check_accuracy(f.p, bad, f.ref).fail());
}

// The logit term is (e^{2E} − 1)·Σp|v| with E = (√d + 4)·2^-24·A: zero for zero logits, the
// same for every dtype, growing with A.
TEST(Accuracy, TheLogitTermFollowsItsDerivation) {
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    const Tolerance t = tolerance_for(dtype, 64);
    EXPECT_EQ(t.logit, 12 * std::ldexp(1.0, -24));
    EXPECT_EQ(error_bound(t, 2.0, 0.0, 0.5), t.abs * 2.0 + t.rel * 0.5 + t.underflow);
    EXPECT_NEAR(error_bound(t, 2.0, 1000.0, 0.5) - error_bound(t, 2.0, 0.0, 0.5),
                std::expm1(2 * 12 * std::ldexp(1.0, -24) * 1000.0) * 2.0, 1e-18);
  }
  EXPECT_EQ(tolerance_for(DType::f32, 1 << 20).logit, 1028 * std::ldexp(1.0, -24));
}

// Below the normal range rounding errs absolutely, by up to half the smallest subnormal spacing:
// the f16 output that failed before the term existed (dist=outliers:4:20, n = 2048: want
// −215.435·2^-24, got −215·2^-24, Σp|v| and A of that row) passes, two spacings further off does
// not, and a fully masked row (Σp|v| = 0) still demands an exact zero.
TEST(Accuracy, TheUnderflowTermCoversRoundingToASubnormal) {
  const Tolerance t = tolerance_for(DType::f16, 64);
  EXPECT_EQ(t.underflow, std::ldexp(1.0, -25));
  EXPECT_EQ(tolerance_for(DType::bf16, 64).underflow, std::ldexp(1.0, -134));
  EXPECT_EQ(tolerance_for(DType::f32, 64).underflow, std::ldexp(1.0, -150));
  const double want = -215.435 * std::ldexp(1.0, -24), got = -215 * std::ldexp(1.0, -24);
  const double abs_pv = 2.0e-5, a = 10.0;  // a row whose Σp|v| is tiny: the relative terms are ~1e-8
  EXPECT_GT(std::abs(got - want), error_bound(t, abs_pv, a, want) - t.underflow);
  EXPECT_LE(std::abs(got - want), error_bound(t, abs_pv, a, want));
  EXPECT_GT(std::abs(got - std::ldexp(1.0, -23) - want), error_bound(t, abs_pv, a, want));
  EXPECT_EQ(error_bound(t, 0.0, 0.0, 0.0), 0.0);
}

}  // namespace
}  // namespace sdpa

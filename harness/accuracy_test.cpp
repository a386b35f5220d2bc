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
  const double bound = f.ref.abs_pv[i] * tolerance_for(DType::f16).abs + std::abs(f.ref.out[i]) * tolerance_for(DType::f16).rel;
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
  EXPECT_EQ(tolerance_for(DType::f16).rel, std::ldexp(1.0, -11));
  EXPECT_EQ(tolerance_for(DType::bf16).rel, std::ldexp(1.0, -8));
  EXPECT_LT(tolerance_for(DType::f32).abs, tolerance_for(DType::f16).abs);
  EXPECT_LT(tolerance_for(DType::f16).abs, tolerance_for(DType::bf16).abs);
}

}  // namespace
}  // namespace sdpa

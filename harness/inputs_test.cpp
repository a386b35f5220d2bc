#include "harness/inputs.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "core/half.h"

namespace sdpa {
namespace {

TEST(Inputs, SameValuesWhateverTheThreadCount) {
  const Problem p = parse_problem("b=2,hq=4,hkv=2,sq=33,skv=17,d=24,dv=8,seed=5");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const Inputs one = generate_inputs(p);
  omp_set_num_threads(2);
  const Inputs two = generate_inputs(p);
  omp_set_num_threads(saved);
  EXPECT_EQ(one.q.values, two.q.values);
  EXPECT_EQ(one.k.values, two.k.values);
  EXPECT_EQ(one.v.values, two.v.values);
  EXPECT_EQ(one.q.shape, (std::array<int64_t, 4>{2, 4, 33, 24}));
  EXPECT_EQ(one.v.shape, (std::array<int64_t, 4>{2, 2, 17, 8}));
}

TEST(Inputs, SeedAndTensorChangeTheValues) {
  const Inputs a = generate_inputs(parse_problem("sq=8,d=8,seed=1"));
  const Inputs b = generate_inputs(parse_problem("sq=8,d=8,seed=2"));
  EXPECT_NE(a.q.values, b.q.values);
  EXPECT_NE(a.q.values, a.k.values);
}

TEST(Inputs, AreStandardNormal) {
  const Inputs in = generate_inputs(parse_problem("sq=4096,d=64"));
  double sum = 0, sq = 0;
  for (float x : in.q.values) {
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  const double n = static_cast<double>(in.q.values.size());
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(std::sqrt(sq / n), 1.0, 0.01);
}

TEST(Inputs, AreRoundedToTheDtypeAndCarryTheirStorage) {
  const Inputs h = generate_inputs(parse_problem("sq=64,d=32,dtype=f16"));
  ASSERT_EQ(h.q.bits16.size(), h.q.values.size());
  for (std::size_t i = 0; i < h.q.values.size(); ++i) {
    ASSERT_EQ(f16_bits_to_f32(h.q.bits16[i]), h.q.values[i]);
  }
  const Inputs b = generate_inputs(parse_problem("sq=64,d=32,dtype=bf16"));
  for (std::size_t i = 0; i < b.v.values.size(); ++i) {
    ASSERT_EQ(bf16_bits_to_f32(b.v.bits16[i]), b.v.values[i]);
  }
  const Inputs f = generate_inputs(parse_problem("sq=64,d=32"));
  EXPECT_TRUE(f.q.bits16.empty());
  // The same seed gives the f32 values rounded: f16 inputs are the f32 inputs, rounded.
  EXPECT_EQ(round_to_f16(f.q.values[3]), h.q.values[3]);
}

}  // namespace
}  // namespace sdpa

namespace sdpa {
namespace {

TEST(Inputs, DistributionsTransformTheSameDraws) {
  const Problem base = parse_problem("b=1,hq=1,sq=64,d=8");
  const Inputs n = generate_inputs(base);
  const Inputs o = generate_inputs(parse_problem("b=1,hq=1,sq=64,d=8,dist=outliers:2:10"));
  const Inputs s = generate_inputs(parse_problem("b=1,hq=1,sq=64,d=8,dist=shift:3"));
  const Inputs h = generate_inputs(parse_problem("b=1,hq=1,sq=64,d=8,dist=normal:0.5"));
  for (std::size_t i = 0; i < n.q.values.size(); ++i) {
    const bool outlier = i % 8 < 2;
    EXPECT_FLOAT_EQ(o.q.values[i], (outlier ? 10.0f : 1.0f) * n.q.values[i]) << i;
    EXPECT_FLOAT_EQ(o.k.values[i], (outlier ? 10.0f : 1.0f) * n.k.values[i]) << i;
    EXPECT_FLOAT_EQ(o.v.values[i], n.v.values[i]) << i;  // V is never scaled
    EXPECT_FLOAT_EQ(s.q.values[i], n.q.values[i] + 3.0f) << i;
    EXPECT_FLOAT_EQ(s.v.values[i], n.v.values[i]) << i;
    EXPECT_FLOAT_EQ(h.v.values[i], 0.5f * n.v.values[i]) << i;
  }
  // Uniform: unit variance, within +-sqrt(3).
  const Inputs u = generate_inputs(parse_problem("b=1,hq=1,sq=4096,d=64,dist=uniform"));
  double sum2 = 0;
  for (float x : u.q.values) {
    ASSERT_LE(std::abs(x), 1.7320509f);
    sum2 += static_cast<double>(x) * x;
  }
  EXPECT_NEAR(sum2 / static_cast<double>(u.q.values.size()), 1.0, 0.02);
}

}  // namespace
}  // namespace sdpa

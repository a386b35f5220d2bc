// The stopping rule on synthetic sample streams: each reason is reached, and not before its time.
#include "harness/stopping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace sdpa {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Feeds `value(i)` at `dt_s` seconds per sample until the rule stops (or `limit` samples).
template <class Value>
StoppingRule feed(const StoppingPolicy& policy, double dt_s, Value value, int limit = 100000) {
  StoppingRule rule(policy);
  for (int i = 0; i < limit && !rule.done(); ++i) rule.add_sample(value(i), (i + 1) * dt_s);
  return rule;
}

TEST(StoppingRule, ConstantSamplesStopAtMinSamplesOnceMinTimeHasPassed) {
  StoppingPolicy p = stopping_policy("default");
  // 1 ms per sample: min_samples (64) arrive before min_time (0.25 s), so it waits for the time.
  const StoppingRule rule = feed(p, 1e-3, [](int) { return 1.0; });
  EXPECT_TRUE(starts_with(rule.reason(), "rel_stderr")) << rule.reason();
  EXPECT_EQ(rule.samples(), 250);
}

TEST(StoppingRule, NoisySamplesRunToMaxTime) {
  StoppingPolicy p = stopping_policy("default");
  // Alternating 1 and 100: the mean's relative standard error stays far above 0.5%.
  const StoppingRule rule = feed(p, 0.1, [](int i) { return i % 2 ? 100.0 : 1.0; });
  EXPECT_TRUE(starts_with(rule.reason(), "max_time")) << rule.reason();
  EXPECT_EQ(rule.samples(), 100);  // 10 s at 0.1 s per sample
}

TEST(StoppingRule, FastNoisySamplesStopAtMaxSamples) {
  StoppingPolicy p = stopping_policy("default");
  const StoppingRule rule = feed(p, 1e-6, [](int i) { return i % 2 ? 100.0 : 1.0; });
  EXPECT_EQ(rule.reason(), "max_samples 2000");
  EXPECT_EQ(rule.samples(), 2000);
}

TEST(StoppingRule, SlowCaseStopsAtItsBudgetShortOfMinSamples) {
  StoppingPolicy p = stopping_policy("default");
  const StoppingRule rule = feed(p, 25.0, [](int) { return 25000.0; });
  EXPECT_TRUE(starts_with(rule.reason(), "case budget 60 s, 3 of 64")) << rule.reason();
  EXPECT_EQ(rule.samples(), 3);
}

TEST(StoppingRule, NeverStopsBeforeMinSamplesWithinTheBudget) {
  StoppingPolicy p = stopping_policy("default");
  StoppingRule rule(p);
  for (int i = 0; i < 63; ++i) {
    rule.add_sample(1.0, 1.0 + i * 0.5);  // past max_time, within the case budget
    ASSERT_FALSE(rule.done()) << "stopped at sample " << i + 1 << ": " << rule.reason();
  }
  rule.add_sample(1.0, 40.0);
  EXPECT_TRUE(starts_with(rule.reason(), "max_time")) << rule.reason();
}

TEST(StoppingRule, RelativeStandardErrorMatchesTheClosedForm) {
  StoppingRule rule(stopping_policy("p99"));
  for (double v : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) rule.add_sample(v, 0.0);
  // mean 5, sample stddev sqrt(32/7), n = 8
  EXPECT_NEAR(rule.rel_stderr(), std::sqrt(32.0 / 7.0) / std::sqrt(8.0) / 5.0, 1e-12);
  EXPECT_FALSE(rule.done());
}

TEST(StoppingRule, UnknownPolicyIsRefused) { EXPECT_THROW(stopping_policy("fast"), std::invalid_argument); }

}  // namespace
}  // namespace sdpa

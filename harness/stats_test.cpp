#include "harness/stats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sdpa {
namespace {

TEST(Stats, PercentileInterpolatesLikeNumpy) {
  // numpy.percentile([1,2,3,4,10], [0,50,90,99,100]) = 1, 3, 7.6, 9.76, 10
  const std::vector<double> s{10, 2, 4, 1, 3};
  EXPECT_DOUBLE_EQ(percentile(s, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(s, 50), 3);
  EXPECT_NEAR(percentile(s, 90), 7.6, 1e-12);
  EXPECT_NEAR(percentile(s, 99), 9.76, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(s, 100), 10);
  EXPECT_TRUE(std::isnan(percentile({}, 50)));
}

TEST(Stats, SummaryOfSamples) {
  const Summary s = summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(s.count, 8);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_NEAR(s.stddev, std::sqrt(32.0 / 7.0), 1e-12);  // sample standard deviation
  EXPECT_DOUBLE_EQ(s.min, 2);
  EXPECT_DOUBLE_EQ(s.max, 9);
  EXPECT_DOUBLE_EQ(s.p50, 4.5);
}

TEST(Stats, PowerLawFitRecoversTheExponent) {
  std::vector<double> n{256, 512, 1024, 2048, 4096}, t, flat;
  for (double x : n) {
    t.push_back(3e-6 * x * x);
    flat.push_back(1024);
  }
  PowerFit f = fit_power_law(n, t);
  EXPECT_NEAR(f.slope, 2.0, 1e-12);
  EXPECT_NEAR(f.r2, 1.0, 1e-12);
  EXPECT_EQ(f.points, 5);
  EXPECT_NEAR(fit_power_law(n, flat).slope, 0.0, 1e-12);
  t[2] *= 1.5;  // noise lowers r2
  EXPECT_LT(fit_power_law(n, t).r2, 0.999);
}

TEST(Stats, MlperfEarlyStoppingMinimums) {
  EXPECT_EQ(min_samples_for_percentile(0.90), 44);
  EXPECT_EQ(min_samples_for_percentile(0.99), 459);
}

}  // namespace
}  // namespace sdpa

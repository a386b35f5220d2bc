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

// Reference values from scipy.stats.mannwhitneyu(x, y, alternative="two-sided") (SciPy 1.17.1,
// method "auto"): exact below 9 values a side without ties, else the normal approximation.
TEST(Stats, MannWhitneyMatchesScipy) {
  struct Case {
    std::vector<double> x, y;
    double u, p;
    bool exact;
  };
  std::vector<double> ramp;  // 0, 0.37, ..., 10.73: no ties with the values below
  for (int i = 0; i < 30; ++i) ramp.push_back(i * 0.37);
  std::vector<double> ties_x, ties_y, large_x, large_y, apart_x, apart_y;
  for (int i = 0; i < 20; ++i) ties_x.push_back(i % 7);
  for (int i = 0; i < 25; ++i) ties_y.push_back((i * 3) % 11);
  for (int i = 0; i < 40; ++i) large_x.push_back(1 + ((i * 37) % 101) / 100.0);
  for (int i = 0; i < 50; ++i) large_y.push_back(1.05 + ((i * 53) % 97) / 100.0);
  for (int i = 0; i < 20; ++i) apart_x.push_back(1 + i * 0.001);
  for (int i = 0; i < 20; ++i) apart_y.push_back(1.5 + i * 0.001);
  const std::vector<Case> cases{
      {{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}, 0, 0.007936507936507936, true},  // 2 / C(10, 5)
      {{19, 22, 16, 29, 24}, {20, 11, 17, 12}, 17, 0.1111111111111111, true},  // Mann & Whitney's example
      {{10.1, 10.5, 11.2, 9.9, 12.0}, ramp, 144, 0.0001786638409029301, true},  // 5 against 30
      {ties_x, ties_y, 163, 0.04689788164563818, false},
      {large_x, large_y, 990.5, 0.9417394923667644, false},
      {apart_x, apart_y, 0, 6.795615128173358e-08, false},
  };
  for (const Case& c : cases) {
    const MannWhitney r = mann_whitney_u(c.x, c.y);
    EXPECT_DOUBLE_EQ(r.u, c.u);
    EXPECT_NEAR(r.p_value, c.p, 1e-9 * c.p + 1e-15) << "u " << c.u;
    EXPECT_EQ(r.exact, c.exact) << "u " << c.u;
  }
  // Symmetric: swapping the samples gives the other U and the same p.
  const MannWhitney swapped = mann_whitney_u(ties_y, ties_x);
  EXPECT_DOUBLE_EQ(swapped.u, 20.0 * 25 - 163);
  EXPECT_NEAR(swapped.p_value, 0.04689788164563818, 1e-12);
}

TEST(Stats, MannWhitneyDegenerateSamples) {
  EXPECT_EQ(mann_whitney_u({}, {1, 2}).p_value, 1);
  EXPECT_EQ(mann_whitney_u({3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, {3, 3, 3, 3, 3, 3, 3, 3, 3, 3}).p_value, 1);
  EXPECT_EQ(mann_whitney_u({1}, {2}).p_value, 1);
}

TEST(Stats, MannWhitneySmallestPossibleP) {
  EXPECT_NEAR(mann_whitney_min_p(5, 5), 2.0 / 252, 1e-12);
  EXPECT_NEAR(mann_whitney_min_p(4, 4), 2.0 / 70, 1e-12);  // never below 0.01: 4 a side cannot show a change
  EXPECT_NEAR(mann_whitney_min_p(3, 30), 2.0 / 5456, 1e-12);
  EXPECT_EQ(mann_whitney_min_p(0, 8), 1);
  EXPECT_EQ(mann_whitney_min_p(1, 1), 1);
  // The bound is attained: complete separation of 5 against 5 gives exactly it.
  EXPECT_NEAR(mann_whitney_u({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}).p_value, mann_whitney_min_p(5, 5), 1e-12);
}

}  // namespace
}  // namespace sdpa

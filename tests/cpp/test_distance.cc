// validation/distance: KS and Wasserstein-1 distances on cases with known answers.
#include <gtest/gtest.h>

#include <cmath>

#include "validation/distance.h"

namespace {

using validation::Distribution;

TEST(Distance, IdenticalDistributionsAreZeroApart) {
  const Distribution a(std::vector<double>{1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(validation::ks_distance(a, a), 0.0);
  EXPECT_DOUBLE_EQ(validation::wasserstein1(a, a), 0.0);
}

TEST(Distance, ShiftMovesWassersteinByTheShiftAndKsByTheOverlap) {
  // W1 of a distribution and its translate by c is |c|; for 1..10 shifted by 3, the CDFs
  // differ by 3/10 at most.
  std::vector<double> a, b;
  for (int i = 1; i <= 10; ++i) {
    a.push_back(i);
    b.push_back(i + 3);
  }
  EXPECT_NEAR(validation::wasserstein1(Distribution(a), Distribution(b)), 3.0, 1e-12);
  EXPECT_NEAR(validation::ks_distance(Distribution(a), Distribution(b)), 0.3, 1e-12);
}

TEST(Distance, DisjointSupportsAreOneApartInKs) {
  const Distribution a(std::vector<double>{0, 1}), b(std::vector<double>{5, 6});
  EXPECT_DOUBLE_EQ(validation::ks_distance(a, b), 1.0);
  EXPECT_DOUBLE_EQ(validation::wasserstein1(a, b), 5.0);
}

TEST(Distance, TwoPointMassesMatchTheClosedForm) {
  // Bernoulli(p) vs Bernoulli(q) on {0, 1}: KS = W1 = |p - q|.
  const Distribution a(std::vector<std::pair<double, double>>{{0, 0.7}, {1, 0.3}});
  const Distribution b(std::vector<std::pair<double, double>>{{0, 0.2}, {1, 0.8}});
  EXPECT_NEAR(validation::ks_distance(a, b), 0.5, 1e-12);
  EXPECT_NEAR(validation::wasserstein1(a, b), 0.5, 1e-12);
}

TEST(Distance, UniformGridsApproachTheContinuousAnswer) {
  // U(0,1) vs U(0,2): sup|F-G| = 1/2 at x = 1; W1 = integral_0^2 |F - G| = 1/2.
  std::vector<double> a, b;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    a.push_back((i + 0.5) / n);
    b.push_back(2.0 * (i + 0.5) / n);
  }
  EXPECT_NEAR(validation::ks_distance(Distribution(a), Distribution(b)), 0.5, 1e-3);
  EXPECT_NEAR(validation::wasserstein1(Distribution(a), Distribution(b)), 0.5, 1e-3);
}

TEST(Distance, HistogramWeightsActLikeRepeatedSamples) {
  const Distribution h(std::vector<std::pair<double, double>>{{2, 3}, {5, 1}});
  const Distribution s(std::vector<double>{2, 2, 2, 5});
  EXPECT_DOUBLE_EQ(validation::ks_distance(h, s), 0.0);
  EXPECT_DOUBLE_EQ(h.mean(), 2.75);
  EXPECT_DOUBLE_EQ(h.quantile(0.5), 2.0);
  EXPECT_DOUBLE_EQ(h.quantile(0.75), 2.0);
  EXPECT_DOUBLE_EQ(h.quantile(0.76), 5.0);
  EXPECT_DOUBLE_EQ(h.quantile(1.0), 5.0);
  EXPECT_DOUBLE_EQ(h.cdf(4.9), 0.75);
}

TEST(Distance, EmptyOrZeroWeightInputIsHandled) {
  const Distribution e, z(std::vector<std::pair<double, double>>{{1, 0}});
  EXPECT_TRUE(z.empty());
  EXPECT_DOUBLE_EQ(validation::ks_distance(e, Distribution(std::vector<double>{1})), 1.0);
  EXPECT_DOUBLE_EQ(e.quantile(0.5), 0.0);
}

}  // namespace

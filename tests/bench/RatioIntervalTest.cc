#include <gtest/gtest.h>

#include "tests/bench/RatioInterval.h"

namespace berth::bench {
namespace {

Samples steady(double per_unit, std::size_t units) {
  Samples s;
  for (std::size_t i = 0; i < units; ++i) s.add(per_unit, 1.0);
  return s;
}

TEST(RatioIntervalTest, ARateIsItsTotalsNotAMeanOfRates) {
  Samples s;
  s.add(10, 1);
  s.add(10, 3);
  EXPECT_DOUBLE_EQ(s.rate(), 5.0);  // the mean of the two rates would be 6.67
  EXPECT_DOUBLE_EQ(s.rate(1, 2), 10.0 / 3);
}

TEST(RatioIntervalTest, TargetsThatKeepTheirRatioInEveryUnitAreKnownExactly) {
  Samples num, den;
  for (double speed : {1.0, 0.7, 1.3, 0.9, 1.1, 0.8, 1.2, 1.0, 0.6, 1.4, 1.0, 1.05}) {
    num.add(200 * speed, 1);  // the machine's speed moves both alike
    den.add(100 * speed, 1);
  }
  EXPECT_NEAR(ratioHalfWidth(num, den), 0.0, 1e-12);
}

TEST(RatioIntervalTest, TheSpreadOfBatchRatiosGivesStudentsInterval) {
  Samples num;
  for (int i = 0; i < 10; ++i) num.add(i % 2 == 0 ? 110 : 90, 1);
  // Ten batches of one unit: ratios 1.1 and 0.9, sd sqrt(0.1 / 9), t(0.975, 9) = 2.262.
  EXPECT_NEAR(ratioHalfWidth(num, steady(100, 10)), 2.262 * std::sqrt(0.1 / 9) / std::sqrt(10.0),
              1e-9);
}

TEST(RatioIntervalTest, BatchesAreConsecutiveUnits) {
  Samples num;
  for (int i = 0; i < 20; ++i) num.add(i % 2 == 0 ? 110 : 90, 1);
  // Ten batches of two: each holds one fast and one slow unit, so each batch's ratio is 1.
  EXPECT_NEAR(ratioHalfWidth(num, steady(100, 20)), 0.0, 1e-12);
}

TEST(RatioIntervalTest, OneUnitSaysNothing) {
  EXPECT_TRUE(std::isinf(ratioHalfWidth(steady(100, 1), steady(100, 1))));
  EXPECT_TRUE(std::isinf(ratioHalfWidth(steady(100, 5), Samples{})));
}

}  // namespace
}  // namespace berth::bench

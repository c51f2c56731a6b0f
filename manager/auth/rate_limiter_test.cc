#include "manager/auth/rate_limiter.h"

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace ward::manager {
namespace {

TEST(RateLimiter, AllowsTheLimitPerMinuteThenAsksToWait) {
  test::FakeClock clock;
  RateLimiter limiter(60, clock);
  for (int i = 0; i < 60; ++i) ASSERT_EQ(limiter.Take("k"), 0) << i;
  int wait = limiter.Take("k");
  EXPECT_GE(wait, 1);
  EXPECT_EQ(limiter.Take("other"), 0);  // buckets are per key
  clock.Advance(std::chrono::seconds(wait));
  EXPECT_EQ(limiter.Take("k"), 0);
}

TEST(RateLimiter, ZeroMeansUnlimited) {
  test::FakeClock clock;
  RateLimiter limiter(0, clock);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(limiter.Take("k"), 0);
}

}  // namespace
}  // namespace ward::manager

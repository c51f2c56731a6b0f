#include "manager/auth/auth_failures.h"

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace ward::manager {
namespace {

using namespace std::chrono_literals;

TEST(AuthFailureThrottle, ThrottlesAnAddressAfterItsBurstUntilTheBucketRefills) {
  test::FakeClock clock;
  AuthFailureThrottle t(6, clock);  // 6 a minute: one token every 10 s
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(t.Check("10.0.0.1"), 0);
    t.RecordFailure("10.0.0.1");
  }
  const int wait = t.Check("10.0.0.1");
  EXPECT_GE(wait, 9);
  EXPECT_LE(wait, 10);
  EXPECT_EQ(t.Check("10.0.0.2"), 0);  // other addresses are not affected
  clock.Advance(10s);
  EXPECT_EQ(t.Check("10.0.0.1"), 0);
}

TEST(AuthFailureThrottle, SummarisesEachAddressOncePerInterval) {
  test::FakeClock clock;
  AuthFailureThrottle t(2, clock);
  for (int i = 0; i < 3; ++i) t.RecordFailure("10.0.0.1");
  EXPECT_GT(t.Check("10.0.0.1"), 0);
  t.RecordFailure("10.0.0.2");
  auto s = t.TakeSummaries();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].address, "10.0.0.1");
  EXPECT_EQ(s[0].failures, 3);
  EXPECT_EQ(s[0].throttled, 1);
  EXPECT_EQ(s[1].address, "10.0.0.2");
  EXPECT_EQ(s[1].failures, 1);
  EXPECT_TRUE(t.TakeSummaries().empty());  // a new interval starts empty
}

TEST(AuthFailureThrottle, ZeroPerMinuteCountsButNeverThrottles) {
  test::FakeClock clock;
  AuthFailureThrottle t(0, clock);
  for (int i = 0; i < 100; ++i) t.RecordFailure("10.0.0.1");
  EXPECT_EQ(t.Check("10.0.0.1"), 0);
  auto s = t.TakeSummaries();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].failures, 100);
}

}  // namespace
}  // namespace ward::manager

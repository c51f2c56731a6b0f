#include "manager/net/http_head.h"

#include <gtest/gtest.h>

namespace ward::manager {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

TEST(SplitTarget, DecodesThePathAndTheQueryInOrder) {
  std::string path;
  Query q;
  ASSERT_TRUE(
      SplitTarget("/api/v1/events%2Fx?to=b&from=2026-01-01T00%3A00%3A00Z&q=a+b&flag&=x", path, q));
  EXPECT_EQ(path, "/api/v1/events/x");
  EXPECT_EQ(q, (Query{{"to", "b"}, {"from", "2026-01-01T00:00:00Z"}, {"q", "a b"}, {"flag", ""}}));
}

TEST(SplitTarget, RefusesTargetsThatAreNotOriginFormOrHoldNul) {
  std::string path;
  Query q;
  EXPECT_FALSE(SplitTarget("http://x/api", path, q));
  EXPECT_FALSE(SplitTarget("", path, q));
  EXPECT_FALSE(SplitTarget("/a%00b", path, q));
}

TEST(PercentDecode, KeepsMalformedEscapesAndPlusOutsideQueries) {
  EXPECT_EQ(PercentDecode("%4", false), "%4");
  EXPECT_EQ(PercentDecode("%zz%41", false), "%zzA");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
}

}  // namespace
}  // namespace ward::manager

#include "agent/modules/loginspect/line_splitter.h"

#include <gtest/gtest.h>

namespace ward::agent::loginspect {
namespace {

TEST(LineSplitter, SplitsAcrossFeedsAndKnowsOffsets) {
  LineSplitter s(64, 100);
  std::vector<Line> out;
  s.Feed("one\ntw", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "one");
  EXPECT_EQ(out[0].start, 100u);
  EXPECT_EQ(out[0].end, 104u);
  EXPECT_EQ(s.consumed(), 104u);
  s.Feed("o\n\nthree\n", out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].text, "two");
  EXPECT_EQ(out[2].text, "");
  EXPECT_EQ(out[3].text, "three");
  EXPECT_EQ(out[3].end, s.offset());
  EXPECT_EQ(s.consumed(), s.offset());
}

TEST(LineSplitter, CutsAnOverLongLineAndMarksIt) {
  LineSplitter s(8, 0);
  std::vector<Line> out;
  s.Feed("12345678", out);  // exactly the limit, no newline yet: not cut
  EXPECT_TRUE(out.empty());
  s.Feed("\nabcdefghijklmnop", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, "12345678");
  EXPECT_FALSE(out[0].truncated);
  EXPECT_EQ(out[1].text, "abcdefgh");
  EXPECT_TRUE(out[1].truncated);
  s.Feed("qrstuvwxyz\nnext\n", out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].text, "next");
  EXPECT_FALSE(out[2].truncated);
}

TEST(LineSplitter, KeepsInvalidUtf8AndBinaryBytes) {
  LineSplitter s(64, 0);
  std::vector<Line> out;
  std::string bytes("\xff\xfe\x00\x80 caf\xc3\xa9\r\n", 12);
  s.Feed(bytes, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, bytes.substr(0, 11));
}

TEST(LineSplitter, FinishReturnsThePartialLine) {
  LineSplitter s(64, 0);
  std::vector<Line> out;
  s.Feed("a\nb", out);
  EXPECT_EQ(s.consumed(), 2u);
  s.Finish(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].text, "b");
}

TEST(MultilineJoiner, JoinsContinuationLinesUntilTheNextStart) {
  auto j = MultilineJoiner::Create("^\\d{4}-", 1024);
  ASSERT_TRUE(j);
  std::vector<Line> out;
  j->Push({"2026-12-07 error", false, 0, 17}, out);
  j->Push({"  at frame 1", false, 17, 30}, out);
  j->Push({"  at frame 2", false, 30, 43}, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(j->pending_start(), 0u);
  j->Push({"2026-12-07 next", false, 43, 59}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "2026-12-07 error\n  at frame 1\n  at frame 2");
  EXPECT_EQ(out[0].end, 43u);
  EXPECT_EQ(j->pending_start(), 43u);
  j->Flush(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(j->pending());
}

TEST(MultilineJoiner, BoundsARecordToItsLimit) {
  auto j = MultilineJoiner::Create("^S", 10);
  std::vector<Line> out;
  j->Push({"S12345", false, 0, 7}, out);
  for (int i = 0; i < 100; ++i) j->Push({"continuation", false, 0, 0}, out);
  j->Flush(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_LE(out[0].text.size(), 10u);
  EXPECT_TRUE(out[0].truncated);
}

}  // namespace
}  // namespace ward::agent::loginspect

#include "agent/modules/ips/tcp_stream.h"

#include <gtest/gtest.h>

namespace ward::agent::ips {
namespace {

TEST(TcpStream, DeliversInOrderData) {
  BufferBudget budget{1 << 20, 0};
  TcpStream s(&budget, 1 << 16);
  s.Start(100);
  std::string out;
  EXPECT_EQ(s.Add(100, "hello ", &out), TcpStream::AddResult::kInOrder);
  EXPECT_EQ(s.Add(106, "world", &out), TcpStream::AddResult::kInOrder);
  EXPECT_EQ(out, "hello world");
  EXPECT_EQ(s.next_seq(), 111u);
}

TEST(TcpStream, ReordersOutOfOrderSegmentsAndReleasesThemWhenTheGapFills) {
  BufferBudget budget{1 << 20, 0};
  TcpStream s(&budget, 1 << 16);
  s.Start(0);
  std::string out;
  EXPECT_EQ(s.Add(10, "cccc", &out), TcpStream::AddResult::kHeld);
  EXPECT_EQ(s.Add(5, "bbbbb", &out), TcpStream::AddResult::kHeld);
  EXPECT_EQ(out, "");
  EXPECT_EQ(budget.used, 9u);
  EXPECT_EQ(s.Add(0, "aaaaa", &out), TcpStream::AddResult::kInOrder);
  EXPECT_EQ(out, "aaaaabbbbbcccc");
  EXPECT_EQ(budget.used, 14u);  // delivered bytes are kept until the receiver acknowledges them
  s.Acked(14);
  EXPECT_EQ(budget.used, 0u);
}

TEST(TcpStream, RetransmissionsAreDuplicatesAndOverlapsKeepTheFirstBytes) {
  BufferBudget budget{1 << 20, 0};
  TcpStream s(&budget, 1 << 16);
  s.Start(0);
  std::string out;
  s.Add(0, "abcdef", &out);
  EXPECT_EQ(s.Add(0, "abcdef", &out), TcpStream::AddResult::kDuplicate);
  // Overlap with already delivered bytes: only the new tail counts, the old bytes stay.
  EXPECT_EQ(s.Add(3, "XYZghi", &out), TcpStream::AddResult::kInOrder);
  EXPECT_EQ(out, "abcdefghi");
  // Overlapping held segments: the first one held wins.
  out.clear();
  s.Add(12, "1111", &out);      // offsets 12..15
  s.Add(10, "22222222", &out);  // 10..17, overlaps the held one
  s.Add(9, "3", &out);
  EXPECT_EQ(out, "322111122");
}

TEST(TcpStream, InOrderSegmentDoesNotOverwriteHeldBytes) {
  BufferBudget budget{1 << 20, 0};
  TcpStream s(&budget, 1 << 16);
  s.Start(0);
  std::string out;
  s.Add(3, "HELD", &out);
  s.Add(0, "abcdefghij", &out);
  EXPECT_EQ(out, "abcHELDhij");
}

TEST(TcpStream, RefusesSegmentsBeyondThePerStreamAndTotalLimits) {
  BufferBudget budget{10, 0};
  TcpStream a(&budget, 8);
  TcpStream b(&budget, 8);
  a.Start(0);
  b.Start(0);
  std::string out;
  EXPECT_EQ(a.Add(100, std::string(9, 'x'), &out), TcpStream::AddResult::kRefused);
  EXPECT_EQ(a.Add(100, std::string(6, 'x'), &out), TcpStream::AddResult::kHeld);
  EXPECT_EQ(b.Add(100, std::string(6, 'y'), &out), TcpStream::AddResult::kRefused);  // total
  EXPECT_EQ(b.Add(100, std::string(4, 'y'), &out), TcpStream::AddResult::kHeld);
  EXPECT_EQ(budget.used, 10u);
  a.Clear();
  EXPECT_EQ(budget.used, 4u);
}

TEST(TcpStream, SequenceNumbersWrapAround) {
  BufferBudget budget{1 << 20, 0};
  TcpStream s(&budget, 1 << 16);
  s.Start(0xfffffffd);
  std::string out;
  s.Add(0x00000001, "de", &out);  // after the wrap, held
  s.Add(0xfffffffd, "abcd", &out);
  EXPECT_EQ(out, "abcdde");
  EXPECT_EQ(s.next_seq(), 3u);
}

}  // namespace
}  // namespace ward::agent::ips

namespace ward::agent::ips {
namespace {

TEST(TcpStream, RefusesConflictingOverlapsWhenAskedAndChangesNothing) {
  BufferBudget budget{1 << 20, 0};
  TcpStream s(&budget, 1 << 16);
  s.Start(0);
  std::string out;
  EXPECT_EQ(s.Add(5, "safe", &out, true), TcpStream::AddResult::kHeld);
  EXPECT_EQ(s.Add(5, "evil", &out, true), TcpStream::AddResult::kConflict);
  EXPECT_EQ(s.Add(3, "xxsafe", &out, true), TcpStream::AddResult::kHeld);  // same bytes: fine
  EXPECT_EQ(s.Add(0, "abcdeEVIL", &out, true), TcpStream::AddResult::kConflict);
  EXPECT_EQ(out, "");
  EXPECT_EQ(s.Add(0, "abcdesafe", &out, true), TcpStream::AddResult::kConflict);  // 3,4 = "xx"
  EXPECT_EQ(s.Add(0, "abcxxsafe", &out, true), TcpStream::AddResult::kInOrder);
  EXPECT_EQ(out, "abcxxsafe");
  EXPECT_EQ(budget.used, 9u);  // kept until acknowledged
  s.Acked(9);
  EXPECT_EQ(budget.used, 0u);
}

}  // namespace
}  // namespace ward::agent::ips

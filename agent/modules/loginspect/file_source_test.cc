#include "agent/modules/loginspect/file_source.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "testing/temp_dir.h"

namespace ward::agent::loginspect {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

void Append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

std::string Lines(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += fmt::format("line {}\n", i);
  return s;
}

// Polls until nothing more is ready; returns the texts.
std::vector<std::string> Drain(FileSource& src, size_t budget = 1000) {
  std::vector<std::string> texts;
  for (int round = 0; round < 100000; ++round) {
    std::vector<SourceLine> out;
    bool more = src.Poll(budget, out);
    for (auto& l : out) texts.push_back(l.text);
    if (!more && out.empty()) break;
  }
  return texts;
}

std::vector<std::string> Expect(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i <= to; ++i) v.push_back(fmt::format("line {}", i));
  return v;
}

FileSpec Spec(const std::string& path, uint64_t max_line = 64 * 1024) {
  FileSpec s;
  s.path = path;
  s.max_line = max_line;
  return s;
}

class FileSourceTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  std::string log_ = tmp_.Sub("app.log");
};

TEST_F(FileSourceTest, ReadsOnlyWhatIsAppendedAfterTheFirstLook) {
  Append(log_, Lines(1, 3));
  FileSource src(Spec(log_), 0, true);
  EXPECT_TRUE(Drain(src).empty());
  Append(log_, Lines(4, 6));
  EXPECT_EQ(Drain(src), Expect(4, 6));
  Append(log_, "partial");
  EXPECT_TRUE(Drain(src).empty());
  Append(log_, " line\n");
  EXPECT_EQ(Drain(src), std::vector<std::string>{"partial line"});
}

TEST_F(FileSourceTest, RenameRotationLosesAndRepeatsNothing) {
  Append(log_, "");
  FileSource src(Spec(log_), 0, true);
  Drain(src);
  Append(log_, Lines(1, 10));
  auto got = Drain(src);
  Append(log_, Lines(11, 20));  // written before the rotation, not read yet
  fs::rename(log_, log_ + ".1");
  Append(log_, Lines(21, 30));
  for (auto& l : Drain(src)) got.push_back(l);
  Append(log_, Lines(31, 35));
  for (auto& l : Drain(src)) got.push_back(l);
  EXPECT_EQ(got, Expect(1, 35));
  EXPECT_GE(src.counters().rotations, 1u);
}

TEST_F(FileSourceTest, RecreationAfterDeleteIsReadFromItsStart) {
  Append(log_, "");
  FileSource src(Spec(log_), 0, true);
  Drain(src);
  Append(log_, Lines(1, 5));
  auto got = Drain(src);
  fs::remove(log_);
  Append(log_, Lines(6, 8));
  for (auto& l : Drain(src)) got.push_back(l);
  EXPECT_EQ(got, Expect(1, 8));
}

TEST_F(FileSourceTest, CopyTruncateLosesAndRepeatsNothing) {
  Append(log_, "");
  FileSource src(Spec(log_), 0, true);
  Drain(src);
  Append(log_, Lines(1, 10));
  auto got = Drain(src);
  Append(log_, Lines(11, 15));  // only in the copy after the truncation
  fs::copy_file(log_, log_ + ".1");
  ASSERT_EQ(::truncate(log_.c_str(), 0), 0);
  Append(log_, Lines(16, 40));  // longer than before: the size alone would not tell
  for (auto& l : Drain(src)) got.push_back(l);
  EXPECT_EQ(got, Expect(1, 40));
  EXPECT_GE(src.counters().truncations, 1u);
}

TEST_F(FileSourceTest, CopyTruncateWrittenBackToTheSameSizeIsNoticed) {
  Append(log_, "");
  FileSource src(Spec(log_), 0, true);
  Drain(src);
  auto fixed = [](int from, int to) {
    std::string s;
    for (int i = from; i <= to; ++i) s += fmt::format("line {:03}\n", i);
    return s;
  };
  Append(log_, fixed(1, 10));
  EXPECT_EQ(Drain(src).size(), 10u);
  fs::copy_file(log_, log_ + ".1");
  ASSERT_EQ(::truncate(log_.c_str(), 0), 0);
  Append(log_, fixed(11, 20));  // the same size as before, at once
  std::vector<std::string> want;
  for (int i = 11; i <= 20; ++i) want.push_back(fmt::format("line {:03}", i));
  EXPECT_EQ(Drain(src), want);
}

TEST_F(FileSourceTest, ARestartResumesAtTheBookmark) {
  Append(log_, "");
  std::map<std::string, FileBookmark> saved;
  {
    FileSource src(Spec(log_), 0, true);
    Drain(src);
    Append(log_, Lines(1, 5));
    EXPECT_EQ(Drain(src), Expect(1, 5));
    Append(log_, "half a li");
    Drain(src);
    saved = src.Bookmarks();
  }
  ASSERT_EQ(saved.count(log_), 1u);
  Append(log_, "ne\n" + Lines(6, 7));
  FileSource again(Spec(log_), 0, true);
  again.Restore(saved);
  auto got = Drain(again);
  std::vector<std::string> want = {"half a line"};
  for (auto& l : Expect(6, 7)) want.push_back(l);
  EXPECT_EQ(got, want);
}

TEST_F(FileSourceTest, RotationWhileStoppedIsFollowedFromTheBookmark) {
  Append(log_, "");
  std::map<std::string, FileBookmark> saved;
  {
    FileSource src(Spec(log_), 0, true);
    Drain(src);
    Append(log_, Lines(1, 5));
    Drain(src);
    saved = src.Bookmarks();
  }
  Append(log_, Lines(6, 9));
  fs::rename(log_, log_ + ".1");
  Append(log_, Lines(10, 12));
  FileSource again(Spec(log_), 0, true);
  again.Restore(saved);
  EXPECT_EQ(Drain(again), Expect(6, 12));
}

TEST_F(FileSourceTest, CopyTruncateWhileStoppedIsFollowedFromTheBookmark) {
  Append(log_, "");
  std::map<std::string, FileBookmark> saved;
  {
    FileSource src(Spec(log_), 0, true);
    Drain(src);
    Append(log_, Lines(1, 5));
    Drain(src);
    saved = src.Bookmarks();
  }
  Append(log_, Lines(6, 9));
  fs::copy_file(log_, log_ + "-20261207");
  ASSERT_EQ(::truncate(log_.c_str(), 0), 0);
  Append(log_, Lines(10, 30));
  FileSource again(Spec(log_), 0, true);
  again.Restore(saved);
  EXPECT_EQ(Drain(again), Expect(6, 30));
}

TEST_F(FileSourceTest, GlobsFindNewFilesAndSkipCompressedRotations) {
  Append(tmp_.Sub("a.log"), "");
  Append(tmp_.Sub("old.log.gz"), "\x1f\x8b compressed\n");
  FileSource src(Spec(tmp_.Sub("*.log*")), 0, true);
  Drain(src);
  Append(tmp_.Sub("a.log"), "from a\n");
  Append(tmp_.Sub("b.log"), "from b\n");  // appears later: read from its start
  Append(tmp_.Sub("c.log.1"), "\x1f\x8b\x08 gzip without its name\n");
  Append(tmp_.Sub("new.log.gz"), "\x1f\x8b\x08 new compressed\n");
  auto got = Drain(src);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"from a", "from b"}));
}

TEST_F(FileSourceTest, AGlobThatMatchesTheRotatedNamesReadsNothingTwice) {
  Append(log_, "");
  FileSource src(Spec(log_ + "*"), 0, true);
  Drain(src);
  Append(log_, Lines(1, 5));
  auto got = Drain(src);
  Append(log_, Lines(6, 8));
  fs::rename(log_, log_ + ".1");
  Append(log_, Lines(9, 10));
  for (int i = 0; i < 3; ++i) {
    for (auto& l : Drain(src)) got.push_back(l);
  }
  fs::rename(log_ + ".1", log_ + ".2");
  fs::rename(log_, log_ + ".1");
  Append(log_, Lines(11, 12));
  for (int i = 0; i < 3; ++i) {
    for (auto& l : Drain(src)) got.push_back(l);
  }
  EXPECT_EQ(got, Expect(1, 12));
}

TEST_F(FileSourceTest, ABurstOfOneHundredThousandLinesIsReadWithoutLossInBoundedSteps) {
  Append(log_, "");
  FileSource src(Spec(log_), 0, true);
  Drain(src);
  std::string burst;
  for (int i = 0; i < 100000; ++i) burst += fmt::format("burst line {}\n", i);
  Append(log_, burst);
  size_t total = 0;
  size_t max_step = 0;
  int next = 0;
  bool in_order = true;
  for (int round = 0; round < 10000; ++round) {
    std::vector<SourceLine> out;
    bool more = src.Poll(1000, out);
    max_step = std::max(max_step, out.size());
    for (const auto& l : out) {
      in_order = in_order && l.text == fmt::format("burst line {}", next);
      ++next;
    }
    total += out.size();
    if (!more && out.empty()) break;
  }
  EXPECT_EQ(total, 100000u);
  EXPECT_TRUE(in_order);
  // Back-pressure: one poll hands out about one budget (plus what one 64 KB read held).
  EXPECT_LE(max_step, 1000u + 64 * 1024 / 12);
  EXPECT_EQ(src.counters().dropped_bytes, 0u);
}

TEST_F(FileSourceTest, AConfiguredBacklogBoundDropsTheOldestAndCountsIt) {
  Append(log_, "");
  FileSource src(Spec(log_), 1024 * 1024, true);
  Drain(src);
  std::string big;
  while (big.size() < 3 * 1024 * 1024)
    big += "x-------------------------------------------------x\n";
  Append(log_, big);
  auto got = Drain(src);
  EXPECT_GT(src.counters().dropped_bytes, 1024u * 1024);
  EXPECT_LT(got.size(), big.size() / 52);
  EXPECT_GT(got.size(), 0u);
  auto notices = src.TakeNotices();
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices[0].find("max_backlog"), std::string::npos);
}

TEST_F(FileSourceTest, AnOverLongLineIsCutAndMarked) {
  Append(log_, "");
  FileSource src(Spec(log_, 256), 0, true);
  Drain(src);
  Append(log_, std::string(1000, 'a') + "\nshort\n");
  std::vector<SourceLine> out;
  src.Poll(100, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, std::string(256, 'a'));
  EXPECT_TRUE(out[0].truncated);
  EXPECT_EQ(out[1].text, "short");
  EXPECT_EQ(out[1].offset, 1001u);
  EXPECT_EQ(src.counters().truncated, 1u);
}

TEST_F(FileSourceTest, MultilineRecordsAreCompleteWhenTheNextStartsOrWhenQuiet) {
  Append(log_, "");
  FileSpec spec = Spec(log_);
  spec.format = LogFormat::kMultiline;
  spec.multiline_start = "^\\d{4}-";
  FileSource src(spec, 0, true);
  Drain(src);
  Append(log_, "2026-12-07 boom\n  at a\n  at b\n2026-12-07 second\n");
  std::vector<SourceLine> out;
  src.Poll(100, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "2026-12-07 boom\n  at a\n  at b");
  // The pending record is where a restart would resume.
  EXPECT_EQ(src.Bookmarks()[log_].offset, 30u);
  out.clear();
  src.Poll(100, out, /*quiet=*/true);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "2026-12-07 second");
}

}  // namespace
}  // namespace ward::agent::loginspect

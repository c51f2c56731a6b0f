#include "agent/core/output.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace ward::agent {
namespace {

namespace fs = std::filesystem;

// Events of identical serialised length: the sequence number is zero-padded.
Event Numbered(const Clock& clock, int n) {
  Event e = Event::Make(clock, "test", "info", "numbered", Severity::kInfo);
  e.Set("test.seq", fmt::format("{:06}", n));
  return e;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The sequence numbers in a JSON-lines file; every line must be a valid event, and the file must
// end with a newline.
std::vector<int> SeqsInFile(const std::string& path) {
  std::string text = test::ReadFileOrDie(path);
  if (!text.empty()) {
    EXPECT_EQ(text.back(), '\n') << path;
  }
  std::vector<int> out;
  for (const auto& line : Lines(text)) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << path << ": " << line;
    auto e = Event::FromJson(line);
    if (!e.has_value()) {
      ADD_FAILURE() << path << ": " << e.error().ToString();
      continue;
    }
    out.push_back(std::stoi(e->GetString("test.seq")));
  }
  return out;
}

std::vector<int> Range(int from, int to) {  // [from, to)
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

TEST(RotatingFileOutput, RotatesAtMaxSizeKeepingTheNewestFiles) {
  test::FakeClock clock;
  test::TempDir dir;
  const std::string path = dir.Sub("events.jsonl");
  const uint64_t line_size = Numbered(clock, 0).ToJson().size() + 1;
  const uint64_t max_size = 3 * line_size;  // three events per file
  constexpr int kKeep = 2;

  auto out = RotatingFileOutput::Open(path, max_size, kKeep);
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  for (int i = 0; i < 20; ++i) (*out)->Write(Numbered(clock, i));
  (*out)->Flush();

  // Files hold 0-2, 3-5, ..., 15-17, 18-19; only the current file and `keep` rotated ones remain.
  EXPECT_EQ(SeqsInFile(path), Range(18, 20));
  EXPECT_EQ(SeqsInFile(path + ".1"), Range(15, 18));
  EXPECT_EQ(SeqsInFile(path + ".2"), Range(12, 15));
  EXPECT_FALSE(fs::exists(path + ".3"));

  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_LE(entry.file_size(), max_size) << entry.path();
  }
  EXPECT_EQ(files, static_cast<size_t>(kKeep) + 1);
}

// Issue #13: state files are 0600, whatever the umask; rotated files keep the mode.
TEST(RotatingFileOutput, EventFilesAreCreated0600WhateverTheUmask) {
  test::FakeClock clock;
  test::TempDir dir;
  const std::string path = dir.Sub("events.jsonl");
  mode_t old = ::umask(0);
  auto out = RotatingFileOutput::Open(path, Numbered(clock, 0).ToJson().size() + 1, 2);
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  for (int i = 0; i < 3; ++i) (*out)->Write(Numbered(clock, i));
  (*out)->Flush();
  ::umask(old);
  for (const std::string& p : {path, path + ".1"}) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << p;
  }
}

TEST(RotatingFileOutput, DoesNotRotateBeforeTheFileIsFull) {
  test::FakeClock clock;
  test::TempDir dir;
  const std::string path = dir.Sub("events.jsonl");
  const uint64_t line_size = Numbered(clock, 0).ToJson().size() + 1;
  auto out = RotatingFileOutput::Open(path, 3 * line_size, 5);
  ASSERT_TRUE(out.has_value());
  for (int i = 0; i < 3; ++i) (*out)->Write(Numbered(clock, i));
  (*out)->Flush();
  EXPECT_EQ(fs::file_size(path), 3 * line_size);  // exactly max_size is allowed
  EXPECT_FALSE(fs::exists(path + ".1"));

  (*out)->Write(Numbered(clock, 3));
  (*out)->Flush();
  EXPECT_EQ(SeqsInFile(path + ".1"), Range(0, 3));
  EXPECT_EQ(SeqsInFile(path), Range(3, 4));
}

TEST(RotatingFileOutput, ReopeningAppendsAndCountsTheExistingSize) {
  test::FakeClock clock;
  test::TempDir dir;
  const std::string path = dir.Sub("events.jsonl");
  const uint64_t line_size = Numbered(clock, 0).ToJson().size() + 1;
  {
    auto out = RotatingFileOutput::Open(path, 3 * line_size, 5);
    ASSERT_TRUE(out.has_value());
    for (int i = 0; i < 2; ++i) (*out)->Write(Numbered(clock, i));
  }  // destruction flushes and closes
  EXPECT_EQ(SeqsInFile(path), Range(0, 2));
  {
    auto out = RotatingFileOutput::Open(path, 3 * line_size, 5);
    ASSERT_TRUE(out.has_value());
    for (int i = 2; i < 4; ++i) (*out)->Write(Numbered(clock, i));
  }
  EXPECT_EQ(SeqsInFile(path + ".1"), Range(0, 3));
  EXPECT_EQ(SeqsInFile(path), Range(3, 4));
}

TEST(RotatingFileOutput, AnEventLargerThanMaxSizeGetsAFileOfItsOwn) {
  test::FakeClock clock;
  test::TempDir dir;
  const std::string path = dir.Sub("events.jsonl");
  auto out = RotatingFileOutput::Open(path, 16, 5);
  ASSERT_TRUE(out.has_value());
  for (int i = 0; i < 3; ++i) (*out)->Write(Numbered(clock, i));
  (*out)->Flush();
  EXPECT_EQ(SeqsInFile(path), Range(2, 3));
  EXPECT_EQ(SeqsInFile(path + ".1"), Range(1, 2));
  EXPECT_EQ(SeqsInFile(path + ".2"), Range(0, 1));
  EXPECT_FALSE(fs::exists(path + ".3"));
}

TEST(RotatingFileOutput, LinesWithAwkwardBytesStayValidJson) {
  test::FakeClock clock;
  test::TempDir dir;
  const std::string path = dir.Sub("events.jsonl");
  auto out = RotatingFileOutput::Open(path, 1 << 20, 1);
  ASSERT_TRUE(out.has_value());
  Event e = Numbered(clock, 0);
  e.SetBytes("file.name", "a\nb\xFF\xFE");
  e.Set("message", "quote \" backslash \\ tab \t");
  (*out)->Write(e);
  (*out)->Flush();
  auto lines = Lines(test::ReadFileOrDie(path));
  ASSERT_EQ(lines.size(), 1u);
  auto back = Event::FromJson(lines[0]);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->doc(), e.doc());
}

TEST(RotatingFileOutput, OpenFailsWhenTheDirectoryIsMissing) {
  test::TempDir dir;
  auto out = RotatingFileOutput::Open(dir.Sub("missing/events.jsonl"), 1 << 20, 5);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code(), StatusCode::kNotFound);
  EXPECT_NE(out.error().message().find("missing/events.jsonl"), std::string::npos);
}

TEST(JsonLinesOutput, WritesOneFlushedJsonLinePerEvent) {
  test::FakeClock clock;
  FILE* stream = std::tmpfile();
  ASSERT_NE(stream, nullptr);
  JsonLinesOutput out(stream);
  std::vector<Event> written;
  for (int i = 0; i < 3; ++i) {
    Event e = Numbered(clock, i);
    e.Set("message", fmt::format("line {}\nwith a newline", i));
    out.Write(e);
    written.push_back(e);
  }

  // Flushed per event: the bytes are in the file without an fflush by the test.
  std::string text;
  char buf[4096];
  ssize_t n;
  off_t off = 0;
  while ((n = ::pread(fileno(stream), buf, sizeof buf, off)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    off += n;
  }
  std::fclose(stream);

  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  auto lines = Lines(text);
  ASSERT_EQ(lines.size(), 3u);
  for (size_t i = 0; i < lines.size(); ++i) {
    auto e = Event::FromJson(lines[i]);
    ASSERT_TRUE(e.has_value()) << lines[i];
    EXPECT_EQ(e->doc(), written[i].doc());
  }
}

}  // namespace
}  // namespace ward::agent

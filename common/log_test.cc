#include "common/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "testing/temp_dir.h"

namespace ward {
namespace {

std::string Format(const spdlog::formatter& f, spdlog::level::level_enum level,
                   std::string_view text) {
  spdlog::details::log_msg msg("ward", level, text);
  spdlog::memory_buf_t buf;
  auto copy = f.clone();
  copy->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

TEST(Log, JournalLinesCarryTheSyslogPriorityAndNoTimestamp) {
  auto f = MakeLogFormatter(true);
  EXPECT_EQ(Format(*f, spdlog::level::err, "spool: disk full"), "<3>error spool: disk full\n");
  EXPECT_EQ(Format(*f, spdlog::level::warn, "w"), "<4>warning w\n");
  EXPECT_EQ(Format(*f, spdlog::level::info, "i"), "<6>info i\n");
  EXPECT_EQ(Format(*f, spdlog::level::debug, "d"), "<7>debug d\n");
  EXPECT_EQ(Format(*f, spdlog::level::critical, "c"), "<2>critical c\n");
}

TEST(Log, TerminalLinesStartWithATimestamp) {
  auto f = MakeLogFormatter(false);
  std::string line = Format(*f, spdlog::level::info, "hello");
  // 2026-12-07T08:37:18.123 info hello
  ASSERT_GE(line.size(), 24u);
  EXPECT_EQ(line[4], '-');
  EXPECT_EQ(line[10], 'T');
  EXPECT_NE(line.find(" info hello\n"), std::string::npos) << line;
}

TEST(Log, JournalStreamIsRecognisedByDeviceAndInode) {
  test::TempDir dir;
  int fd = ::open(dir.Sub("stream").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(IsJournalStream(fd));
  std::string same = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", same.c_str(), 1);
  EXPECT_TRUE(IsJournalStream(fd));
  // Inherited by a child whose stderr was redirected elsewhere: not the journal.
  std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  ::setenv("JOURNAL_STREAM", other.c_str(), 1);
  EXPECT_FALSE(IsJournalStream(fd));
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(IsJournalStream(fd));
  ::unsetenv("JOURNAL_STREAM");
  ::close(fd);
}

}  // namespace
}  // namespace ward

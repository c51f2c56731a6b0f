#include "agent/modules/loginspect/journal_source.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include "testing/shell.h"
#include "testing/temp_dir.h"

namespace ward::agent::loginspect {
namespace {

using test::TempDir;

// Journal files written by systemd-journal-remote from the journal export format: the real
// format sd-journal reads, no running journald needed.
void WriteJournal(const std::string& file, const std::vector<std::string>& entries) {
  std::string exported;
  for (const auto& e : entries) exported += e + "\n\n";
  std::string in = file + ".export";
  test::WriteFile(in, exported);
  test::ShOrFail(fmt::format("/lib/systemd/systemd-journal-remote --output={} - < {}",
                             test::ShellQuote(file), test::ShellQuote(in)));
  std::remove(in.c_str());
}

std::string Entry(int64_t usec, const std::string& ident, const std::string& unit,
                  const std::string& msg) {
  return fmt::format(
      "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID="
      "0123456789abcdef0123456789abcdef\n"
      "_HOSTNAME=web1\nSYSLOG_IDENTIFIER={}\n_PID=4242\n_SYSTEMD_UNIT={}\nMESSAGE={}",
      usec, usec / 1000, ident, unit, msg);
}

class JournalSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
  TempDir tmp_;
};

TEST(FormatJournalLine, IsTheSyslogLineTheDecodersExpect) {
  setenv("TZ", "UTC", 1);
  tzset();
  std::map<std::string, std::string> f = {{"_HOSTNAME", "web1"},
                                          {"SYSLOG_IDENTIFIER", "sshd"},
                                          {"_PID", "4242"},
                                          {"MESSAGE", "Failed password\nfor root"}};
  // 2025-12-07 09:33:20 UTC
  EXPECT_EQ(FormatJournalLine(f, 1765100000000000),
            "Dec  7 09:33:20 web1 sshd[4242]: Failed password for root");
  std::map<std::string, std::string> bare = {{"_COMM", "cron"}, {"MESSAGE", "x"}};
  EXPECT_EQ(FormatJournalLine(bare, 0), "Jan  1 00:00:00 localhost cron: x");
}

TEST_F(JournalSourceTest, ReadsEntriesAsLinesFiltersByUnitOrIdentifierAndResumesAtTheCursor) {
  std::string dir = tmp_.Sub("journal");
  std::filesystem::create_directories(dir);
  const int64_t t0 = 1765100000000000;
  WriteJournal(
      dir + "/one.journal",
      {Entry(t0, "sshd", "ssh.service", "Failed password for root from 10.0.0.9 port 2 ssh2"),
       Entry(t0 + 1000000, "cron", "cron.service", "job ran"),
       Entry(t0 + 2000000, "sudo", "session-1.scope", "alice : COMMAND=/bin/id")});
  JournaldSpec spec;
  spec.enabled = true;
  spec.directory = dir;
  spec.units = {"ssh.service"};
  spec.identifiers = {"sudo"};
  auto src = JournalSource::Open(spec, std::nullopt);
  ASSERT_TRUE(src.has_value()) << src.error().message();
  std::vector<JournalEntry> out;
  ASSERT_TRUE((*src)->Poll(100, out).has_value());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].line,
            "Dec  7 09:33:20 web1 sshd[4242]: Failed password for root from 10.0.0.9 port 2 ssh2");
  EXPECT_EQ(out[0].fields.at("_SYSTEMD_UNIT"), "ssh.service");
  EXPECT_EQ(out[1].line, "Dec  7 09:33:22 web1 sudo[4242]: alice : COMMAND=/bin/id");
  std::string cursor = (*src)->cursor();
  EXPECT_EQ(cursor, out[1].cursor);
  EXPECT_FALSE(cursor.empty());

  WriteJournal(dir + "/two.journal", {Entry(t0 + 3000000, "sudo", "x.scope", "later")});
  auto again = JournalSource::Open(spec, cursor);
  ASSERT_TRUE(again.has_value()) << again.error().message();
  out.clear();
  ASSERT_TRUE((*again)->Poll(100, out).has_value());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].line, "Dec  7 09:33:23 web1 sudo[4242]: later");

  // A cursor sd-journal cannot parse (a damaged bookmark): a journal directory is read from its
  // start rather than not at all.
  auto damaged = JournalSource::Open(spec, std::string("not a cursor"));
  ASSERT_TRUE(damaged.has_value()) << damaged.error().message();
  out.clear();
  ASSERT_TRUE((*damaged)->Poll(100, out).has_value());
  EXPECT_EQ(out.size(), 3u);
}

}  // namespace
}  // namespace ward::agent::loginspect

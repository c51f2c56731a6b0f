// The loginspect module in the real ward-agent (docs/loginspect.md): log files followed through
// rotation by rename and copy-truncate with nothing lost or repeated, kill -9 and a restart
// resuming at the bookmark (also across a rotation while the agent was down), sshd brute force
// raised once per source address, the journal read from files systemd-journal-remote wrote, and
// a reload with broken XML refused while the previous rules stay in force.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "testing/shell.h"
#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

void Append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

// A line Ward's default rules raise an alert for (su, rule 180252: no frequency rule above it),
// numbered so every one can be counted.
std::string SuLine(int n) {
  return fmt::format("Dec  7 10:00:00 web1 su: (to root) user{} on pts/0\n", n);
}
std::string SuLines(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += SuLine(i);
  return s;
}

EventPredicate Matched(std::string rule) {
  return [rule](const Json& e) {
    return StrField(e, "event.action") == "rule_matched" && StrField(e, "rule.id") == rule;
  };
}

// user<N> of every su alert, with how often it was seen.
std::map<int, int> SuNumbers(const AgentProcess& agent) {
  std::map<int, int> seen;
  for (const auto& e : agent.Events()) {
    if (StrField(e.doc, "rule.id") != "180252") continue;
    std::string user = StrField(e.doc, "user.name");
    if (user.empty()) user = StrField(e.doc, "loginspect.fields.srcuser");
    std::string orig = StrField(e.doc, "event.original");
    size_t at = orig.find(") user");
    if (at == std::string::npos) continue;
    ++seen[std::atoi(orig.c_str() + at + 6)];
  }
  return seen;
}

std::string Missing(const std::map<int, int>& seen, int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) {
    auto it = seen.find(i);
    if (it == seen.end()) {
      out += fmt::format(" {}:missing", i);
    } else if (it->second != 1) {
      out += fmt::format(" {}:x{}", i, it->second);
    }
  }
  for (const auto& [n, c] : seen) {
    if (n < from || n > to) out += fmt::format(" {}:unexpected", n);
  }
  return out;
}

// The offset bookmarked for `path` in the agent's state database, or -1.
int64_t BookmarkOffset(const std::string& state_dir, const std::string& path) {
  sqlite3* db = nullptr;
  int64_t off = -1;
  std::string file = state_dir + "/loginspect.db";
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 1000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT offset FROM file_bookmarks WHERE path = ?", -1, &st,
                           nullptr) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, path.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW) off = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
  }
  sqlite3_close(db);
  return off;
}

class LoginspectAgent : public ::testing::Test {
 protected:
  ~LoginspectAgent() override { Stop(); }

  void WritePolicy(const std::string& extra = "") {
    WriteFile(config_, fmt::format("agent: {{outputs: {{file: false}}}}\n"
                                   "loginspect:\n  files: [\"{}\"]\n  poll_interval: 50ms\n{}",
                                   log_, extra));
  }
  void Start() {
    agent_ = AgentProcess::Start({"run", "--config", config_, "--state-dir", state_});
    ASSERT_TRUE(agent_);
    auto loaded = agent_->WaitForEvent(Action("ruleset_loaded"), seconds(30));
    ASSERT_TRUE(loaded) << agent_->Transcript() << agent_->Stderr();
  }
  void Stop() {
    if (agent_) {
      agent_->Signal(SIGTERM);
      if (!agent_->WaitForExit(seconds(10))) agent_->Kill();
      agent_.reset();
    }
  }
  // Waits until the bookmark of log_ reaches the file's size (the lines before it were handed
  // over and their events emitted).
  bool WaitForBookmarkAtEnd() {
    auto deadline = std::chrono::steady_clock::now() + seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (BookmarkOffset(state_, log_) == static_cast<int64_t>(fs::file_size(log_))) return true;
      std::this_thread::sleep_for(milliseconds(20));  // polling a file another process writes
    }
    return false;
  }

  TempDir tmp_;
  std::string log_ = tmp_.Sub("logs/auth.log");
  std::string config_ = tmp_.Sub("policy.yaml");
  std::string state_ = tmp_.Sub("state");
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(LoginspectAgent, AppendingWhileRotatingByRenameAndCopytruncateLosesAndRepeatsNothing) {
  WriteFile(log_, "");
  WritePolicy();
  Start();
  int n = 0;
  auto write = [&](int count) {
    for (int i = 0; i < count; ++i) Append(log_, SuLine(++n));
  };
  auto caught_up = [&](size_t count) {
    return agent_->WaitForCount(Matched("180252"), count, seconds(60)) && WaitForBookmarkAtEnd();
  };
  write(100);
  ASSERT_TRUE(caught_up(100)) << agent_->Count(Matched("180252"));
  // The agent is stopped (SIGSTOP) around each rotation, so lines are written that it has not
  // read when the file is rotated, and lines go into the new file before it notices.
  ASSERT_TRUE(agent_->Pause());
  write(200);
  fs::rename(log_, log_ + ".1");  // logrotate's default: rename, then create
  write(100);
  ASSERT_TRUE(agent_->Resume());
  ASSERT_TRUE(caught_up(400)) << agent_->Count(Matched("180252"));

  ASSERT_TRUE(agent_->Pause());
  write(200);
  fs::copy_file(log_, log_ + ".2");  // copytruncate
  ASSERT_EQ(::truncate(log_.c_str(), 0), 0);
  write(100);
  ASSERT_TRUE(agent_->Resume());
  ASSERT_TRUE(caught_up(700)) << agent_->Count(Matched("180252"));

  ASSERT_TRUE(agent_->Pause());
  write(100);
  fs::rename(log_ + ".1", log_ + ".1.gz");  // an older rotation compressed: never read again
  fs::rename(log_, log_ + ".1");
  write(100);
  ASSERT_TRUE(agent_->Resume());
  ASSERT_TRUE(caught_up(900)) << agent_->Count(Matched("180252"));

  EXPECT_EQ(Missing(SuNumbers(*agent_), 1, 900), "");
  EXPECT_EQ(agent_->Count(Matched("180252")), 900u);
}

TEST_F(LoginspectAgent, KillNineAndRestartResumeAtTheBookmarkAlsoAcrossARotation) {
  WriteFile(log_, "");
  WritePolicy();
  Start();
  Append(log_, SuLines(1, 100));
  ASSERT_TRUE(agent_->WaitForCount(Matched("180252"), 100, seconds(30)));
  ASSERT_TRUE(WaitForBookmarkAtEnd());
  agent_->Kill();  // SIGKILL: no clean shutdown
  agent_.reset();

  // While the agent is down: more lines, a rotation by rename, more lines in the new file.
  Append(log_, SuLines(101, 150));
  fs::rename(log_, log_ + ".1");
  Append(log_, SuLines(151, 200));
  Start();
  ASSERT_TRUE(agent_->WaitForCount(Matched("180252"), 100, seconds(30)))
      << agent_->Count(Matched("180252"));
  ASSERT_TRUE(WaitForBookmarkAtEnd());
  EXPECT_EQ(Missing(SuNumbers(*agent_), 101, 200), "");
}

TEST_F(LoginspectAgent, TwentyFailedSshLoginsFromOneAddressRaiseTheBruteForceRuleOnce) {
  WriteFile(log_, "");
  WritePolicy();
  Start();
  std::string lines;
  for (int i = 0; i < 20; ++i) {
    // One address fails 20 times (within seconds: well inside the rule's 2 minutes); another,
    // 7 times.
    lines += fmt::format(
        "Dec  7 10:{:02d}:{:02d} web1 sshd[123]: Failed password for root from 203.0.113.9 "
        "port {} ssh2\n",
        i / 10, (i * 5) % 60, 40000 + i);
    if (i % 3 == 0) {
      lines += fmt::format(
          "Dec  7 10:00:{:02d} web1 sshd[124]: Failed password for admin from 198.51.100.7 "
          "port {} ssh2\n",
          i, 50000 + i);
    }
  }
  Append(log_, lines);
  ASSERT_TRUE(WaitForBookmarkAtEnd());
  auto brute = agent_->WaitForEvent(Matched("180110"), seconds(10));
  ASSERT_TRUE(brute) << agent_->Transcript();
  EXPECT_EQ(StrField(brute->doc, "source.ip"), "203.0.113.9");
  EXPECT_EQ(Field(brute->doc, "event.severity"), 3);
  EXPECT_EQ(Field(brute->doc, "rule.level"), 10);
  EXPECT_EQ(StrField(brute->doc, "log.file.path"), log_);
  // Once: the rule's ignore time keeps it quiet for the rest of the burst; the other address
  // never reached 8.
  EXPECT_EQ(agent_->Count(Matched("180110")), 1u) << agent_->Transcript();
  EXPECT_EQ(agent_->Count([](const Json& e) {
    return StrField(e, "rule.id") == "180101" && StrField(e, "source.ip") == "198.51.100.7";
  }),
            7u);
}

TEST_F(LoginspectAgent, JournalEntriesAreReadFromJournalFilesAndNotRepeatedAfterARestart) {
  std::string dir = tmp_.Sub("journal");
  fs::create_directories(dir);
  std::string exported;
  for (int i = 0; i < 3; ++i) {
    exported += fmt::format(
        "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n"
        "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=web1\nSYSLOG_IDENTIFIER=sshd\n"
        "_PID=77\n_SYSTEMD_UNIT=ssh.service\n"
        "MESSAGE=Failed password for root from 192.0.2.{} port 22 ssh2\n\n",
        1765100000000000 + i * 1000000, 1000 + i, i + 1);
  }
  WriteFile(dir + "/in.export", exported);
  ShOrFail(fmt::format("/lib/systemd/systemd-journal-remote --output={}/remote.journal - < {}",
                       ShellQuote(dir), ShellQuote(dir + "/in.export")));
  WriteFile(log_, "");
  WritePolicy(fmt::format("  journald: {{units: [ssh.service], directory: \"{}\"}}\n", dir));
  Start();
  ASSERT_TRUE(agent_->WaitForCount(Matched("180101"), 3, seconds(30))) << agent_->Transcript();
  auto e = agent_->WaitForEvent(Matched("180101"), seconds(1));
  ASSERT_TRUE(e);
  EXPECT_FALSE(StrField(e->doc, "loginspect.journal.cursor").empty());
  EXPECT_EQ(StrField(e->doc, "loginspect.journal.fields._SYSTEMD_UNIT"), "ssh.service");
  EXPECT_EQ(StrField(e->doc, "loginspect.decoder"), "sshd");
  Stop();

  // The cursor is the bookmark: a restart reads nothing again; a new entry is read.
  Start();
  Append(log_, SuLine(1));  // a marker: once it is seen, the journal was polled too
  ASSERT_TRUE(agent_->WaitForEvent(Matched("180252"), seconds(30)));
  ASSERT_TRUE(WaitForBookmarkAtEnd());
  EXPECT_EQ(agent_->Count(Matched("180101")), 0u) << agent_->Transcript();
}

TEST_F(LoginspectAgent, BrokenXmlOnReloadIsRefusedAndThePreviousRulesStay) {
  std::string rules = tmp_.Sub("rules");
  WriteFile(rules + "/local.xml",
            "<group name=\"local,\">\n  <rule id=\"190001\" level=\"7\">\n"
            "    <match>LOCAL-MARKER</match>\n    <description>local</description>\n"
            "  </rule>\n</group>\n");
  WriteFile(log_, "");
  WritePolicy(fmt::format("  rules: [\"{}\"]\n", rules));
  Start();
  WriteFile(rules + "/local.xml", "<group name=\"local,\">\n  <rule id=\"190001\" level=\"7\"\n");
  ASSERT_TRUE(agent_->Signal(SIGHUP));
  auto rejected = agent_->WaitForEvent(Action("ruleset_rejected"), seconds(20));
  ASSERT_TRUE(rejected) << agent_->Transcript();
  EXPECT_NE(StrField(rejected->doc, "error.message").find("local.xml:"), std::string::npos)
      << StrField(rejected->doc, "error.message");
  Append(log_, "Dec  7 10:00:00 web1 app: LOCAL-MARKER\n");
  EXPECT_TRUE(agent_->WaitForEvent(Matched("190001"), seconds(20))) << agent_->Transcript();
}

}  // namespace
}  // namespace ward::test

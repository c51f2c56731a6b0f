// Integration tests of `ward-agent integrity baseline|check|accept`, of policy errors, and of the
// changes `ward-agent run` finds at start-up after it was stopped. They run the real binary on real
// files in a temporary directory and read its JSON-lines output.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "common/hash.h"
#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr auto kCommandTimeout = seconds(60);
constexpr auto kEventTimeout = seconds(30);

std::string Sha256Hex(std::string_view data) { return DigestHex(Sha256::Of(data)); }

// Every change event (not status/info events) in a command's output.
bool IsChange(const Json& e) { return StrField(e, "event.category") == "file"; }

std::vector<std::string> ChangedAttributes(const Json& e) {
  std::vector<std::string> out;
  const Json& names = Field(e, "integrity.changed_attributes");
  if (names.is_array()) {
    for (const auto& n : names) out.push_back(n.get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The exact bytes of an event's file.path: file.path_base64 when present, else file.path.
std::string PathBytes(const Json& e) {
  if (Field(e, "file.path_base64").is_string()) {
    return DecodeBase64(StrField(e, "file.path_base64")).value_or("<bad base64>");
  }
  return StrField(e, "file.path");
}

// A system call used to set up a test case must work.
void AssertOk(int rc, const char* what) {
  ASSERT_EQ(rc, 0) << what << ": " << std::strerror(errno);
}

class IntegrityCli : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.Sub("root");
    state_ = tmp_.Sub("state");
    config_ = tmp_.Sub("policy.yaml");
    fs::create_directories(root_);
    WritePolicy({root_});
  }

  std::string P(std::string_view relative) const { return root_ + "/" + std::string(relative); }

  void WritePolicy(const std::vector<std::string>& roots, std::string_view schedule = "0") {
    std::string yaml = "agent: {outputs: {file: false}}\nintegrity:\n  paths:\n";
    for (const auto& r : roots)
      yaml += fmt::format("    - {{path: \"{}\", exclude: [\"*.log\"]}}\n", r);
    yaml += fmt::format("  schedule: {}\n  realtime: false\n", schedule);
    WriteFile(config_, yaml);
  }

  std::vector<std::string> Common() const {
    return {"--config", config_, "--state-dir", state_, "--log-level", "warn"};
  }
  CommandResult Integrity(std::string_view command, std::vector<std::string> paths = {},
                          SpawnOptions options = {}) {
    std::vector<std::string> args{"integrity", std::string(command)};
    for (auto& p : paths) args.push_back(std::move(p));
    for (auto& a : Common()) args.push_back(std::move(a));
    CommandResult r = RunAgentCommand(std::move(args), kCommandTimeout, options);
    EXPECT_FALSE(r.timed_out) << command << " did not finish\n" << r.Transcript();
    EXPECT_TRUE(r.bad_lines.empty())
        << command
        << " wrote a line that is not JSON: " << (r.bad_lines.empty() ? "" : r.bad_lines.front());
    return r;
  }
  // Records the baseline and insists it worked.
  void Baseline(SpawnOptions options = {}) {
    CommandResult r = Integrity("baseline", {}, options);
    ASSERT_EQ(r.exit_code, 0) << r.Transcript();
  }
  // Runs check and insists it reported changes (exit 1); returns the output.
  CommandResult CheckExpectingChanges(SpawnOptions options = {}) {
    CommandResult r = Integrity("check", {}, options);
    EXPECT_EQ(r.exit_code, 1) << r.Transcript();
    return r;
  }
  void ExpectCleanCheck() {
    CommandResult r = Integrity("check");
    EXPECT_EQ(r.exit_code, 0) << r.Transcript();
    EXPECT_EQ(r.events.size(), 0u) << r.Transcript();
  }
  // The one event that matches; fails the test when there is not exactly one.
  static Json One(const CommandResult& r, const EventPredicate& pred, std::string_view what) {
    size_t n = r.Count(pred);
    EXPECT_EQ(n, 1u) << "expected exactly one " << what << " event\n" << r.Transcript();
    const Json* e = r.Find(pred);
    return e != nullptr ? *e : Json::object();
  }

  TempDir tmp_;
  std::string root_, state_, config_;
};

TEST(AgentVersion, PrintsVersion) {
  CommandResult r = RunAgentCommand({"--version"}, kCommandTimeout);
  EXPECT_EQ(r.exit_code, 0) << r.Transcript();
  ASSERT_FALSE(r.stdout_lines.empty()) << r.Transcript();
  EXPECT_EQ(r.stdout_lines.front(), "0.1.0");
}

TEST_F(IntegrityCli, CheckWithoutBaselineIsAnError) {
  WriteFile(P("a"), "a");
  CommandResult r = Integrity("check");
  EXPECT_EQ(r.exit_code, 2) << r.Transcript();
  EXPECT_NE(r.stderr_text.find("baseline"), std::string::npos) << r.stderr_text;
}

TEST_F(IntegrityCli, CheckAfterBaselineIsCleanAndSilent) {
  WriteFile(P("a.txt"), "alpha\n");
  WriteFile(P("empty"), "");
  WriteFile(P("sub/deeper/b.bin"), std::string(300000, 'x'));
  AssertOk(::symlink("a.txt", P("link").c_str()), "symlink");
  AssertOk(::symlink("/nonexistent/target", P("dangling").c_str()), "symlink");
  AssertOk(::link(P("a.txt").c_str(), P("hardlink").c_str()), "link");
  Baseline();
  ExpectCleanCheck();
  ExpectCleanCheck();  // check is read-only: the same answer twice
}

TEST_F(IntegrityCli, ReportsContentChangeWhenSizeAndMtimeWereRestored) {
  WriteFile(P("victim"), "aaaa");
  Baseline();
  struct stat before {};
  AssertOk(::stat(P("victim").c_str(), &before), "stat");
  WriteFile(P("victim"), "bbbb");  // same length
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  AssertOk(::utimensat(AT_FDCWD, P("victim").c_str(), times, 0), "utimensat");
  struct stat after {};
  AssertOk(::stat(P("victim").c_str(), &after), "stat");
  ASSERT_EQ(after.st_size, before.st_size);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);

  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("modified", P("victim")), "modified");
  EXPECT_EQ(ChangedAttributes(e), std::vector<std::string>{"sha256"}) << e.dump();
  EXPECT_EQ(StrField(e, "integrity.before.sha256"), Sha256Hex("aaaa"));
  EXPECT_EQ(StrField(e, "integrity.after.sha256"), Sha256Hex("bbbb"));
  EXPECT_EQ(StrField(e, "file.hash.sha256"), Sha256Hex("bbbb"));
  EXPECT_EQ(StrField(e, "integrity.detected_by"), "check");
  EXPECT_EQ(StrField(e, "event.type"), "change");
}

TEST_F(IntegrityCli, ReportsModeChange) {
  WriteFile(P("f"), "x");
  AssertOk(::chmod(P("f").c_str(), 0644), "chmod");
  Baseline();
  AssertOk(::chmod(P("f").c_str(), 0600), "chmod");
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("modified", P("f")), "modified");
  EXPECT_EQ(ChangedAttributes(e), std::vector<std::string>{"mode"}) << e.dump();
  EXPECT_EQ(StrField(e, "integrity.before.mode"), "0644");
  EXPECT_EQ(StrField(e, "integrity.after.mode"), "0600");
  EXPECT_EQ(StrField(e, "file.mode"), "0600");
  EXPECT_EQ(r.Count(IsChange), 1u) << r.Transcript();
}

TEST_F(IntegrityCli, ReportsSetuidBitInMode) {
  WriteFile(P("tool"), "#!/bin/sh\n");
  AssertOk(::chmod(P("tool").c_str(), 0755), "chmod");
  Baseline();
  AssertOk(::chmod(P("tool").c_str(), 04755), "chmod");
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("modified", P("tool")), "modified");
  EXPECT_EQ(StrField(e, "integrity.after.mode"), "4755") << e.dump();
}

TEST_F(IntegrityCli, ReportsOwnerAndGroupChange) {
  WriteFile(P("f"), "x");
  AssertOk(::chown(P("f").c_str(), 0, 0), "chown");
  Baseline();
  AssertOk(::chown(P("f").c_str(), 4242, 4343), "chown");
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("modified", P("f")), "modified");
  EXPECT_EQ(ChangedAttributes(e), (std::vector<std::string>{"group", "owner"})) << e.dump();
  EXPECT_EQ(StrField(e, "integrity.before.owner"), "0");
  EXPECT_EQ(StrField(e, "integrity.after.owner"), "4242");
  EXPECT_EQ(StrField(e, "integrity.after.group"), "4343");
  EXPECT_EQ(StrField(e, "file.uid"), "4242");
}

TEST_F(IntegrityCli, ReportsFileReplacedByDirectory) {
  WriteFile(P("thing"), "was a file");
  Baseline();
  fs::remove(P("thing"));
  fs::create_directory(P("thing"));
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("type_changed", P("thing")), "type_changed");
  EXPECT_TRUE(ChangedAttribute(e, "type")) << e.dump();
  EXPECT_EQ(StrField(e, "file.type"), "dir");
  EXPECT_EQ(StrField(e, "integrity.before.type"), "file");
  EXPECT_EQ(StrField(e, "integrity.after.type"), "dir");
  EXPECT_EQ(Field(e, "event.severity"), 3);
}

TEST_F(IntegrityCli, ReportsFileReplacedBySymlink) {
  WriteFile(P("thing"), "was a file");
  Baseline();
  fs::remove(P("thing"));
  AssertOk(::symlink("/etc/shadow", P("thing").c_str()), "symlink");
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("type_changed", P("thing")), "type_changed");
  EXPECT_TRUE(ChangedAttribute(e, "type")) << e.dump();
  EXPECT_EQ(StrField(e, "file.type"), "symlink");
  EXPECT_EQ(StrField(e, "file.target_path"), "/etc/shadow");
}

TEST_F(IntegrityCli, ReportsSymlinkRetarget) {
  WriteFile(P("one"), "1");
  WriteFile(P("two"), "2");
  AssertOk(::symlink("one", P("link").c_str()), "symlink");
  Baseline();
  fs::remove(P("link"));
  AssertOk(::symlink("two", P("link").c_str()), "symlink");
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("modified", P("link")), "modified");
  EXPECT_TRUE(ChangedAttribute(e, "target")) << e.dump();
  EXPECT_EQ(StrField(e, "integrity.before.target"), "one");
  EXPECT_EQ(StrField(e, "integrity.after.target"), "two");
  EXPECT_EQ(StrField(e, "file.target_path"), "two");
  EXPECT_EQ(r.Count([&](const Json& x) { return StrField(x, "file.path") == P("one"); }), 0u);
}

TEST_F(IntegrityCli, ReportsDeletion) {
  WriteFile(P("doomed"), "bye");
  WriteFile(P("dir/inner"), "bye too");
  Baseline();
  fs::remove(P("doomed"));
  fs::remove_all(P("dir"));
  CommandResult r = CheckExpectingChanges();
  for (const char* rel : {"doomed", "dir", "dir/inner"}) {
    Json e = One(r, ActionOn("deleted", P(rel)), rel);
    EXPECT_EQ(StrField(e, "event.type"), "deletion");
  }
  Json e = One(r, ActionOn("deleted", P("doomed")), "deleted");
  EXPECT_EQ(StrField(e, "file.hash.sha256"), Sha256Hex("bye"));
}

TEST_F(IntegrityCli, ReportsCreation) {
  Baseline();
  WriteFile(P("newcomer"), "hello\n");
  WriteFile(P("newdir/inside"), "inside");
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("created", P("newcomer")), "created");
  EXPECT_EQ(StrField(e, "event.type"), "creation");
  EXPECT_EQ(StrField(e, "file.type"), "file");
  EXPECT_EQ(StrField(e, "file.hash.sha256"), Sha256Hex("hello\n"));
  EXPECT_EQ(Field(e, "file.size"), 6);
  One(r, ActionOn("created", P("newdir")), "created dir");
  One(r, ActionOn("created", P("newdir/inside")), "created nested");
}

TEST_F(IntegrityCli, ReportsRenameWithPreviousPath) {
  WriteFile(P("before.txt"), "content that moves");
  Baseline();
  fs::rename(P("before.txt"), P("after.txt"));
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("renamed", P("after.txt")), "renamed");
  EXPECT_EQ(StrField(e, "integrity.previous_path"), P("before.txt"));
  EXPECT_EQ(r.Count(ActionOn("deleted", P("before.txt"))), 0u) << r.Transcript();
  EXPECT_EQ(r.Count(ActionOn("created", P("after.txt"))), 0u) << r.Transcript();
}

TEST_F(IntegrityCli, RecordsFifoAndSocketAsMetadataWithoutHanging) {
  AssertOk(::mkfifo(P("old-fifo").c_str(), 0644), "mkfifo");  // present at baseline time
  Baseline();
  AssertOk(::mkfifo(P("fifo").c_str(), 0600), "mkfifo");
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::string sock = P("sock");
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  AssertOk(::bind(s, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), "bind");
  CommandResult r = CheckExpectingChanges();
  ::close(s);
  Json fifo = One(r, ActionOn("created", P("fifo")), "created fifo");
  EXPECT_EQ(StrField(fifo, "file.type"), "fifo");
  EXPECT_EQ(StrField(fifo, "file.mode"), "0600");
  EXPECT_TRUE(Field(fifo, "file.hash.sha256").is_null()) << fifo.dump();
  Json so = One(r, ActionOn("created", P("sock")), "created socket");
  EXPECT_EQ(StrField(so, "file.type"), "socket");
  EXPECT_TRUE(Field(so, "file.hash.sha256").is_null()) << so.dump();
  EXPECT_EQ(r.Count([&](const Json& e) { return StrField(e, "file.path") == P("old-fifo"); }), 0u)
      << r.Transcript();
}

TEST_F(IntegrityCli, NeverReadsDeviceNodes) {
  // A copy of /dev/zero: reading it never ends, so hashing it would hang the command.
  AssertOk(::mknod(P("zero").c_str(), S_IFCHR | 0666, makedev(1, 5)), "mknod");
  Baseline();
  AssertOk(::mknod(P("zero2").c_str(), S_IFCHR | 0666, makedev(1, 5)), "mknod");
  CommandResult r = CheckExpectingChanges();
  Json e = One(r, ActionOn("created", P("zero2")), "created device");
  EXPECT_EQ(StrField(e, "file.type"), "char_device");
  EXPECT_TRUE(Field(e, "file.hash.sha256").is_null()) << e.dump();
}

TEST_F(IntegrityCli, MissingRootIsAWarningAndOtherRootsAreStillChecked) {
  std::string missing = tmp_.Sub("not-there");
  WritePolicy({root_, missing});
  WriteFile(P("f"), "v1");
  CommandResult b = Integrity("baseline");
  EXPECT_EQ(b.exit_code, 0) << b.Transcript();
  EXPECT_EQ(b.Count(ActionOn("scan_warning", missing)), 1u) << b.Transcript();

  CommandResult clean = Integrity("check");
  EXPECT_EQ(clean.exit_code, 0) << clean.Transcript();
  EXPECT_EQ(clean.Count(ActionOn("scan_warning", missing)), 1u) << clean.Transcript();
  EXPECT_EQ(clean.Count(IsChange), 0u) << clean.Transcript();

  WriteFile(P("f"), "v2 is longer");
  CommandResult r = Integrity("check");
  EXPECT_EQ(r.exit_code, 1) << r.Transcript();
  EXPECT_EQ(r.Count(ActionOn("scan_warning", missing)), 1u) << r.Transcript();
  One(r, ActionOn("modified", P("f")), "modified");
}

TEST_F(IntegrityCli, UnreadableFileIsAWarningNotAChange) {
  WriteFile(P("secret"), "top secret");
  WriteFile(P("plain"), "plain");
  AssertOk(::chmod(P("secret").c_str(), 0000), "chmod");
  SpawnOptions no_dac{.drop_dac_capabilities = true};
  CommandResult b = Integrity("baseline", {}, no_dac);
  ASSERT_EQ(b.exit_code, 0) << b.Transcript();
  ASSERT_EQ(b.Count(ActionOn("scan_warning", P("secret"))), 1u)
      << "the agent could read a mode-0000 file: were capabilities dropped?\n"
      << b.Transcript();

  CommandResult c = Integrity("check", {}, no_dac);
  EXPECT_EQ(c.exit_code, 0) << c.Transcript();
  EXPECT_EQ(c.Count(IsChange), 0u) << c.Transcript();
  EXPECT_EQ(c.Count(ActionOn("scan_warning", P("secret"))), 1u) << c.Transcript();

  AssertOk(::chmod(P("secret").c_str(), 0640), "chmod");
  CommandResult r = CheckExpectingChanges(no_dac);
  Json e = One(r, ActionOn("modified", P("secret")), "modified");
  EXPECT_TRUE(ChangedAttribute(e, "mode")) << e.dump();
  EXPECT_EQ(StrField(e, "integrity.after.mode"), "0640");
}

TEST_F(IntegrityCli, FileNamesThatAreNotPlainTextAreExactInJson) {
  const std::vector<std::string> names = {
      "new\nline",  // valid UTF-8 with a newline: must not break the one-line framing
      "bad\xff"
      "byte",            // not UTF-8
      "both\n\xfe\xff",  // both
      "tab\tand \"quote\"",
      "caf\xc3\xa9",  // valid UTF-8 é
  };
  WriteFile(P("existing\xff"), "v1");
  Baseline();
  for (const auto& n : names) WriteFile(P(n), "payload " + n);
  WriteFile(P("existing\xff"), "v2 changed");
  CommandResult r = CheckExpectingChanges();
  EXPECT_TRUE(r.bad_lines.empty());
  EXPECT_EQ(r.stdout_lines.size(), r.events.size());
  for (const auto& n : names) {
    const std::string path = P(n);
    SCOPED_TRACE(::testing::PrintToString(n));
    const Json* e = r.Find([&](const Json& x) {
      return StrField(x, "event.action") == "created" && PathBytes(x) == path;
    });
    ASSERT_NE(e, nullptr) << r.Transcript();
    bool utf8 = n.find('\xff') == std::string::npos;
    if (utf8) {
      EXPECT_EQ(StrField(*e, "file.path"), path);
      EXPECT_TRUE(Field(*e, "file.path_base64").is_null()) << e->dump();
    } else {
      ASSERT_TRUE(Field(*e, "file.path_base64").is_string()) << e->dump();
      EXPECT_EQ(DecodeBase64(StrField(*e, "file.path_base64")), path);
      EXPECT_NE(StrField(*e, "file.path").find("\xEF\xBF\xBD"), std::string::npos)  // U+FFFD
          << e->dump();
    }
    EXPECT_EQ(StrField(*e, "file.hash.sha256"), Sha256Hex("payload " + n));
  }
  const Json* m = r.Find([&](const Json& x) {
    return StrField(x, "event.action") == "modified" && PathBytes(x) == P("existing\xff");
  });
  ASSERT_NE(m, nullptr) << r.Transcript();
  EXPECT_TRUE(ChangedAttribute(*m, "sha256"));
}

TEST_F(IntegrityCli, RenameOfNonUtf8NameKeepsExactPreviousPath) {
  WriteFile(P("old\xff"), "moving");
  Baseline();
  fs::rename(P("old\xff"), P("new\xfe"));
  CommandResult r = CheckExpectingChanges();
  const Json* e = r.Find([&](const Json& x) {
    return StrField(x, "event.action") == "renamed" && PathBytes(x) == P("new\xfe");
  });
  ASSERT_NE(e, nullptr) << r.Transcript();
  ASSERT_TRUE(Field(*e, "integrity.previous_path_base64").is_string()) << e->dump();
  EXPECT_EQ(DecodeBase64(StrField(*e, "integrity.previous_path_base64")), P("old\xff"));
}

TEST_F(IntegrityCli, AcceptedPathIsCleanOnTheNextCheck) {
  WriteFile(P("a"), "a1");
  WriteFile(P("b"), "b1");
  WriteFile(P("c"), "c1");
  Baseline();
  WriteFile(P("a"), "a2 changed");
  WriteFile(P("b"), "b2 changed");
  fs::remove(P("c"));

  CommandResult acc = Integrity("accept", {P("a"), P("c")});
  ASSERT_EQ(acc.exit_code, 0) << acc.Transcript();
  EXPECT_EQ(acc.Count(Action("baseline_accepted")), 1u) << acc.Transcript();

  CommandResult r = CheckExpectingChanges();
  One(r, ActionOn("modified", P("b")), "modified b");
  EXPECT_EQ(r.Count([&](const Json& e) {
    return IsChange(e) &&
           (StrField(e, "file.path") == P("a") || StrField(e, "file.path") == P("c"));
  }),
            0u)
      << r.Transcript();

  CommandResult all = Integrity("accept");
  ASSERT_EQ(all.exit_code, 0) << all.Transcript();
  ExpectCleanCheck();
}

TEST_F(IntegrityCli, AcceptRejectsPathsOutsideTheWatchedRoots) {
  WriteFile(P("a"), "a");
  Baseline();
  CommandResult outside = Integrity("accept", {tmp_.Sub("elsewhere")});
  EXPECT_EQ(outside.exit_code, 2) << outside.Transcript();
  CommandResult relative = Integrity("accept", {"root/a"});
  EXPECT_EQ(relative.exit_code, 2) << relative.Transcript();
  ExpectCleanCheck();
}

// Runs one SQL statement with the file's path bound to ?1 (as the BLOB the store uses).
void TamperWithBaseline(const std::string& db_path, const std::string& sql,
                        const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_bind_blob(st, 1, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_changes(db), 1) << "no baseline row for " << path;
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(IntegrityCli, EditedBaselineRowIsReportedAsTampering) {
  WriteFile(P("guarded"), "precious");
  WriteFile(P("other"), "other");
  Baseline();
  TamperWithBaseline(state_ + "/state.db",
                     "UPDATE integrity_baseline SET size = size + 1 WHERE path = ?1", P("guarded"));
  CommandResult r = Integrity("check");
  EXPECT_EQ(r.exit_code, 1) << r.Transcript();
  Json t = One(r, Action("baseline_tampered"), "baseline_tampered");
  EXPECT_EQ(Field(t, "event.severity"), 4) << t.dump();
  EXPECT_EQ(Field(t, "integrity.tampered_rows"), Json::array({P("guarded")})) << t.dump();
  Json u = One(r, ActionOn("unverified", P("guarded")), "unverified");
  EXPECT_EQ(StrField(u, "file.hash.sha256"), Sha256Hex("precious"));
  EXPECT_EQ(r.Count([&](const Json& e) { return StrField(e, "file.path") == P("other"); }), 0u)
      << r.Transcript();
}

TEST_F(IntegrityCli, RemovedBaselineRowIsReportedAsTampering) {
  WriteFile(P("hidden"), "attacker wants this forgotten");
  WriteFile(P("other"), "other");
  Baseline();
  TamperWithBaseline(state_ + "/state.db", "DELETE FROM integrity_baseline WHERE path = ?1",
                     P("hidden"));
  CommandResult r = Integrity("check");
  EXPECT_NE(r.exit_code, 2) << r.Transcript();
  Json t = One(r, Action("baseline_tampered"), "baseline_tampered");
  EXPECT_EQ(Field(t, "event.severity"), 4) << t.dump();
  EXPECT_EQ(Field(t, "integrity.set_intact"), false) << t.dump();
}

// ---- policy errors ----

struct BadPolicy {
  std::string name;
  std::string yaml;          // "@ROOT@" is replaced by an existing directory
  int line;                  // the line the error must name
  std::string key;           // the key path the error must name ("" for syntax errors)
  std::string message_part;  // a piece of the explanation
};

void PrintTo(const BadPolicy& bad, std::ostream* os) { *os << bad.name; }

class MalformedPolicy : public ::testing::TestWithParam<BadPolicy> {};

TEST_P(MalformedPolicy, ExitsWithCode2AndNamesFileLineAndKey) {
  TempDir tmp;
  const BadPolicy& bad = GetParam();
  std::string yaml = bad.yaml;
  for (size_t at; (at = yaml.find("@ROOT@")) != std::string::npos;) yaml.replace(at, 6, tmp.Str());
  std::string config = tmp.Sub("policy.yaml");
  WriteFile(config, yaml);
  const std::string location = fmt::format("{}:{}:", config, bad.line);
  const std::vector<std::vector<std::string>> commands = {
      {"integrity", "check"}, {"integrity", "baseline"}, {"run"}};
  const std::string state = tmp.Sub("state");
  for (auto args : commands) {
    std::string what = args.size() > 1 ? args[1] : args[0];
    SCOPED_TRACE(what);
    args.insert(args.end(), {"--config", config, "--state-dir", state});
    CommandResult r = RunAgentCommand(args, kCommandTimeout);
    ASSERT_FALSE(r.timed_out) << r.Transcript();
    EXPECT_EQ(r.exit_code, 2) << r.Transcript();
    EXPECT_NE(r.stderr_text.find(location), std::string::npos)
        << "stderr should name " << location << ":\n"
        << r.stderr_text;
    if (!bad.key.empty()) {
      EXPECT_NE(r.stderr_text.find(": " + bad.key + ": "), std::string::npos)
          << "stderr should name the key " << bad.key << ":\n"
          << r.stderr_text;
    }
    EXPECT_NE(r.stderr_text.find(bad.message_part), std::string::npos) << r.stderr_text;
    EXPECT_TRUE(r.events.empty()) << r.Transcript();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedPolicy,
    ::testing::Values(BadPolicy{"UnknownKey",
                                "agent: {outputs: {file: false}}\n"
                                "integrity:\n"
                                "  paths:\n"
                                "    - {path: @ROOT@}\n"
                                "  schedule: 0\n"
                                "  bogus: 1\n",
                                6, "integrity.bogus", "unknown key"},
                      BadPolicy{"UnknownKeyInPathEntry",
                                "integrity:\n"
                                "  paths:\n"
                                "    - path: @ROOT@\n"
                                "      recursve: false\n",
                                4, "integrity.paths[0].recursve", "unknown key"},
                      BadPolicy{"RelativePath",
                                "agent: {outputs: {file: false}}\n"
                                "integrity:\n"
                                "  paths:\n"
                                "    - {path: relative/dir}\n",
                                4, "integrity.paths[0].path", "not an absolute path"},
                      BadPolicy{"RelativePathScalar",
                                "integrity:\n"
                                "  paths:\n"
                                "    - @ROOT@\n"
                                "    - etc\n",
                                4, "integrity.paths[1]", "not an absolute path"},
                      BadPolicy{"UnknownAttribute",
                                "integrity:\n"
                                "  paths:\n"
                                "    - path: @ROOT@\n"
                                "      attributes: [sha256, colour]\n",
                                4, "integrity.paths[0].attributes[1]", "colour"},
                      BadPolicy{"UnknownBackend",
                                "integrity:\n"
                                "  paths: [@ROOT@]\n"
                                "  realtime_backend: fantastic\n",
                                3, "integrity.realtime_backend", "fantastic"},
                      BadPolicy{"BadDuration",
                                "integrity:\n"
                                "  paths: [@ROOT@]\n"
                                "  schedule: soon\n",
                                3, "integrity.schedule", "soon"},
                      BadPolicy{"UnknownAgentOutput",
                                "agent:\n"
                                "  outputs: {file: false, colour: true}\n"
                                "integrity:\n"
                                "  paths: [@ROOT@]\n",
                                2, "agent.outputs.colour", "unknown key"},
                      BadPolicy{"UnknownSectionOnOneLine",
                                "integrity:\n"
                                "  paths: [@ROOT@]\n"
                                "intgrity: {paths: [@ROOT@]}\n",
                                3, "intgrity", "unknown section"},
                      BadPolicy{"UnclosedFlowSequence",
                                "integrity:\n"
                                "  paths: [@ROOT@\n"
                                "  schedule: 0\n",
                                3, "", "end of sequence"},
                      BadPolicy{"TabIndentation",
                                "integrity:\n"
                                "  paths:\n"
                                "\t- @ROOT@\n",
                                3, "", ""}),
    [](const ::testing::TestParamInfo<BadPolicy>& info) { return info.param.name; });

// An unknown key whose value is a block on the following lines: the error should point at the
// key's own line, which is where a reader has to look.
TEST(PolicyErrors, UnknownBlockSectionNamesTheKeysLine) {
  TempDir tmp;
  std::string config = tmp.Sub("policy.yaml");
  WriteFile(config, fmt::format("integrity:\n"
                                "  paths: [{}]\n"
                                "intgrity:\n"
                                "  paths: [{}]\n",
                                tmp.Str(), tmp.Str()));
  CommandResult r = RunAgentCommand(
      {"integrity", "check", "--config", config, "--state-dir", tmp.Sub("state")}, kCommandTimeout);
  EXPECT_EQ(r.exit_code, 2) << r.Transcript();
  EXPECT_NE(r.stderr_text.find(config + ":3:"), std::string::npos) << r.stderr_text;
}

TEST(PolicyErrors, MissingPolicyFileIsAnError) {
  TempDir tmp;
  CommandResult r = RunAgentCommand(
      {"integrity", "check", "--config", tmp.Sub("absent.yaml"), "--state-dir", tmp.Sub("state")},
      kCommandTimeout);
  EXPECT_EQ(r.exit_code, 2) << r.Transcript();
  EXPECT_NE(r.stderr_text.find(tmp.Sub("absent.yaml")), std::string::npos) << r.stderr_text;
}

// ---- `run`: what changed while the agent was stopped ----

class AgentRunOffline : public IntegrityCli {
 protected:
  // Starts `run`, waits for `started`, stops it with SIGTERM; returns the events it printed.
  std::vector<Json> RunUntilStarted() {
    std::vector<std::string> args{"run"};
    for (auto& a : Common()) args.push_back(std::move(a));
    auto agent = AgentProcess::Start(args);
    if (!agent) return {};
    auto started = agent->WaitForEvent(Action("started"), kEventTimeout);
    EXPECT_TRUE(started.has_value()) << agent->Transcript();
    EXPECT_TRUE(agent->Signal(SIGTERM));
    auto code = agent->WaitForExit(kEventTimeout);
    EXPECT_EQ(code, 0) << agent->Transcript();
    EXPECT_TRUE(agent->BadLines().empty());
    std::vector<Json> out;
    for (auto& e : agent->Events()) out.push_back(std::move(e.doc));
    return out;
  }
};

TEST_F(AgentRunOffline, ReportsChangesMadeWhileStoppedOnceAtStartup) {
  WriteFile(P("edited"), "v1");
  WriteFile(P("removed"), "gone soon");
  WriteFile(P("chmodded"), "x");
  std::vector<Json> first = RunUntilStarted();
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(std::count_if(first.begin(), first.end(), IsChange), 0);
  EXPECT_EQ(std::count_if(first.begin(), first.end(), Action("baseline_recorded")), 1);

  // Offline changes.
  WriteFile(P("edited"), "v2, and longer");
  fs::remove(P("removed"));
  WriteFile(P("added"), "new");
  AssertOk(::chmod(P("chmodded").c_str(), 0600), "chmod");

  std::vector<Json> second = RunUntilStarted();
  ASSERT_FALSE(HasFailure());
  auto started_at = std::find_if(second.begin(), second.end(), Action("started"));
  ASSERT_NE(started_at, second.end());
  const std::vector<std::pair<std::string, std::string>> expected = {{"modified", P("edited")},
                                                                     {"deleted", P("removed")},
                                                                     {"created", P("added")},
                                                                     {"modified", P("chmodded")}};
  for (const auto& [action, path] : expected) {
    SCOPED_TRACE(action + " " + path);
    auto it = std::find_if(second.begin(), started_at, ActionOn(action, path));
    ASSERT_NE(it, started_at) << "not reported before `started`";
    EXPECT_EQ(Field(*it, "integrity.offline"), true) << it->dump();
    EXPECT_EQ(StrField(*it, "integrity.detected_by"), "startup") << it->dump();
    EXPECT_EQ(std::count_if(second.begin(), second.end(), ActionOn(action, path)), 1);
  }
  EXPECT_EQ(std::count_if(second.begin(), second.end(), IsChange), 4);

  // The baseline moved forward: nothing is reported again.
  std::vector<Json> third = RunUntilStarted();
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(std::count_if(third.begin(), third.end(), IsChange), 0);

  // And the CLI agrees with the running agent's baseline.
  ExpectCleanCheck();
}

// Issue #13: deleting the state database while the agent was stopped gave "first baseline
// recorded" (severity 0) and the change made meanwhile was never reported.
TEST_F(AgentRunOffline, DeletedStateDatabaseIsCriticalAndTheOfflineChangeIsStillReported) {
  WriteFile(P("edited"), "v1");
  WriteFile(P("kept"), "same");
  std::vector<Json> first = RunUntilStarted();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(std::count_if(first.begin(), first.end(), Action("baseline_recorded")), 1);

  for (const char* f : {"state.db", "state.db-wal", "state.db-shm"}) fs::remove(state_ + "/" + f);
  WriteFile(P("edited"), "v2, planted while the database was gone");

  // `check` (read-only) says so too: exit 1, the loss and the change.
  CommandResult check = Integrity("check");
  EXPECT_EQ(check.exit_code, 1) << check.Transcript();
  Json lost_cli = One(check, Action("baseline_lost"), "baseline_lost");
  EXPECT_EQ(Field(lost_cli, "event.severity"), 4) << lost_cli.dump();
  One(check, ActionOn("modified", P("edited")), "modified");

  std::vector<Json> second = RunUntilStarted();
  ASSERT_FALSE(HasFailure());
  auto started_at = std::find_if(second.begin(), second.end(), Action("started"));
  ASSERT_NE(started_at, second.end());
  auto lost = std::find_if(second.begin(), started_at, Action("baseline_lost"));
  ASSERT_NE(lost, started_at) << "no baseline_lost before `started`";
  EXPECT_EQ(Field(*lost, "event.severity"), 4) << lost->dump();
  EXPECT_EQ(StrField(*lost, "integrity.baseline_source"), "copy") << lost->dump();
  EXPECT_EQ(std::count_if(second.begin(), second.end(), Action("baseline_recorded")), 0);
  EXPECT_EQ(std::count_if(second.begin(), started_at, ActionOn("modified", P("edited"))), 1);
  EXPECT_EQ(std::count_if(second.begin(), second.end(), IsChange), 1);
}

// A full disk under the state dir made the start-up check fail once (`check_failed`) and the
// module then stayed idle until the next policy. It retries, and monitoring starts once it can.
TEST_F(AgentRunOffline, StartupCheckFailingOnAFullDiskIsRetriedUntilMonitoringStarts) {
  state_ = tmp_.Sub("small");
  fs::create_directories(state_);
  ASSERT_EQ(::mount("tmpfs", state_.c_str(), "tmpfs", 0, "size=4m"), 0) << std::strerror(errno);
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{state_};
  WriteFile(P("f"), "v1");
  std::vector<Json> first = RunUntilStarted();
  ASSERT_FALSE(HasFailure());

  // The disk fills up while the agent is stopped, and a file changes.
  std::vector<std::string> fillers;
  for (int i = 0;; ++i) {
    std::string f = state_ + "/filler" + std::to_string(i);
    int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    fillers.push_back(f);
    std::string block(1 << 16, 'f');
    bool full = ::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size());
    ::close(fd);
    if (full) break;
  }
  WriteFile(P("f"), "v2, changed while stopped, with a longer content");

  std::vector<std::string> args{"run"};
  for (auto& a : Common()) args.push_back(std::move(a));
  auto agent = AgentProcess::Start(args);
  ASSERT_TRUE(agent);
  // The state database cannot be opened, or the check cannot write: either way it is reported.
  ASSERT_TRUE(agent->WaitForEvent(
      [](const Json& e) {
        return StrField(e, "event.action") == "check_failed" ||
               StrField(e, "event.action") == "module_error";
      },
      kEventTimeout))
      << agent->Transcript();
  EXPECT_EQ(agent->Count(Action("started")), 0u) << agent->Transcript();
  for (const auto& f : fillers) fs::remove(f);
  ASSERT_TRUE(agent->WaitForEvent(Action("started"), kEventTimeout)) << agent->Transcript();
  EXPECT_GE(agent->Count(ActionOn("modified", P("f"))), 1u) << agent->Transcript();
  EXPECT_TRUE(agent->Signal(SIGTERM));
  EXPECT_EQ(agent->WaitForExit(kEventTimeout), 0) << agent->Transcript();
}

TEST_F(AgentRunOffline, ScheduledCheckReportsChangesWithoutRealtime) {
  WritePolicy({root_}, "1s");
  WriteFile(P("f"), "v1");
  std::vector<std::string> args{"run"};
  for (auto& a : Common()) args.push_back(std::move(a));
  auto agent = AgentProcess::Start(args);
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->WaitForEvent(Action("started"), kEventTimeout)) << agent->Transcript();
  WriteFile(P("f"), "v2 changed");
  auto e = agent->WaitForEvent(ActionOn("modified", P("f")), kEventTimeout);
  ASSERT_TRUE(e) << agent->Transcript();
  EXPECT_EQ(StrField(e->doc, "integrity.detected_by"), "scheduled") << e->doc.dump();
  EXPECT_TRUE(Field(e->doc, "integrity.offline").is_null()) << e->doc.dump();
  EXPECT_TRUE(agent->Signal(SIGTERM));
  EXPECT_EQ(agent->WaitForExit(kEventTimeout), 0) << agent->Transcript();
  EXPECT_EQ(agent->Count(ActionOn("modified", P("f"))), 1u) << agent->Transcript();
}

}  // namespace
}  // namespace ward::test

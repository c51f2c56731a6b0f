#include "agent/modules/integrity/engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/text.h"
#include "testing/fake_clock.h"
#include "testing/faulty_file_system.h"
#include "testing/recording_sink.h"
#include "testing/temp_dir.h"

namespace ward::agent::integrity {
namespace {

using ward::test::FakeClock;
using ward::test::FaultyFileSystem;
using ward::test::RecordingSink;
using ward::test::TempDir;
using ward::test::WriteFile;

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr), 1);
  return ToHex(std::span<const uint8_t>(md, len));
}

bool IsChange(const Event& e) { return e.GetString("event.type") != "info"; }

std::vector<Event> ChangesOf(const std::vector<Event>& events) {
  std::vector<Event> out;
  for (const auto& e : events) {
    if (IsChange(e)) out.push_back(e);
  }
  return out;
}

// (action, path) of every change event, sorted: a compact picture of what was reported.
std::vector<std::pair<std::string, std::string>> Summary(const std::vector<Event>& events) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : ChangesOf(events)) {
    out.emplace_back(e.GetString("event.action"), e.GetString("file.path"));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Describe(const std::vector<Event>& events) {
  std::string s;
  for (const auto& e : events) s += e.ToJson() + "\n";
  return s;
}

class IntegrityEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::canonical(root_dir_.path()).string();
    WriteFile(P("a.txt"), "alpha");
    WriteFile(P("b.txt"), "bravo");
    WriteFile(P("dir/c.txt"), "charlie");
    ASSERT_EQ(::symlink("a.txt", P("link").c_str()), 0);
    for (const char* f : {"a.txt", "b.txt", "dir/c.txt"}) {
      ASSERT_EQ(::chmod(P(f).c_str(), 0644), 0);
    }
  }

  std::string P(std::string_view rel) const { return root_ + "/" + std::string(rel); }

  IntegrityConfig Config(uint32_t attrs = kDefaultAttrs) const {
    IntegrityConfig c;
    WatchedPath w;
    w.path = root_;
    w.attributes = attrs;
    c.paths.push_back(w);
    c.hash_threads = 2;
    return c;
  }

  std::unique_ptr<IntegrityEngine> Open(IntegrityConfig config, FileSystem& fs = RealFileSystem()) {
    auto e = IntegrityEngine::Open(std::move(config), fs, clock_, state_dir_.path());
    EXPECT_TRUE(e.has_value()) << e.error().ToString();
    return e.has_value() ? std::move(*e) : nullptr;
  }
  std::unique_ptr<IntegrityEngine> Open() { return Open(Config()); }

  // An engine with a recorded baseline, as after `ward-agent integrity baseline`.
  std::unique_ptr<IntegrityEngine> Baselined(IntegrityConfig config) {
    auto engine = Open(std::move(config));
    if (engine == nullptr) return nullptr;
    auto s = engine->RecordBaseline(sink_);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    sink_.Clear();
    return engine;
  }
  std::unique_ptr<IntegrityEngine> Baselined() { return Baselined(Config()); }

  // The events of one check (read-only).
  std::vector<Event> Check(IntegrityEngine& engine) {
    sink_.Clear();
    auto s = engine.FullCheck(sink_, "check", /*update=*/false);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return sink_.Events();
  }

  // The one change event of a check; fails the test if there is not exactly one.
  Event OnlyChange(IntegrityEngine& engine) {
    auto changes = ChangesOf(Check(engine));
    EXPECT_EQ(changes.size(), 1u) << Describe(changes);
    return changes.empty() ? Event() : changes[0];
  }

  TempDir root_dir_;
  TempDir state_dir_;
  std::string root_;
  FakeClock clock_;
  RecordingSink sink_;
};

TEST_F(IntegrityEngineTest, CheckRightAfterBaselineReportsNothing) {
  auto engine = Baselined();
  ASSERT_NE(engine, nullptr);
  auto events = Check(*engine);
  EXPECT_TRUE(events.empty()) << Describe(events);
  // Also from a fresh engine that loads the baseline from disk.
  auto reopened = Open();
  auto again = Check(*reopened);
  EXPECT_TRUE(again.empty()) << Describe(again);
}

TEST_F(IntegrityEngineTest, StreamedCheckReportsWhatTheLoadedBaselineComparisonReports) {
  Baselined().reset();
  WriteFile(P("a.txt"), "changed");
  ASSERT_EQ(::chmod(P("b.txt").c_str(), 0600), 0);
  ASSERT_EQ(::rename(P("dir/c.txt").c_str(), P("dir/moved.txt").c_str()), 0);
  ASSERT_EQ(::unlink(P("link").c_str()), 0);
  ASSERT_EQ(::symlink("b.txt", P("link").c_str()), 0);
  WriteFile(P("new/d.txt"), "delta");
  ASSERT_EQ(::mkfifo(P("new/pipe").c_str(), 0600), 0);

  // `check` streams the stored baseline past the scan; the running agent compares with the
  // baseline it holds in memory. Both see the same changes, with the same details.
  auto streamed = ChangesOf(Check(*Open()));
  sink_.Clear();
  auto running = Open();
  ASSERT_TRUE(running->FullCheck(sink_, "check", /*update=*/true).has_value());
  auto loaded = ChangesOf(sink_.Events());
  EXPECT_EQ(Summary(streamed), Summary(loaded));
  EXPECT_EQ(Summary(streamed).size(), 7u) << Describe(streamed);
  auto by_path = [](std::vector<Event> v) {
    std::sort(v.begin(), v.end(), [](const Event& a, const Event& b) {
      return a.GetString("file.path") < b.GetString("file.path");
    });
    return v;
  };
  streamed = by_path(streamed);
  loaded = by_path(loaded);
  ASSERT_EQ(streamed.size(), loaded.size());
  for (size_t i = 0; i < streamed.size(); ++i) {
    EXPECT_EQ(streamed[i].Get("integrity.changed_attributes"),
              loaded[i].Get("integrity.changed_attributes"));
    EXPECT_EQ(streamed[i].Get("integrity.before"), loaded[i].Get("integrity.before"));
    EXPECT_EQ(streamed[i].Get("integrity.after"), loaded[i].Get("integrity.after"));
  }
}

TEST_F(IntegrityEngineTest, CheckWithoutBaselineIsAFailedPrecondition) {
  auto engine = Open();
  auto s = engine->FullCheck(sink_, "check", false);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), StatusCode::kFailedPrecondition);
}

TEST_F(IntegrityEngineTest, ReportsContentChangeWhenSizeAndMtimeWereRestored) {
  auto engine = Baselined();
  struct stat before {};
  ASSERT_EQ(::lstat(P("a.txt").c_str(), &before), 0);
  WriteFile(P("a.txt"), "ALPHA");  // same length, same inode
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, P("a.txt").c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  struct stat after {};
  ASSERT_EQ(::lstat(P("a.txt").c_str(), &after), 0);
  ASSERT_EQ(after.st_size, before.st_size);
  ASSERT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);

  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "modified");
  EXPECT_EQ(e.GetString("file.path"), P("a.txt"));
  EXPECT_EQ(e.Get("integrity.changed_attributes"), nlohmann::json::array({"sha256"}));
  EXPECT_EQ(e.Get("integrity.before"), (nlohmann::json{{"sha256", Sha256Hex("alpha")}}));
  EXPECT_EQ(e.Get("integrity.after"), (nlohmann::json{{"sha256", Sha256Hex("ALPHA")}}));
  EXPECT_EQ(e.GetString("file.hash.sha256"), Sha256Hex("ALPHA"));
  EXPECT_EQ(e.GetString("integrity.detected_by"), "check");
  EXPECT_EQ(e.GetString("event.module"), "integrity");
  EXPECT_EQ(e.GetString("event.category"), "file");
}

TEST_F(IntegrityEngineTest, ReportsModeChangeWithOctalBeforeAndAfter) {
  auto engine = Baselined();
  ASSERT_EQ(::chmod(P("a.txt").c_str(), 0600), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "modified");
  EXPECT_EQ(e.Get("integrity.changed_attributes"), nlohmann::json::array({"mode"}));
  EXPECT_EQ(e.Get("integrity.before.mode"), "0644");
  EXPECT_EQ(e.Get("integrity.after.mode"), "0600");
  EXPECT_EQ(e.GetString("file.mode"), "0600");
}

TEST_F(IntegrityEngineTest, ReportsOwnerChange) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  auto engine = Baselined();
  ASSERT_EQ(::lchown(P("a.txt").c_str(), 1234, static_cast<gid_t>(-1)), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.Get("integrity.changed_attributes"), nlohmann::json::array({"owner"}));
  EXPECT_EQ(e.Get("integrity.before.owner"), "0");
  EXPECT_EQ(e.Get("integrity.after.owner"), "1234");
  EXPECT_EQ(e.GetString("file.uid"), "1234");
}

TEST_F(IntegrityEngineTest, ReportsGroupChange) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  auto engine = Baselined();
  ASSERT_EQ(::lchown(P("a.txt").c_str(), static_cast<uid_t>(-1), 4321), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.Get("integrity.changed_attributes"), nlohmann::json::array({"group"}));
  EXPECT_EQ(e.Get("integrity.after.group"), "4321");
}

TEST_F(IntegrityEngineTest, FileReplacedByDirectoryIsATypeChange) {
  auto engine = Baselined();
  ASSERT_EQ(::unlink(P("a.txt").c_str()), 0);
  ASSERT_EQ(::mkdir(P("a.txt").c_str(), 0755), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "type_changed");
  EXPECT_EQ(e.GetString("file.path"), P("a.txt"));
  EXPECT_EQ(e.GetString("file.type"), "dir");
  EXPECT_EQ(e.Get("integrity.before.type"), "file");
  EXPECT_EQ(e.Get("integrity.after.type"), "dir");
  auto names = e.Get("integrity.changed_attributes");
  EXPECT_NE(std::find(names.begin(), names.end(), "type"), names.end()) << names.dump();
  EXPECT_EQ(std::find(names.begin(), names.end(), "sha256"), names.end()) << names.dump();
  EXPECT_GE(static_cast<int>(e.severity()), static_cast<int>(Severity::kHigh));
}

TEST_F(IntegrityEngineTest, FileReplacedBySymlinkIsATypeChange) {
  auto engine = Baselined();
  ASSERT_EQ(::unlink(P("a.txt").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/shadow", P("a.txt").c_str()), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "type_changed");
  EXPECT_EQ(e.GetString("file.type"), "symlink");
  EXPECT_EQ(e.GetString("file.target_path"), "/etc/shadow");
  EXPECT_EQ(e.Get("integrity.before.type"), "file");
  EXPECT_EQ(e.Get("integrity.after.type"), "symlink");
  EXPECT_EQ(e.Get("integrity.after.target"), "/etc/shadow");
}

TEST_F(IntegrityEngineTest, ReportsSymlinkRetarget) {
  auto engine = Baselined();
  ASSERT_EQ(::unlink(P("link").c_str()), 0);
  ASSERT_EQ(::symlink("b.txt", P("link").c_str()), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "modified");
  EXPECT_EQ(e.GetString("file.path"), P("link"));
  auto names = e.Get("integrity.changed_attributes");
  EXPECT_NE(std::find(names.begin(), names.end(), "target"), names.end()) << names.dump();
  EXPECT_EQ(e.Get("integrity.before.target"), "a.txt");
  EXPECT_EQ(e.Get("integrity.after.target"), "b.txt");
  EXPECT_EQ(e.GetString("file.target_path"), "b.txt");
}

TEST_F(IntegrityEngineTest, RenameIsOneRenamedEventNamingBothPaths) {
  auto engine = Baselined();
  ASSERT_EQ(::rename(P("a.txt").c_str(), P("dir/renamed.txt").c_str()), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "renamed");
  EXPECT_EQ(e.GetString("file.path"), P("dir/renamed.txt"));
  EXPECT_EQ(e.GetString("integrity.previous_path"), P("a.txt"));
  EXPECT_EQ(e.GetString("file.hash.sha256"), Sha256Hex("alpha"));
}

TEST_F(IntegrityEngineTest, ReportsDeletion) {
  auto engine = Baselined();
  ASSERT_EQ(::unlink(P("b.txt").c_str()), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "deleted");
  EXPECT_EQ(e.GetString("event.type"), "deletion");
  EXPECT_EQ(e.GetString("file.path"), P("b.txt"));
  EXPECT_EQ(e.GetString("file.hash.sha256"), Sha256Hex("bravo")) << "the last known state";
}

TEST_F(IntegrityEngineTest, ReportsCreation) {
  auto engine = Baselined();
  WriteFile(P("dir/new.txt"), "new");
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "created");
  EXPECT_EQ(e.GetString("event.type"), "creation");
  EXPECT_EQ(e.GetString("file.path"), P("dir/new.txt"));
  EXPECT_EQ(e.GetString("file.type"), "file");
  EXPECT_EQ(e.GetString("file.hash.sha256"), Sha256Hex("new"));
  EXPECT_EQ(e.Get("file.size"), 3);
}

TEST_F(IntegrityEngineTest, ReportsACreatedFifoWithoutBlockingOnIt) {
  auto engine = Baselined();
  ASSERT_EQ(::mkfifo(P("pipe").c_str(), 0600), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "created");
  EXPECT_EQ(e.GetString("file.path"), P("pipe"));
  EXPECT_EQ(e.GetString("file.type"), "fifo");
  EXPECT_FALSE(e.Has("file.hash.sha256"));
  EXPECT_FALSE(e.Has("integrity.unreadable"));
}

TEST_F(IntegrityEngineTest, CheckIsReadOnly) {
  auto engine = Baselined();
  WriteFile(P("a.txt"), "changed");
  ASSERT_EQ(::unlink(P("b.txt").c_str()), 0);
  WriteFile(P("new.txt"), "n");
  auto first = Summary(Check(*engine));
  auto second = Summary(Check(*engine));
  EXPECT_EQ(first.size(), 3u);
  EXPECT_EQ(first, second);
  auto from_disk = Summary(Check(*Open()));
  EXPECT_EQ(first, from_disk) << "the stored baseline was not moved either";
}

TEST_F(IntegrityEngineTest, UpdatingCheckMovesTheBaselineForward) {
  auto engine = Baselined();
  WriteFile(P("a.txt"), "changed");
  ASSERT_EQ(::unlink(P("b.txt").c_str()), 0);
  ASSERT_EQ(::rename(P("dir/c.txt").c_str(), P("moved.txt").c_str()), 0);
  WriteFile(P("new.txt"), "n");
  auto s = engine->FullCheck(sink_, "scheduled", /*update=*/true);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(s->changes, 4u);
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"created", P("new.txt")},
                                                              {"deleted", P("b.txt")},
                                                              {"modified", P("a.txt")},
                                                              {"renamed", P("moved.txt")}}));
  auto again = Check(*engine);
  EXPECT_TRUE(again.empty()) << Describe(again);
  auto from_disk = Check(*Open());
  EXPECT_TRUE(from_disk.empty()) << Describe(from_disk);
}

TEST_F(IntegrityEngineTest, FirstUpdatingCheckRecordsTheBaselineSilently) {
  auto engine = Open();
  auto s = engine->FullCheck(sink_, "startup", true);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  auto events = sink_.Events();
  EXPECT_TRUE(ChangesOf(events).empty()) << Describe(events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].GetString("event.action"), "baseline_recorded");
  auto again = Check(*Open());
  EXPECT_TRUE(again.empty()) << Describe(again);
}

TEST_F(IntegrityEngineTest, ChangesMadeWhileOfflineAreReportedAtStartup) {
  Baselined().reset();  // the agent stops
  WriteFile(P("a.txt"), "edited offline");
  ASSERT_EQ(::unlink(P("b.txt").c_str()), 0);
  WriteFile(P("dir/planted"), "x");

  auto engine = Open();  // the agent starts again
  auto s = engine->FullCheck(sink_, "startup", /*update=*/true);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  auto changes = ChangesOf(sink_.Events());
  EXPECT_EQ(Summary(changes),
            (std::vector<std::pair<std::string, std::string>>{
                {"created", P("dir/planted")}, {"deleted", P("b.txt")}, {"modified", P("a.txt")}}));
  for (const auto& e : changes) {
    EXPECT_EQ(e.Get("integrity.offline"), true) << e.ToJson();
    EXPECT_EQ(e.GetString("integrity.detected_by"), "startup");
  }
  auto again = Check(*engine);
  EXPECT_TRUE(again.empty()) << Describe(again);
}

// Edits one baseline row behind the agent's back.
void TamperWithRow(const std::filesystem::path& state_dir, const std::string& sql,
                   const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((state_dir / "state.db").c_str(), &db, SQLITE_OPEN_READWRITE, nullptr),
            SQLITE_OK);
  sqlite3_busy_timeout(db, 10'000);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_bind_blob(st, 1, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_changes(db), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(IntegrityEngineTest, TamperedBaselineRowIsCriticalAndItsFileUnverified) {
  Baselined().reset();
  // An attacker changes a.txt and "fixes" its baseline row to match.
  WriteFile(P("a.txt"), "trojan");
  TamperWithRow(state_dir_.path(),
                "UPDATE integrity_baseline SET sha256 = X'" + Sha256Hex("trojan") +
                    "', size = 6 WHERE path = ?1",
                P("a.txt"));

  auto engine = Open();
  auto events = Check(*engine);
  auto tampered = std::find_if(events.begin(), events.end(), [](const Event& e) {
    return e.GetString("event.action") == "baseline_tampered";
  });
  ASSERT_NE(tampered, events.end()) << Describe(events);
  EXPECT_EQ(tampered->Get("event.severity"), 4);
  EXPECT_EQ(tampered->severity(), Severity::kCritical);
  EXPECT_EQ(tampered->Get("integrity.tampered_rows"), nlohmann::json::array({P("a.txt")}));

  EXPECT_EQ(Summary(events),
            (std::vector<std::pair<std::string, std::string>>{{"unverified", P("a.txt")}}));

  // The running agent reports it once, then re-seals the baseline.
  sink_.Clear();
  auto running = Open();
  ASSERT_TRUE(running->FullCheck(sink_, "startup", true).has_value());
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"unverified", P("a.txt")}}));
  auto later = Check(*Open());
  EXPECT_TRUE(later.empty()) << Describe(later);
}

TEST_F(IntegrityEngineTest, DeletedBaselineRowIsCritical) {
  Baselined().reset();
  TamperWithRow(state_dir_.path(), "DELETE FROM integrity_baseline WHERE path = ?1", P("b.txt"));
  auto engine = Open();
  auto events = Check(*engine);
  auto tampered = std::find_if(events.begin(), events.end(), [](const Event& e) {
    return e.GetString("event.action") == "baseline_tampered";
  });
  ASSERT_NE(tampered, events.end()) << Describe(events);
  EXPECT_EQ(tampered->severity(), Severity::kCritical);
  EXPECT_EQ(tampered->Get("integrity.set_intact"), false);
}

const Event* FindAction(const std::vector<Event>& events, std::string_view action) {
  for (const auto& e : events) {
    if (e.GetString("event.action") == action) return &e;
  }
  return nullptr;
}

// Issue #13: deleting state.db while the agent was stopped made it record a "first baseline"
// (severity 0) and the change made meanwhile was never reported.
TEST_F(IntegrityEngineTest, DeletedStateDatabaseIsCriticalAndChangesAreReportedAgainstTheCopy) {
  Baselined().reset();
  WriteFile(P("a.txt"), "edited while the database was gone");
  for (const char* f : {"state.db", "state.db-wal", "state.db-shm"}) {
    ::unlink((state_dir_.path() / f).c_str());
  }
  auto engine = Open();
  sink_.Clear();
  auto s = engine->FullCheck(sink_, "startup", /*update=*/true);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  auto events = sink_.Events();
  const Event* lost = FindAction(events, "baseline_lost");
  ASSERT_NE(lost, nullptr) << Describe(events);
  EXPECT_EQ(lost->severity(), Severity::kCritical);
  EXPECT_EQ(lost->GetString("integrity.baseline_source"), "copy");
  EXPECT_EQ(lost->Get("integrity.anchor.count").get<int64_t>(), 6);  // root, a, b, dir, c, link
  EXPECT_EQ(FindAction(events, "baseline_recorded"), nullptr) << Describe(events);
  EXPECT_EQ(Summary(events),
            (std::vector<std::pair<std::string, std::string>>{{"modified", P("a.txt")}}));
  EXPECT_TRUE(engine->health().degraded);
  EXPECT_NE(engine->health().reason.find("no baseline"), std::string::npos)
      << engine->health().reason;

  // Degraded until the baseline is recorded again on purpose; across restarts too.
  engine.reset();
  auto again = Open();
  ASSERT_TRUE(again->FullCheck(sink_, "startup", true).has_value());
  EXPECT_TRUE(again->health().degraded);
  ASSERT_TRUE(again->RecordBaseline(sink_).has_value());
  EXPECT_FALSE(again->health().degraded);
  again.reset();
  auto fixed = Open();
  sink_.Clear();
  ASSERT_TRUE(fixed->FullCheck(sink_, "startup", true).has_value());
  EXPECT_FALSE(fixed->health().degraded);
  EXPECT_TRUE(ChangesOf(sink_.Events()).empty()) << Describe(sink_.Events());
}

TEST_F(IntegrityEngineTest, WithoutTheCopyTheLossIsStillCriticalNeverASilentBaseline) {
  Baselined().reset();
  for (const char* f : {"state.db", "state.db-wal", "state.db-shm"}) {
    ::unlink((state_dir_.path() / f).c_str());
  }
  std::filesystem::remove(IntegrityEngine::CopyPath(state_dir_.path()));
  auto engine = Open();
  sink_.Clear();
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  auto events = sink_.Events();
  const Event* lost = FindAction(events, "baseline_lost");
  ASSERT_NE(lost, nullptr) << Describe(events);
  EXPECT_EQ(lost->severity(), Severity::kCritical);
  EXPECT_EQ(lost->GetString("integrity.baseline_source"), "fresh_scan");
  const Event* recorded = FindAction(events, "baseline_recorded");
  ASSERT_NE(recorded, nullptr);
  EXPECT_NE(recorded->severity(), Severity::kInfo);
  EXPECT_TRUE(engine->health().degraded);
}

TEST_F(IntegrityEngineTest, TruncatedStateDatabaseIsCriticalAndMonitoringGoesOn) {
  Baselined().reset();
  WriteFile(P("b.txt"), "edited while the database was damaged");
  ASSERT_EQ(::truncate((state_dir_.path() / "state.db").c_str(), 1000), 0);
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  sink_.Clear();
  auto s = engine->FullCheck(sink_, "startup", /*update=*/true);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  auto events = sink_.Events();
  const Event* lost = FindAction(events, "baseline_lost");
  ASSERT_NE(lost, nullptr) << Describe(events);
  EXPECT_EQ(lost->severity(), Severity::kCritical);
  EXPECT_EQ(Summary(events),
            (std::vector<std::pair<std::string, std::string>>{{"modified", P("b.txt")}}));
  // Real time goes on against the recovered baseline.
  sink_.Clear();
  WriteFile(P("dir/c.txt"), "changed later");
  ASSERT_TRUE(engine->ProcessPaths({{P("dir/c.txt"), false}}, sink_, "realtime").has_value());
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"modified", P("dir/c.txt")}}));
  EXPECT_TRUE(engine->health().degraded);
}

// Overwrites every page but the first (schema) of a database file with garbage.
void CorruptPages(const std::filesystem::path& db) {
  int fd = ::open(db.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  std::string junk(4096, '\xa5');
  for (off_t off = 4096; off < st.st_size; off += 4096) {
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), off), static_cast<ssize_t>(junk.size()));
  }
  ::close(fd);
}

TEST_F(IntegrityEngineTest, CorruptPageAtStartupIsCriticalAndMonitoringGoesOn) {
  Baselined().reset();
  CorruptPages(state_dir_.path() / "state.db");
  WriteFile(P("a.txt"), "edited");
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  sink_.Clear();
  auto s = engine->FullCheck(sink_, "startup", true);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  auto events = sink_.Events();
  ASSERT_NE(FindAction(events, "baseline_lost"), nullptr) << Describe(events);
  EXPECT_EQ(Summary(events),
            (std::vector<std::pair<std::string, std::string>>{{"modified", P("a.txt")}}));
  sink_.Clear();
  WriteFile(P("b.txt"), "changed later");
  ASSERT_TRUE(engine->ProcessPaths({{P("b.txt"), false}}, sink_, "realtime").has_value());
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"modified", P("b.txt")}}));
  EXPECT_TRUE(engine->health().degraded);
  // The damaged database is kept aside for inspection.
  bool kept = false;
  for (const auto& e : std::filesystem::directory_iterator(state_dir_.path())) {
    if (e.path().filename().string().rfind("state.db.unreadable-", 0) == 0) kept = true;
  }
  EXPECT_TRUE(kept);
}

TEST_F(IntegrityEngineTest, CorruptPageWhileMonitoringIsCriticalAndMonitoringGoesOn) {
  auto engine = Baselined();
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  sink_.Clear();
  {
    // Everything into the main file (the checkpoint resets the WAL, so the agent's connection
    // drops its page cache), then the pages damaged.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((state_dir_.path() / "state.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    CorruptPages(state_dir_.path() / "state.db");
  }
  WriteFile(P("a.txt"), "edited while monitored");
  auto s = engine->ProcessPaths({{P("a.txt"), false}}, sink_, "realtime");
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  auto events = sink_.Events();
  EXPECT_EQ(Summary(events),
            (std::vector<std::pair<std::string, std::string>>{{"modified", P("a.txt")}}));
  const Event* lost = FindAction(events, "baseline_lost");
  ASSERT_NE(lost, nullptr) << Describe(events);
  EXPECT_EQ(lost->GetString("integrity.baseline_source"), "memory");
  EXPECT_TRUE(engine->health().degraded);
  sink_.Clear();
  WriteFile(P("b.txt"), "and more");
  ASSERT_TRUE(engine->ProcessPaths({{P("b.txt"), false}}, sink_, "realtime").has_value());
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"modified", P("b.txt")}}));
  // The fresh database holds the baseline: a later start compares against it.
  engine.reset();
  auto later = Check(*Open());
  EXPECT_TRUE(ChangesOf(later).empty()) << Describe(later);
}

TEST_F(IntegrityEngineTest, StateFilesAre0600WhateverTheUmask) {
  mode_t old = ::umask(0);
  Baselined().reset();
  ::umask(old);
  for (const auto& p :
       {state_dir_.path() / "state.db", IntegrityEngine::CopyPath(state_dir_.path()),
        IntegrityEngine::AnchorPath(state_dir_.path())}) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << p;
  }
}

TEST_F(IntegrityEngineTest, AcceptTakesTheCurrentStateIntoTheBaseline) {
  auto engine = Baselined();
  WriteFile(P("a.txt"), "approved change");
  ASSERT_EQ(::unlink(P("b.txt").c_str()), 0);
  WriteFile(P("dir/new"), "n");
  WriteFile(P("unaccepted"), "u");
  auto s = engine->Accept({P("a.txt"), P("b.txt"), P("dir")}, sink_);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_TRUE(ChangesOf(sink_.Events()).empty()) << "accepting reports no changes";
  EXPECT_EQ(Summary(Check(*engine)),
            (std::vector<std::pair<std::string, std::string>>{{"created", P("unaccepted")}}));
  EXPECT_EQ(Summary(Check(*Open())),
            (std::vector<std::pair<std::string, std::string>>{{"created", P("unaccepted")}}));
}

TEST_F(IntegrityEngineTest, AcceptOfEverythingIsANewBaseline) {
  auto engine = Baselined();
  WriteFile(P("a.txt"), "approved change");
  ASSERT_TRUE(engine->Accept({}, sink_).has_value());
  auto events = Check(*engine);
  EXPECT_TRUE(events.empty()) << Describe(events);
}

TEST_F(IntegrityEngineTest, AcceptOfADirectoryDropsEntriesDeletedBelowIt) {
  // "dir-old" and "dir.bak" sort between "dir" and "dir/..." byte-wise.
  WriteFile(P("dir-old"), "x");
  WriteFile(P("dir.bak"), "x");
  WriteFile(P("dir/sub/d.txt"), "delta");
  auto engine = Baselined();
  std::filesystem::remove_all(P("dir/sub"));
  ASSERT_EQ(::unlink(P("dir/c.txt").c_str()), 0);
  ASSERT_TRUE(engine->Accept({P("dir")}, sink_).has_value());
  auto events = Check(*engine);
  EXPECT_TRUE(ChangesOf(events).empty()) << Describe(events);
  auto from_disk = Check(*Open());
  EXPECT_TRUE(ChangesOf(from_disk).empty()) << Describe(from_disk);
}

TEST_F(IntegrityEngineTest, AcceptOfAPathOutsideTheRootsIsInvalid) {
  auto engine = Baselined();
  for (const std::string& bad : {std::string("/etc/passwd"), root_ + "/../escape",
                                 std::string("relative/path"), root_ + "x/file"}) {
    auto s = engine->Accept({bad}, sink_);
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_EQ(s.error().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(IntegrityEngineTest, ProcessPathsReportsEveryEntryOfANewSubtree) {
  auto engine = Open();
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  sink_.Clear();
  std::filesystem::create_directories(P("new/a/b"));
  WriteFile(P("new/a/b/f1"), "1");
  WriteFile(P("new/a/f2"), "2");
  WriteFile(P("new/f3"), "3");
  auto s = engine->ProcessPaths({{P("new"), true}}, sink_, "realtime");
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"created", P("new")},
                                                              {"created", P("new/a")},
                                                              {"created", P("new/a/b")},
                                                              {"created", P("new/a/b/f1")},
                                                              {"created", P("new/a/f2")},
                                                              {"created", P("new/f3")}}));
  for (const auto& e : sink_.Events()) EXPECT_EQ(e.GetString("integrity.detected_by"), "realtime");
  auto again = Check(*engine);
  EXPECT_TRUE(again.empty()) << Describe(again);
}

TEST_F(IntegrityEngineTest, ProcessPathsReportsEveryEntryOfADeletedDirectory) {
  WriteFile(P("dir/sub/d.txt"), "delta");
  auto engine = Open();
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  sink_.Clear();
  std::filesystem::remove_all(P("dir"));
  auto s = engine->ProcessPaths({{P("dir"), true}}, sink_, "realtime");
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"deleted", P("dir")},
                                                              {"deleted", P("dir/c.txt")},
                                                              {"deleted", P("dir/sub")},
                                                              {"deleted", P("dir/sub/d.txt")}}));
  auto again = Check(*Open());
  EXPECT_TRUE(again.empty()) << Describe(again);
}

TEST_F(IntegrityEngineTest, DeletedDirectoryIsFullyReportedDespiteSiblingsSortingBetween) {
  // Byte-wise, "dir-old" and "dir.bak" sort after "dir" but before "dir/c.txt".
  WriteFile(P("dir-old"), "x");
  WriteFile(P("dir.bak"), "x");
  WriteFile(P("dir/sub/d.txt"), "delta");
  auto engine = Open();
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  sink_.Clear();
  std::filesystem::remove_all(P("dir"));
  auto s = engine->ProcessPaths({{P("dir"), true}}, sink_, "realtime");
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"deleted", P("dir")},
                                                              {"deleted", P("dir/c.txt")},
                                                              {"deleted", P("dir/sub")},
                                                              {"deleted", P("dir/sub/d.txt")}}));
  auto again = Check(*Open());
  EXPECT_TRUE(again.empty()) << Describe(again);
}

TEST_F(IntegrityEngineTest, ProcessPathsOfOneFileReportsItsChange) {
  auto engine = Open();
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  sink_.Clear();
  WriteFile(P("dir/c.txt"), "changed");
  WriteFile(P("b.txt"), "changed but not looked at");
  auto s = engine->ProcessPaths({{P("dir/c.txt"), false}}, sink_, "realtime");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"modified", P("dir/c.txt")}}));
  // Looking again reports nothing more: each change is reported exactly once.
  sink_.Clear();
  ASSERT_TRUE(engine->ProcessPaths({{P("dir/c.txt"), false}}, sink_, "realtime").has_value());
  EXPECT_TRUE(sink_.Events().empty());
}

TEST_F(IntegrityEngineTest, ProcessPathsPairsADirectoryRenameByInode) {
  WriteFile(P("dir/sub/d.txt"), "delta");
  auto engine = Open();
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  sink_.Clear();
  ASSERT_EQ(::rename(P("dir").c_str(), P("moved").c_str()), 0);
  // What the watcher says for a directory rename: both names, as subtrees.
  auto s = engine->ProcessPaths({{P("dir"), true}, {P("moved"), true}}, sink_, "realtime");
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  auto changes = ChangesOf(sink_.Events());
  EXPECT_EQ(Summary(changes),
            (std::vector<std::pair<std::string, std::string>>{{"renamed", P("moved")},
                                                              {"renamed", P("moved/c.txt")},
                                                              {"renamed", P("moved/sub")},
                                                              {"renamed", P("moved/sub/d.txt")}}));
  for (const auto& e : changes) {
    std::string path = e.GetString("file.path");
    EXPECT_EQ(e.GetString("integrity.previous_path"), P("dir") + path.substr(P("moved").size()));
  }
  auto again = Check(*Open());
  EXPECT_TRUE(again.empty()) << Describe(again);
}

TEST_F(IntegrityEngineTest, ProcessPathsOfAFileThatBecameADirectoryLooksInsideIt) {
  auto engine = Open();
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  sink_.Clear();
  ASSERT_EQ(::unlink(P("b.txt").c_str()), 0);
  WriteFile(P("b.txt/inside"), "i");
  auto s = engine->ProcessPaths({{P("b.txt"), false}}, sink_, "realtime");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(Summary(sink_.Events()),
            (std::vector<std::pair<std::string, std::string>>{{"created", P("b.txt/inside")},
                                                              {"type_changed", P("b.txt")}}));
}

TEST_F(IntegrityEngineTest, ProcessPathsOfAParentDoesNotLoseNestedRootEntries) {
  WriteFile(P("inner/x.txt"), "x");
  WriteFile(P("inner/deep/y.txt"), "y");
  IntegrityConfig config = Config();
  WatchedPath inner;
  inner.path = P("inner");
  inner.attributes = kAttrSha256 | kAttrType;
  config.paths.push_back(inner);
  auto engine = Open(config);
  ASSERT_TRUE(engine->FullCheck(sink_, "startup", true).has_value());
  sink_.Clear();
  auto s = engine->ProcessPaths({{root_, true}}, sink_, "rescan");
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(ChangesOf(sink_.Events()).empty()) << Describe(sink_.Events());
  ASSERT_TRUE(engine->Accept({root_}, sink_).has_value());
  auto again = Check(*Open(config));
  EXPECT_TRUE(again.empty()) << Describe(again);
}

TEST_F(IntegrityEngineTest, OnlyConfiguredAttributesAreReported) {
  auto engine = Baselined(Config(kAttrSha256));
  ASSERT_EQ(::chmod(P("a.txt").c_str(), 0600), 0);
  struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, P("b.txt").c_str(), times, 0), 0);
  auto quiet = Check(*engine);
  EXPECT_TRUE(quiet.empty()) << Describe(quiet);
  WriteFile(P("dir/c.txt"), "changed");
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.Get("integrity.changed_attributes"), nlohmann::json::array({"sha256"}));
  EXPECT_FALSE(e.Has("file.mode"));
  EXPECT_FALSE(e.Has("file.size"));
  EXPECT_FALSE(e.Has("file.mtime"));
}

TEST_F(IntegrityEngineTest, NonUtf8FileNameGivesValidJsonAndExactBase64) {
  auto engine = Baselined();
  const std::string name = P("caf\xe9\xff.txt");
  WriteFile(name, "bytes");
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "created");
  std::string json = e.ToJson();
  nlohmann::json parsed;
  ASSERT_NO_THROW(parsed = nlohmann::json::parse(json)) << json;  // strict UTF-8
  auto round = Event::FromJson(json);
  ASSERT_TRUE(round.has_value());
  auto decoded = Base64Decode(round->GetString("file.path_base64"));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, name);
  EXPECT_TRUE(IsValidUtf8(round->GetString("file.path")));
  EXPECT_NE(round->GetString("file.path").find("\xEF\xBF\xBD"), std::string::npos)
      << "undecodable bytes appear as U+FFFD";
}

TEST_F(IntegrityEngineTest, NonUtf8NamesSurviveRenameAndDeletion) {
  const std::string from = P("\xfe\x01old");
  const std::string to = P("new\xff");
  WriteFile(from, "payload");
  auto engine = Baselined();
  ASSERT_EQ(::rename(from.c_str(), to.c_str()), 0);
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("event.action"), "renamed");
  EXPECT_EQ(Base64Decode(e.GetString("file.path_base64")), to);
  EXPECT_EQ(Base64Decode(e.GetString("integrity.previous_path_base64")), from);
  EXPECT_TRUE(nlohmann::json::accept(e.ToJson()));
}

TEST_F(IntegrityEngineTest, NewlineInFileNameIsKeptExactly) {
  auto engine = Baselined();
  const std::string name = P("line1\nline2.txt");
  WriteFile(name, "n");
  Event e = OnlyChange(*engine);
  EXPECT_EQ(e.GetString("file.path"), name);
  EXPECT_FALSE(e.Has("file.path_base64"));
  std::string json = e.ToJson();
  EXPECT_EQ(json.find('\n'), std::string::npos) << "one event is one line";
  auto round = Event::FromJson(json);
  ASSERT_TRUE(round.has_value());
  EXPECT_EQ(round->GetString("file.path"), name);
}

TEST_F(IntegrityEngineTest, UnreadableFileIsAWarningNotAContentChange) {
  auto engine = Baselined();
  FaultyFileSystem fs;
  fs.FailOn(FaultyFileSystem::Op::kOpen, "a.txt", EACCES);
  auto faulty = Open(Config(), fs);
  auto events = Check(*faulty);
  EXPECT_TRUE(ChangesOf(events).empty()) << Describe(events);
  auto warning = std::find_if(events.begin(), events.end(), [&](const Event& e) {
    return e.GetString("event.action") == "scan_warning" && e.GetString("file.path") == P("a.txt");
  });
  EXPECT_NE(warning, events.end()) << Describe(events);
}

TEST_F(IntegrityEngineTest, NewlyConfiguredRootIsBaselinedNotReported) {
  TempDir extra_dir;
  const std::string extra = std::filesystem::canonical(extra_dir.path()).string();
  WriteFile(extra + "/e.txt", "e");
  Baselined().reset();
  IntegrityConfig config = Config();
  WatchedPath w;
  w.path = extra;
  config.paths.push_back(w);

  auto checker = Open(config);
  auto events = Check(*checker);
  EXPECT_TRUE(ChangesOf(events).empty()) << Describe(events);
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const Event& e) {
    return e.GetString("event.action") == "not_baselined";
  })) << Describe(events);

  auto running = Open(config);
  ASSERT_TRUE(running->FullCheck(sink_, "startup", true).has_value());
  EXPECT_TRUE(ChangesOf(sink_.Events()).empty()) << Describe(sink_.Events());
  WriteFile(extra + "/e.txt", "changed");
  auto later = Check(*Open(config));
  EXPECT_EQ(Summary(later),
            (std::vector<std::pair<std::string, std::string>>{{"modified", extra + "/e.txt"}}));
}

}  // namespace
}  // namespace ward::agent::integrity

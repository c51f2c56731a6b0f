#include "agent/modules/autoheal/safe_root.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "testing/temp_dir.h"

namespace ward::agent::autoheal {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// Every name in dir (not recursive), sorted.
std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

// Every path below dir, relative, sorted.
std::vector<std::string> Tree(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    out.push_back(e.path().lexically_relative(dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct stat StatOrDie(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

class SafeRootTest : public ::testing::Test {
 protected:
  SafeRootTest() : root_path_(tmp_.Sub("root")), outside_(tmp_.Sub("outside")), safe_(root_path_) {
    fs::create_directories(root_path_);
    fs::create_directories(outside_);
  }
  std::string In(const std::string& rel) const { return root_path_ + "/" + rel; }

  test::TempDir tmp_;
  std::string root_path_;
  std::string outside_;
  SafeRoot safe_;
};

TEST_F(SafeRootTest, AbsJoinsTheRoot) {
  EXPECT_EQ(safe_.Abs(""), root_path_);
  EXPECT_EQ(safe_.Abs("a/b"), root_path_ + "/a/b");
  EXPECT_EQ(BaseName("a/b/c.txt"), "c.txt");
  EXPECT_EQ(BaseName("c.txt"), "c.txt");
  EXPECT_EQ(ParentOf("a/b/c.txt"), "a/b");
  EXPECT_EQ(ParentOf("c.txt"), "");
}

TEST_F(SafeRootTest, WriteFileCreatesExactContentModeAndOwner) {
  const std::string content = "line\r\n\0bin\xff"s;
  ASSERT_TRUE(safe_.WriteFile("a/b/page.html", content, 0640, 1234, 5678, nullptr).ok());
  EXPECT_EQ(test::ReadFileOrDie(In("a/b/page.html")), content);
  struct stat st = StatOrDie(In("a/b/page.html"));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  if (::geteuid() == 0) {
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 5678u);
  }
  EXPECT_EQ(Names(In("a/b")), (std::vector<std::string>{"page.html"})) << "no temp file left";
}

TEST_F(SafeRootTest, WriteFileKeepsExecutableAndSpecialModes) {
  ASSERT_TRUE(safe_.WriteFile("run.sh", "#!/bin/sh\n", 0755, ::getuid(), ::getgid(), nullptr).ok());
  EXPECT_EQ(StatOrDie(In("run.sh")).st_mode & 07777, 0755u);
  ASSERT_TRUE(safe_.WriteFile("empty", "", 0600, ::getuid(), ::getgid(), nullptr).ok());
  EXPECT_EQ(StatOrDie(In("empty")).st_size, 0);
  EXPECT_EQ(StatOrDie(In("empty")).st_mode & 07777, 0600u);
}

TEST_F(SafeRootTest, WriteFileReplacesByRenameNeverInPlace) {
  test::WriteFile(In("index.html"), "old content that is longer than the new one");
  // Someone holding the old file open (a web server mid-response) or a hard link to it keeps
  // seeing the whole old version: the new one is a different inode renamed over it.
  int old_fd = ::open(In("index.html").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(old_fd, 0);
  ASSERT_EQ(::link(In("index.html").c_str(), tmp_.Sub("hardlink").c_str()), 0);
  ino_t old_ino = StatOrDie(In("index.html")).st_ino;

  std::string seen_temp;
  ASSERT_TRUE(safe_
                  .WriteFile("index.html", "new", 0644, ::getuid(), ::getgid(),
                             [&](const std::string& tmp) {
                               seen_temp = tmp;
                               // The target is untouched while the temp file is being prepared.
                               EXPECT_EQ(test::ReadFileOrDie(In("index.html")),
                                         "old content that is longer than the new one");
                             })
                  .ok());

  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), "new");
  EXPECT_NE(StatOrDie(In("index.html")).st_ino, old_ino);
  EXPECT_EQ(test::ReadFileOrDie(tmp_.Sub("hardlink")),
            "old content that is longer than the new one");
  char buf[128];
  ssize_t n = ::pread(old_fd, buf, sizeof buf, 0);
  ::close(old_fd);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))),
            "old content that is longer than the new one");

  // The temp file was announced, lived beside the target, and is gone.
  ASSERT_FALSE(seen_temp.empty());
  EXPECT_EQ(fs::path(seen_temp).parent_path(), fs::path(root_path_));
  EXPECT_NE(seen_temp.find(".ward-heal-"), std::string::npos) << seen_temp;
  EXPECT_FALSE(fs::exists(seen_temp));
  EXPECT_EQ(Names(root_path_), (std::vector<std::string>{"index.html"}));
}

TEST_F(SafeRootTest, WriteFileThroughASymlinkedDirectoryFailsAndWritesNothingOutside) {
  ASSERT_EQ(::symlink(outside_.c_str(), In("uploads").c_str()), 0);
  Status s = safe_.WriteFile("uploads/shell.php", "<?php", 0644, 0, 0, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_TRUE(Names(outside_).empty()) << "something was written outside the root";
  EXPECT_TRUE(S_ISLNK(StatOrDie(In("uploads")).st_mode)) << "the symlink itself is left alone";
}

TEST_F(SafeRootTest, WriteFileThroughADeeperSymlinkFails) {
  fs::create_directories(outside_ + "/b");
  fs::create_directories(In("a"));
  ASSERT_EQ(::symlink(outside_.c_str(), In("a/link").c_str()), 0);
  Status s = safe_.WriteFile("a/link/b/x.html", "evil", 0644, 0, 0, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_TRUE(Names(outside_ + "/b").empty());
  EXPECT_FALSE(safe_.MakeDirs("a/link/c").ok());
  EXPECT_EQ(Names(outside_), (std::vector<std::string>{"b"}));
}

TEST_F(SafeRootTest, WriteFileReplacesASymlinkInsteadOfFollowingIt) {
  test::WriteFile(outside_ + "/passwd", "root:x:0:0");
  ASSERT_EQ(::symlink((outside_ + "/passwd").c_str(), In("index.html").c_str()), 0);
  ASSERT_TRUE(safe_.WriteFile("index.html", "mine", 0644, ::getuid(), ::getgid(), nullptr).ok());
  EXPECT_EQ(test::ReadFileOrDie(outside_ + "/passwd"), "root:x:0:0");
  EXPECT_TRUE(S_ISREG(StatOrDie(In("index.html")).st_mode));
  EXPECT_EQ(test::ReadFileOrDie(In("index.html")), "mine");
}

TEST_F(SafeRootTest, WriteFileWhereAFileBlocksADirectoryFails) {
  test::WriteFile(In("a"), "a file");
  Status s = safe_.WriteFile("a/b.html", "x", 0644, 0, 0, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(test::ReadFileOrDie(In("a")), "a file");
}

TEST_F(SafeRootTest, WriteFileOntoADirectoryFailsAndLeavesNoTemp) {
  fs::create_directories(In("d/inner"));
  Status s = safe_.WriteFile("d", "x", 0644, 0, 0, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(fs::is_directory(In("d/inner")));
  EXPECT_EQ(Names(root_path_), (std::vector<std::string>{"d"}));
}

TEST_F(SafeRootTest, WriteFileRecreatesADeletedRoot) {
  fs::remove_all(root_path_);
  ASSERT_TRUE(safe_.WriteFile("x/y.txt", "y", 0644, ::getuid(), ::getgid(), nullptr).ok());
  EXPECT_EQ(test::ReadFileOrDie(In("x/y.txt")), "y");
}

TEST_F(SafeRootTest, WriteSymlinkCreatesTheLinkWithoutFollowing) {
  ASSERT_TRUE(safe_.WriteSymlink("current", "releases/2", nullptr).ok());
  struct stat st = StatOrDie(In("current"));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(fs::read_symlink(In("current")), "releases/2");
  // Replacing an existing link (and announcing the temp).
  std::string temp;
  ASSERT_TRUE(
      safe_.WriteSymlink("current", "releases/3", [&](const std::string& t) { temp = t; }).ok());
  EXPECT_EQ(fs::read_symlink(In("current")), "releases/3");
  EXPECT_NE(temp.find(".ward-heal-"), std::string::npos);
  EXPECT_EQ(Names(root_path_), (std::vector<std::string>{"current"}));
}

TEST_F(SafeRootTest, MakeDirsCreatesNestedDirectories) {
  ASSERT_TRUE(safe_.MakeDirs("a/b/c").ok());
  EXPECT_TRUE(fs::is_directory(In("a/b/c")));
  EXPECT_EQ(StatOrDie(In("a/b/c")).st_mode & 07777, 0755u);
  EXPECT_EQ(StatOrDie(In("a")).st_mode & 07777, 0755u);
  ASSERT_TRUE(safe_.MakeDirs("a/b/c").ok()) << "existing directories are fine";
  ASSERT_TRUE(safe_.MakeDirs("").ok());
}

TEST_F(SafeRootTest, MakeDirsOwnsNewDirectoriesLikeTheirParent) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  fs::create_directories(In("www"));
  ASSERT_EQ(::chown(In("www").c_str(), 33, 33), 0);
  ASSERT_TRUE(safe_.MakeDirs("www/assets/img").ok());
  EXPECT_EQ(StatOrDie(In("www/assets")).st_uid, 33u);
  EXPECT_EQ(StatOrDie(In("www/assets/img")).st_gid, 33u);
}

TEST_F(SafeRootTest, MakeDirsRecreatesADeletedRoot) {
  fs::remove_all(root_path_);
  ASSERT_TRUE(safe_.MakeDirs("").ok());
  EXPECT_TRUE(fs::is_directory(root_path_));
}

TEST_F(SafeRootTest, RemoveRemovesFilesSymlinksAndWholeTrees) {
  test::WriteFile(In("d/a.txt"), "a");
  test::WriteFile(In("d/e/f/g.txt"), "g");
  ASSERT_EQ(::symlink(outside_.c_str(), In("d/e/out").c_str()), 0);
  test::WriteFile(outside_ + "/keep.txt", "keep");
  ::chmod(In("d/e/f").c_str(), 0500);  // read-only directories do not stop root
  test::WriteFile(In("single"), "s");

  ASSERT_TRUE(safe_.Remove("single").ok());
  EXPECT_FALSE(fs::exists(In("single")));
  Status s = safe_.Remove("d");
  if (::geteuid() == 0) {
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_FALSE(fs::exists(In("d")));
  }
  EXPECT_EQ(test::ReadFileOrDie(outside_ + "/keep.txt"), "keep") << "a symlink is not followed";
}

TEST_F(SafeRootTest, RemoveThroughASymlinkFails) {
  test::WriteFile(outside_ + "/victim", "v");
  ASSERT_EQ(::symlink(outside_.c_str(), In("link").c_str()), 0);
  EXPECT_FALSE(safe_.Remove("link/victim").ok());
  EXPECT_TRUE(fs::exists(outside_ + "/victim"));
  EXPECT_FALSE(safe_.Remove("missing").ok());
}

TEST_F(SafeRootTest, MoveOutMovesAFileOrTreeToTheDestination) {
  test::WriteFile(In("shell.php"), "<?php evil");
  test::WriteFile(In("dir/a"), "a");
  test::WriteFile(In("dir/sub/b"), "b");
  ASSERT_TRUE(safe_.MoveOut("shell.php", outside_ + "/q1").ok());
  EXPECT_FALSE(fs::exists(In("shell.php")));
  EXPECT_EQ(test::ReadFileOrDie(outside_ + "/q1"), "<?php evil");
  ASSERT_TRUE(safe_.MoveOut("dir", outside_ + "/q2").ok());
  EXPECT_FALSE(fs::exists(In("dir")));
  EXPECT_EQ(Tree(outside_ + "/q2"), (std::vector<std::string>{"a", "sub", "sub/b"}));
  EXPECT_EQ(test::ReadFileOrDie(outside_ + "/q2/sub/b"), "b");
  EXPECT_FALSE(safe_.MoveOut("missing", outside_ + "/q3").ok());
}

TEST_F(SafeRootTest, MoveOutAcrossFileSystemsCopiesThenRemoves) {
  struct stat shm {};
  if (::stat("/dev/shm", &shm) != 0 || shm.st_dev == StatOrDie(root_path_).st_dev) {
    GTEST_SKIP() << "no second file system to move to";
  }
  std::string dest_dir = "/dev/shm/ward-safe-root-XXXXXX";
  ASSERT_NE(::mkdtemp(dest_dir.data()), nullptr);
  test::WriteFile(In("dir/a"), "a");
  ASSERT_EQ(::symlink("a", In("dir/link").c_str()), 0);
  test::WriteFile(In("file"), "content");
  Status s1 = safe_.MoveOut("dir", dest_dir + "/dir");
  Status s2 = safe_.MoveOut("file", dest_dir + "/file");
  std::vector<std::string> moved = Tree(dest_dir);
  std::string content =
      fs::exists(dest_dir + "/file") ? test::ReadFileOrDie(dest_dir + "/file") : "";
  std::string link = fs::is_symlink(dest_dir + "/dir/link")
                         ? fs::read_symlink(dest_dir + "/dir/link").string()
                         : "";
  std::error_code ec;
  fs::remove_all(dest_dir, ec);
  ASSERT_TRUE(s1.ok()) << s1.ToString();
  ASSERT_TRUE(s2.ok()) << s2.ToString();
  EXPECT_EQ(moved, (std::vector<std::string>{"dir", "dir/a", "dir/link", "file"}));
  EXPECT_EQ(content, "content");
  EXPECT_EQ(link, "a");
  EXPECT_TRUE(Names(root_path_).empty());
}

TEST_F(SafeRootTest, BlockingAncestorFindsAFileOrSymlinkWhereADirectoryBelongs) {
  test::WriteFile(In("file"), "x");
  fs::create_directories(In("d/e"));
  ASSERT_EQ(::symlink(outside_.c_str(), In("d/link").c_str()), 0);
  EXPECT_EQ(safe_.BlockingAncestor("file/b/c"), "file");
  EXPECT_EQ(safe_.BlockingAncestor("d/link/x"), "d/link");
  EXPECT_EQ(safe_.BlockingAncestor("d/e/f"), std::nullopt);
  EXPECT_EQ(safe_.BlockingAncestor("file"), std::nullopt) << "rel itself is not its own ancestor";
  EXPECT_EQ(safe_.BlockingAncestor("missing/x/y"), std::nullopt);
}

TEST_F(SafeRootTest, MissingAncestorFindsTheShortestMissingParent) {
  fs::create_directories(In("d/e"));
  EXPECT_EQ(safe_.MissingAncestor("x/y/z"), "x");
  EXPECT_EQ(safe_.MissingAncestor("d/q/r/s"), "d/q");
  EXPECT_EQ(safe_.MissingAncestor("d/e/f"), std::nullopt) << "only rel itself is missing";
  EXPECT_EQ(safe_.MissingAncestor("top"), std::nullopt);
}

TEST_F(SafeRootTest, LstatNeverFollowsSymlinks) {
  test::WriteFile(outside_ + "/secret", "s");
  ASSERT_EQ(::symlink((outside_ + "/secret").c_str(), In("file-link").c_str()), 0);
  ASSERT_EQ(::symlink(outside_.c_str(), In("dir-link").c_str()), 0);
  auto st = safe_.Lstat("file-link");
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(S_ISLNK(st->st_mode));
  auto dst = safe_.Lstat("dir-link");
  ASSERT_TRUE(dst.has_value());
  EXPECT_TRUE(S_ISLNK(dst->st_mode));
  EXPECT_FALSE(safe_.Lstat("dir-link/secret").has_value()) << "not reached through the link";
  EXPECT_FALSE(safe_.Lstat("missing").has_value());
  auto root = safe_.Lstat("");
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(S_ISDIR(root->st_mode));
}

TEST_F(SafeRootTest, ReadFileRefusesSymlinksAndLimitsSize) {
  test::WriteFile(outside_ + "/secret", "s");
  ASSERT_EQ(::symlink((outside_ + "/secret").c_str(), In("link").c_str()), 0);
  EXPECT_FALSE(safe_.ReadFile("link", 1000).has_value());
  test::WriteFile(In("big"), std::string(100, 'x'));
  auto ok = safe_.ReadFile("big", 100);
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  EXPECT_EQ(ok->size(), 100u);
  auto too_big = safe_.ReadFile("big", 99);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error().code(), StatusCode::kFailedPrecondition);
  fs::create_directories(In("dir"));
  EXPECT_FALSE(safe_.ReadFile("dir", 1000).has_value());
}

TEST_F(SafeRootTest, ChmodChangesModeButNotThroughASymlink) {
  test::WriteFile(In("a"), "a");
  ASSERT_TRUE(safe_.Chmod("a", 0600).ok());
  EXPECT_EQ(StatOrDie(In("a")).st_mode & 07777, 0600u);
  test::WriteFile(outside_ + "/t", "t");
  ::chmod((outside_ + "/t").c_str(), 0644);
  ASSERT_EQ(::symlink((outside_ + "/t").c_str(), In("l").c_str()), 0);
  EXPECT_FALSE(safe_.Chmod("l", 0777).ok());
  EXPECT_EQ(StatOrDie(outside_ + "/t").st_mode & 07777, 0644u);
}

}  // namespace
}  // namespace ward::agent::autoheal

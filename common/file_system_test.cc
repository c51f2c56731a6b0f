#include "common/file_system.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "testing/faulty_file_system.h"
#include "testing/temp_dir.h"

namespace ward {
namespace {

using ward::test::FaultyFileSystem;
using ward::test::TempDir;
using ward::test::WriteFile;

// The real file system through its path-based calls only: OpenDir() is FileSystem's default,
// the slow path that fakes get.
class PathOnlyFileSystem final : public FileSystem {
 public:
  Result<FileStat> Lstat(const std::string& p) override { return real_.Lstat(p); }
  Result<std::vector<DirEntry>> ListDir(const std::string& p) override { return real_.ListDir(p); }
  Result<UniqueFd> OpenForRead(const std::string& p) override { return real_.OpenForRead(p); }
  Result<std::string> ReadLink(const std::string& p) override { return real_.ReadLink(p); }
  Result<std::string> ReadFile(const std::string& p, uint64_t max) override {
    return real_.ReadFile(p, max);
  }
  Status WriteFileAtomic(const std::string& p, std::string_view d, uint32_t m) override {
    return real_.WriteFileAtomic(p, d, m);
  }
  Status Rename(const std::string& a, const std::string& b) override { return real_.Rename(a, b); }
  Status Remove(const std::string& p) override { return real_.Remove(p); }
  Status CreateDirectories(const std::string& p, uint32_t m) override {
    return real_.CreateDirectories(p, m);
  }

 private:
  FileSystem& real_ = RealFileSystem();
};

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(JoinPath, JoinsWithOneSlash) {
  EXPECT_EQ(JoinPath("/", "etc"), "/etc");
  EXPECT_EQ(JoinPath("/etc", "passwd"), "/etc/passwd");
  EXPECT_EQ(JoinPath("/a/b", "c\nd"), "/a/b/c\nd");
}

// Every Directory behaves the same, whether through a descriptor or through paths.
class DirectoryTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    root_ = std::filesystem::canonical(tmp_.path()).string();
    WriteFile(root_ + "/file", "content");
    WriteFile(root_ + "/sub/inner", "inner");
    ASSERT_EQ(::symlink("file", (root_ + "/link").c_str()), 0);
    ASSERT_EQ(::symlink("sub", (root_ + "/dirlink").c_str()), 0);
    ASSERT_EQ(::mkfifo((root_ + "/pipe").c_str(), 0600), 0);
  }
  FileSystem& fs() { return GetParam() ? RealFileSystem() : path_only_; }
  std::unique_ptr<Directory> Open() {
    auto dir = fs().OpenDir(root_);
    EXPECT_TRUE(dir.has_value()) << dir.error().ToString();
    return dir.has_value() ? std::move(*dir) : nullptr;
  }

  TempDir tmp_;
  std::string root_;
  PathOnlyFileSystem path_only_;
};

INSTANTIATE_TEST_SUITE_P(Kinds, DirectoryTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Descriptor" : "PathOnly"; });

TEST_P(DirectoryTest, ListsEveryEntryButDotAndDotDot) {
  auto dir = Open();
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->path(), root_);
  auto entries = dir->List();
  ASSERT_TRUE(entries.has_value()) << entries.error().ToString();
  std::vector<std::string> names;
  for (const auto& e : *entries) {
    names.push_back(e.name);
    if (e.type == FileType::kUnknown) continue;  // the file system need not say
    FileType expect = e.name == "file"   ? FileType::kRegular
                      : e.name == "sub"  ? FileType::kDirectory
                      : e.name == "pipe" ? FileType::kFifo
                                         : FileType::kSymlink;
    EXPECT_EQ(e.type, expect) << e.name;
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"dirlink", "file", "link", "pipe", "sub"}));
  // Listing again gives the same.
  auto again = dir->List();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->size(), names.size());
}

TEST_P(DirectoryTest, StatAtDoesNotFollowSymlinks) {
  auto dir = Open();
  ASSERT_NE(dir, nullptr);
  auto link = dir->StatAt("link");
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->type, FileType::kSymlink);
  auto file = dir->StatAt("file");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->type, FileType::kRegular);
  EXPECT_EQ(file->size, 7u);
  auto same = fs().Lstat(root_ + "/file");
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(file->inode, same->inode);
  auto self = dir->Stat();
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->type, FileType::kDirectory);
  EXPECT_EQ(self->inode, fs().Lstat(root_)->inode);
}

TEST_P(DirectoryTest, MissingEntryIsNotFoundAndNamedByItsFullPath) {
  auto dir = Open();
  ASSERT_NE(dir, nullptr);
  auto st = dir->StatAt("absent");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), StatusCode::kNotFound);
  EXPECT_NE(st.error().message().find(root_ + "/absent"), std::string::npos)
      << st.error().message();
  auto fd = dir->OpenForReadAt("absent");
  ASSERT_FALSE(fd.has_value());
  EXPECT_EQ(fd.error().code(), StatusCode::kNotFound);
  EXPECT_NE(fd.error().message().find(root_ + "/absent"), std::string::npos);
}

TEST_P(DirectoryTest, ReadLinkAtGivesTheTarget) {
  auto dir = Open();
  ASSERT_NE(dir, nullptr);
  auto t = dir->ReadLinkAt("link");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, "file");
  EXPECT_FALSE(dir->ReadLinkAt("file").has_value());
}

TEST_P(DirectoryTest, OpenForReadAtReadsFilesAndRefusesSymlinks) {
  auto dir = Open();
  ASSERT_NE(dir, nullptr);
  auto fd = dir->OpenForReadAt("file");
  ASSERT_TRUE(fd.has_value()) << fd.error().ToString();
  EXPECT_EQ(ReadAll(fd->get()), "content");
  EXPECT_FALSE(dir->OpenForReadAt("link").has_value()) << "a final symlink is never followed";
}

TEST_P(DirectoryTest, OpenForReadAtDoesNotBlockOnAFifo) {
  auto dir = Open();
  ASSERT_NE(dir, nullptr);
  auto opened = std::async(std::launch::async, [&] { return dir->OpenForReadAt("pipe"); });
  if (opened.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    int fd = ::open((root_ + "/pipe").c_str(), O_RDWR | O_NONBLOCK);  // unblock it
    if (fd >= 0) ::close(fd);
    FAIL() << "opening a FIFO blocked";
  }
  EXPECT_TRUE(opened.get().has_value());
}

TEST_P(DirectoryTest, OpenDirAtOpensSubdirectoriesOnly) {
  auto dir = Open();
  ASSERT_NE(dir, nullptr);
  auto sub = dir->OpenDirAt("sub");
  ASSERT_TRUE(sub.has_value()) << sub.error().ToString();
  EXPECT_EQ((*sub)->path(), root_ + "/sub");
  auto inner = (*sub)->OpenForReadAt("inner");
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(ReadAll(inner->get()), "inner");
  EXPECT_FALSE(dir->OpenDirAt("dirlink").has_value()) << "a symlink to a directory is not followed";
  EXPECT_FALSE(dir->OpenDirAt("file").has_value());
  auto absent = dir->OpenDirAt("absent");
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs().OpenDir(root_ + "/dirlink").has_value());
}

TEST_P(DirectoryTest, PseudoFileSystemsAreRecognised) {
  auto dir = Open();
  ASSERT_NE(dir, nullptr);
  EXPECT_FALSE(dir->IsPseudoFs());
  auto proc = fs().OpenDir("/proc");
  ASSERT_TRUE(proc.has_value());
  EXPECT_TRUE((*proc)->IsPseudoFs());
}

TEST(Directory, DescriptorKeepsWorkingWhenItsPathIsRenamedAway) {
  TempDir tmp;
  const std::string root = std::filesystem::canonical(tmp.path()).string();
  WriteFile(root + "/d/file", "x");
  auto dir = RealFileSystem().OpenDir(root + "/d");
  ASSERT_TRUE(dir.has_value());
  ASSERT_EQ(::rename((root + "/d").c_str(), (root + "/moved").c_str()), 0);
  ASSERT_EQ(::symlink("/etc", (root + "/d").c_str()), 0);  // what the old path leads to now
  auto st = (*dir)->StatAt("file");
  ASSERT_TRUE(st.has_value()) << "the directory is reached through its descriptor, not its path";
  EXPECT_EQ(st->size, 1u);
  EXPECT_FALSE((*dir)->StatAt("passwd").has_value());
}

TEST(FaultyFileSystem, FaultsApplyToDirectoriesByFullPath) {
  TempDir tmp;
  const std::string root = std::filesystem::canonical(tmp.path()).string();
  WriteFile(root + "/secret", "s");
  WriteFile(root + "/plain", "p");
  WriteFile(root + "/locked/inner", "i");
  ASSERT_EQ(::symlink("plain", (root + "/link-secret").c_str()), 0);
  FaultyFileSystem fs;
  fs.FailOn(FaultyFileSystem::Op::kOpen, "/secret", EACCES);
  fs.FailOn(FaultyFileSystem::Op::kLstat, "/plain", EIO);
  fs.FailOn(FaultyFileSystem::Op::kReadLink, "/link-", EIO);
  fs.FailOn(FaultyFileSystem::Op::kListDir, "/locked", EACCES);

  auto dir = fs.OpenDir(root);
  ASSERT_TRUE(dir.has_value());
  auto secret = (*dir)->OpenForReadAt("secret");
  ASSERT_FALSE(secret.has_value());
  EXPECT_EQ(secret.error().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(secret.error().message().find(root + "/secret"), std::string::npos);
  EXPECT_TRUE((*dir)->OpenForReadAt("plain").has_value());
  EXPECT_FALSE((*dir)->StatAt("plain").has_value());
  EXPECT_TRUE((*dir)->StatAt("secret").has_value());
  EXPECT_FALSE((*dir)->ReadLinkAt("link-secret").has_value());
  EXPECT_FALSE((*dir)->OpenDirAt("locked").has_value());
  EXPECT_FALSE(fs.OpenDir(root + "/locked").has_value());

  // Directories opened from a faulty one are faulty too.
  WriteFile(root + "/sub/secret", "s");
  auto sub = (*dir)->OpenDirAt("sub");
  ASSERT_TRUE(sub.has_value());
  EXPECT_FALSE((*sub)->OpenForReadAt("secret").has_value());

  fs.Clear();
  EXPECT_TRUE((*dir)->OpenForReadAt("secret").has_value());
  auto locked = fs.OpenDir(root + "/locked");
  ASSERT_TRUE(locked.has_value());
  fs.FailOn(FaultyFileSystem::Op::kListDir, "/locked", EIO);
  EXPECT_FALSE((*locked)->List().has_value());
}

}  // namespace
}  // namespace ward

#include "agent/modules/integrity/scanner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/faulty_file_system.h"
#include "testing/temp_dir.h"

namespace ward::agent::integrity {
namespace {

using ward::test::FaultyFileSystem;
using ward::test::TempDir;
using ward::test::WriteFile;

std::string Canonical(const TempDir& dir) {
  return std::filesystem::canonical(dir.path()).string();
}

WatchedPath Root(std::string path, std::vector<std::string> exclude = {}, bool recursive = true,
                 uint32_t attrs = kDefaultAttrs) {
  WatchedPath w;
  w.path = std::move(path);
  w.recursive = recursive;
  w.exclude = std::move(exclude);
  w.attributes = attrs;
  return w;
}

// SHA-256 straight from OpenSSL, independent of ward::Sha256.
Sha256Digest OpenSslSha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(len, 32u);
  Sha256Digest d{};
  std::copy(md, md + 32, d.begin());
  return d;
}

std::map<std::string, FileRecord> ByPath(const ScanOutput& out) {
  std::map<std::string, FileRecord> m;
  for (const auto& r : out.records) m.emplace(r.path, r);
  return m;
}

std::vector<std::string> Paths(const ScanOutput& out) {
  std::vector<std::string> v;
  for (const auto& r : out.records) v.push_back(r.path);
  return v;
}

std::string Pseudo(size_t i, size_t len) {
  std::string s(len, '\0');
  uint32_t x = static_cast<uint32_t>(i) * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xFF);
  }
  return s;
}

TEST(IntegrityScanner, RecordsFilesDirectoriesAndSymlinksWithTheirMetadata) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/f.txt", "hello");
  ASSERT_EQ(::chmod((root + "/f.txt").c_str(), 0640), 0);
  WriteFile(root + "/d/g.txt", "inner");
  ASSERT_EQ(::symlink("f.txt", (root + "/link").c_str()), 0);
  ASSERT_EQ(::symlink("/nonexistent/target", (root + "/dangling").c_str()), 0);

  WatchedRoots filter({Root(root)});
  Scanner scanner(RealFileSystem(), filter, 1);
  ScanOutput out = scanner.ScanAll();
  EXPECT_TRUE(out.warnings.empty());
  EXPECT_EQ(Paths(out),
            (std::vector<std::string>{root, root + "/d", root + "/d/g.txt", root + "/dangling",
                                      root + "/f.txt", root + "/link"}));
  auto m = ByPath(out);

  struct stat st {};
  ASSERT_EQ(::lstat((root + "/f.txt").c_str(), &st), 0);
  const FileRecord& f = m[root + "/f.txt"];
  EXPECT_EQ(f.type, FileType::kRegular);
  EXPECT_EQ(f.size, 5u);
  EXPECT_EQ(f.mode, 0640u);
  EXPECT_EQ(f.uid, st.st_uid);
  EXPECT_EQ(f.gid, st.st_gid);
  EXPECT_EQ(f.inode, st.st_ino);
  EXPECT_EQ(f.dev, st.st_dev);
  EXPECT_EQ(f.mtime_ns,
            static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
  EXPECT_TRUE(f.has_sha256);
  EXPECT_EQ(f.sha256, OpenSslSha256("hello"));
  EXPECT_FALSE(f.unreadable);
  EXPECT_FALSE(f.hash_unstable);

  const FileRecord& d = m[root + "/d"];
  EXPECT_EQ(d.type, FileType::kDirectory);
  EXPECT_FALSE(d.has_sha256);

  const FileRecord& link = m[root + "/link"];
  EXPECT_EQ(link.type, FileType::kSymlink);
  EXPECT_EQ(link.target, "f.txt");
  EXPECT_FALSE(link.has_sha256) << "a symlink is recorded, not followed and hashed";

  const FileRecord& dangling = m[root + "/dangling"];
  EXPECT_EQ(dangling.type, FileType::kSymlink);
  EXPECT_EQ(dangling.target, "/nonexistent/target");
}

TEST(IntegrityScanner, DirectorySymlinkLoopIsRecordedButNotFollowed) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/d/file", "x");
  ASSERT_EQ(::symlink("..", (root + "/d/up").c_str()), 0);
  ASSERT_EQ(::symlink(".", (root + "/d/self").c_str()), 0);
  ASSERT_EQ(::symlink(root.c_str(), (root + "/d/abs").c_str()), 0);

  WatchedRoots filter({Root(root)});
  Scanner scanner(RealFileSystem(), filter, 1);
  ScanOutput out = scanner.ScanAll();
  EXPECT_TRUE(out.warnings.empty());
  EXPECT_EQ(Paths(out),
            (std::vector<std::string>{root, root + "/d", root + "/d/abs", root + "/d/file",
                                      root + "/d/self", root + "/d/up"}));
  auto m = ByPath(out);
  EXPECT_EQ(m[root + "/d/up"].type, FileType::kSymlink);
  EXPECT_EQ(m[root + "/d/up"].target, "..");
  EXPECT_EQ(m[root + "/d/abs"].target, root);
}

TEST(IntegrityScanner, FifoGetsMetadataOnlyAndIsNeverOpened) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  const std::string fifo = root + "/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  WriteFile(root + "/regular", "data");

  // Opening the FIFO would show up as an injected failure: a warning and `unreadable`.
  FaultyFileSystem fs;
  fs.FailOn(FaultyFileSystem::Op::kOpen, "/pipe", EIO);
  WatchedRoots filter({Root(root)});
  Scanner scanner(fs, filter, 1);

  std::promise<ScanOutput> result;
  auto done = result.get_future();
  std::thread worker([&] { result.set_value(scanner.ScanAll()); });
  if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // Give a reader blocked on the FIFO a writer and EOF, so the test can end.
    int fd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    worker.join();
    FAIL() << "scanning a FIFO blocked";
  }
  worker.join();
  ScanOutput out = done.get();
  EXPECT_TRUE(out.warnings.empty()) << out.warnings.front().message;
  auto m = ByPath(out);
  ASSERT_TRUE(m.count(fifo));
  EXPECT_EQ(m[fifo].type, FileType::kFifo);
  EXPECT_EQ(m[fifo].mode, 0600u);
  EXPECT_FALSE(m[fifo].has_sha256);
  EXPECT_FALSE(m[fifo].unreadable);
  EXPECT_TRUE(m[root + "/regular"].has_sha256);
}

TEST(IntegrityScanner, MissingRootIsAWarningAndOtherRootsAreStillScanned) {
  TempDir tmp;
  const std::string base = Canonical(tmp);
  WriteFile(base + "/present/file", "x");
  const std::string missing = base + "/absent";
  WatchedRoots filter({Root(missing), Root(base + "/present")});
  Scanner scanner(RealFileSystem(), filter, 1);
  ScanOutput out = scanner.ScanAll();
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_EQ(out.warnings[0].path, missing);
  EXPECT_EQ(Paths(out), (std::vector<std::string>{base + "/present", base + "/present/file"}));
}

TEST(IntegrityScanner, UnreadableFileIsAWarningAndKeepsItsRecord) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/secret.key", "top secret");
  WriteFile(root + "/public.txt", "hello");
  FaultyFileSystem fs;
  fs.FailOn(FaultyFileSystem::Op::kOpen, "secret", EACCES);
  WatchedRoots filter({Root(root)});
  Scanner scanner(fs, filter, 1);
  ScanOutput out = scanner.ScanAll();

  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_EQ(out.warnings[0].path, root + "/secret.key");
  EXPECT_FALSE(out.warnings[0].message.empty());
  auto m = ByPath(out);
  ASSERT_TRUE(m.count(root + "/secret.key")) << "the record must not be lost";
  const FileRecord& s = m[root + "/secret.key"];
  EXPECT_TRUE(s.unreadable);
  EXPECT_FALSE(s.has_sha256);
  EXPECT_EQ(s.type, FileType::kRegular);
  EXPECT_EQ(s.size, 10u) << "metadata is still recorded";
  EXPECT_TRUE(m[root + "/public.txt"].has_sha256);
  EXPECT_FALSE(m[root + "/public.txt"].unreadable);
}

TEST(IntegrityScanner, UnlistableDirectoryIsAWarningAndKeepsItsRecord) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/locked/inside", "x");
  WriteFile(root + "/open/inside", "y");
  FaultyFileSystem fs;
  fs.FailOn(FaultyFileSystem::Op::kListDir, "/locked", EACCES);
  WatchedRoots filter({Root(root)});
  Scanner scanner(fs, filter, 1);
  ScanOutput out = scanner.ScanAll();
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_EQ(out.warnings[0].path, root + "/locked");
  EXPECT_EQ(Paths(out), (std::vector<std::string>{root, root + "/locked", root + "/open",
                                                  root + "/open/inside"}));
}

TEST(IntegrityScanner, RecordsNamesWithNewlineAndNonUtf8BytesExactly) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  const std::string newline = root + "/line1\nline2";
  const std::string latin1 = root + "/caf\xe9\xff.txt";
  WriteFile(newline, "n");
  WriteFile(latin1, "l");
  WatchedRoots filter({Root(root)});
  Scanner scanner(RealFileSystem(), filter, 1);
  ScanOutput out = scanner.ScanAll();
  EXPECT_TRUE(out.warnings.empty());
  auto m = ByPath(out);
  ASSERT_TRUE(m.count(newline));
  ASSERT_TRUE(m.count(latin1));
  EXPECT_EQ(m[newline].sha256, OpenSslSha256("n"));
  EXPECT_EQ(m[latin1].sha256, OpenSslSha256("l"));
  EXPECT_EQ(m.size(), 3u);
}

TEST(IntegrityScanner, ExcludedPathsAreNotRecordedNorDescended) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/keep.txt", "k");
  WriteFile(root + "/app.log", "l");
  WriteFile(root + "/sub/deep.log", "l");
  WriteFile(root + "/cache/x/y", "c");
  WriteFile(root + "/sub/cache/kept", "c");
  FaultyFileSystem fs;
  // Descending into an excluded directory would trip this.
  fs.FailOn(FaultyFileSystem::Op::kListDir, root + "/cache", EIO);
  WatchedRoots filter({Root(root, {"*.log", "cache/**"})});
  Scanner scanner(fs, filter, 1);
  ScanOutput out = scanner.ScanAll();
  EXPECT_TRUE(out.warnings.empty());
  EXPECT_EQ(Paths(out), (std::vector<std::string>{root, root + "/keep.txt", root + "/sub",
                                                  root + "/sub/cache", root + "/sub/cache/kept"}));
}

TEST(IntegrityScanner, HashesEqualOpenSslSha256OfTheContent) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  std::map<std::string, std::string> contents = {
      {root + "/empty", ""},
      {root + "/one", "a"},
      {root + "/buffer_plus", Pseudo(1, 256 * 1024 + 7)},
      {root + "/big", Pseudo(2, 3 * 1024 * 1024 + 1)},
      {root + "/binary", std::string("\0\x01\xff\n\0", 5)},
  };
  uint64_t total = 0;
  for (const auto& [p, c] : contents) {
    WriteFile(p, c);
    total += c.size();
  }
  WatchedRoots filter({Root(root)});
  Scanner scanner(RealFileSystem(), filter, 1);
  ScanOutput out = scanner.ScanAll();
  EXPECT_TRUE(out.warnings.empty());
  auto m = ByPath(out);
  for (const auto& [p, c] : contents) {
    ASSERT_TRUE(m.count(p)) << p;
    EXPECT_TRUE(m[p].has_sha256) << p;
    EXPECT_EQ(DigestHex(m[p].sha256), DigestHex(OpenSslSha256(c))) << p;
    EXPECT_EQ(m[p].size, c.size()) << p;
  }
  EXPECT_EQ(out.bytes_hashed, total);
}

TEST(IntegrityScanner, TwoHashThreadsGiveTheSameDigestsAsOne) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  std::map<std::string, std::string> contents;
  for (size_t i = 0; i < 320; ++i) {
    std::string p = root + "/d" + std::to_string(i % 7) + "/s" + std::to_string(i % 3) + "/f" +
                    std::to_string(i);
    contents[p] = Pseudo(i, (i * 7919) % 70000);
    WriteFile(p, contents[p]);
  }
  WatchedRoots filter({Root(root)});
  Scanner one(RealFileSystem(), filter, 1);
  Scanner two(RealFileSystem(), filter, 2);
  ScanOutput a = one.ScanAll();
  ScanOutput b = two.ScanAll();
  EXPECT_TRUE(a.warnings.empty());
  EXPECT_TRUE(b.warnings.empty());
  ASSERT_EQ(a.records.size(), b.records.size());
  EXPECT_EQ(a.records.size(), 320u + 1 + 7 + 21);
  for (size_t i = 0; i < a.records.size(); ++i)
    EXPECT_EQ(a.records[i], b.records[i]) << a.records[i].path;
  EXPECT_EQ(a.bytes_hashed, b.bytes_hashed);
  auto m = ByPath(b);
  for (const auto& [p, c] : contents) {
    ASSERT_TRUE(m[p].has_sha256) << p;
    EXPECT_EQ(m[p].sha256, OpenSslSha256(c)) << p;
  }
}

TEST(IntegrityScanner, NonRecursiveRootRecordsOnlyDirectChildren) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/top", "t");
  WriteFile(root + "/sub/deep", "d");
  WatchedRoots filter({Root(root, {}, /*recursive=*/false)});
  Scanner scanner(RealFileSystem(), filter, 1);
  EXPECT_EQ(Paths(scanner.ScanAll()),
            (std::vector<std::string>{root, root + "/sub", root + "/top"}));
}

TEST(IntegrityScanner, NestedRootsAreScannedWithTheirOwnSettings) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/a.log", "x");
  WriteFile(root + "/app/b.log", "x");
  WriteFile(root + "/flat/top", "x");
  WriteFile(root + "/flat/sub/deep", "x");
  WatchedRoots filter({Root(root, {"*.log"}), Root(root + "/app", {}, true, kAttrMode),
                       Root(root + "/flat", {}, /*recursive=*/false)});
  Scanner scanner(RealFileSystem(), filter, 1);
  ScanOutput out = scanner.ScanAll();
  EXPECT_EQ(Paths(out),
            (std::vector<std::string>{root, root + "/app", root + "/app/b.log", root + "/flat",
                                      root + "/flat/sub", root + "/flat/top"}));
  auto m = ByPath(out);
  EXPECT_FALSE(m[root + "/app/b.log"].has_sha256) << "/app does not ask for sha256";
  EXPECT_TRUE(m[root + "/flat/top"].has_sha256);
}

TEST(IntegrityScanner, SubtreeScanOfAParentIncludesNestedRoots) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/a", "x");
  WriteFile(root + "/inner/b", "x");
  WriteFile(root + "/inner/deeper/c", "x");
  WriteFile(root + "/flat/d", "x");
  WriteFile(root + "/flat/sub/e", "x");
  WatchedRoots filter({Root(root), Root(root + "/inner", {}, true, kAttrSha256 | kAttrMode),
                       Root(root + "/flat", {}, false)});
  Scanner scanner(RealFileSystem(), filter, 1);
  ScanOutput all = scanner.ScanAll();
  ScanOutput sub = scanner.ScanPath(root, /*subtree=*/true);
  EXPECT_EQ(Paths(sub), Paths(all));
  EXPECT_TRUE(sub.warnings.empty());
}

TEST(IntegrityScanner, ScanPathLooksAtOnePathOrItsSubtree) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/d/f", "x");
  WriteFile(root + "/d/e/g", "y");
  WatchedRoots filter({Root(root)});
  Scanner scanner(RealFileSystem(), filter, 1);

  ScanOutput one = scanner.ScanPath(root + "/d", /*subtree=*/false);
  EXPECT_EQ(Paths(one), std::vector<std::string>{root + "/d"});
  ScanOutput file = scanner.ScanPath(root + "/d/f", /*subtree=*/false);
  ASSERT_EQ(file.records.size(), 1u);
  EXPECT_EQ(file.records[0].sha256, OpenSslSha256("x"));
  ScanOutput tree = scanner.ScanPath(root + "/d", /*subtree=*/true);
  EXPECT_EQ(Paths(tree),
            (std::vector<std::string>{root + "/d", root + "/d/e", root + "/d/e/g", root + "/d/f"}));
  ScanOutput gone = scanner.ScanPath(root + "/nope", true);
  EXPECT_TRUE(gone.records.empty());
  EXPECT_TRUE(gone.warnings.empty()) << "a path that does not exist is not a warning";
  ScanOutput outside = scanner.ScanPath("/etc/passwd", false);
  EXPECT_TRUE(outside.records.empty());
}

TEST(IntegrityScanner, FilesAreNotHashedWhenSha256IsNotConfigured) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/f", "content");
  FaultyFileSystem fs;
  fs.FailOn(FaultyFileSystem::Op::kOpen, root, EIO);
  WatchedRoots filter({Root(root, {}, true, kAttrMode | kAttrSize)});
  Scanner scanner(fs, filter, 1);
  ScanOutput out = scanner.ScanAll();
  EXPECT_TRUE(out.warnings.empty()) << "nothing should have been opened";
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_FALSE(out.records[1].has_sha256);
  EXPECT_EQ(out.records[1].size, 7u);
  EXPECT_EQ(out.bytes_hashed, 0u);
}

// The real file system, seen through path-based calls only (FileSystem's default OpenDir, the
// slow path fakes get), and optionally with directory listings that misreport: every entry
// listed twice, or every type given as "regular file", as a directory changing while it is read
// or a file replaced between listing and opening would make it look.
class TweakedFileSystem final : public FileSystem {
 public:
  bool path_only = false;
  bool duplicate_names = false;
  bool all_regular = false;

  Result<FileStat> Lstat(const std::string& p) override { return real_.Lstat(p); }
  Result<std::vector<DirEntry>> ListDir(const std::string& p) override {
    WARD_ASSIGN_OR_RETURN(auto entries, real_.ListDir(p));
    return Tweak(std::move(entries));
  }
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
  Result<std::unique_ptr<Directory>> OpenDir(const std::string& p) override {
    if (path_only) return FileSystem::OpenDir(p);
    WARD_ASSIGN_OR_RETURN(auto dir, real_.OpenDir(p));
    return std::unique_ptr<Directory>(new TweakedDirectory(*this, std::move(dir)));
  }

 private:
  class TweakedDirectory final : public Directory {
   public:
    TweakedDirectory(TweakedFileSystem& fs, std::unique_ptr<Directory> base)
        : fs_(fs), base_(std::move(base)) {}
    const std::string& path() const override { return base_->path(); }
    Result<FileStat> Stat() override { return base_->Stat(); }
    bool IsPseudoFs() override { return base_->IsPseudoFs(); }
    Result<std::vector<DirEntry>> List() override {
      WARD_ASSIGN_OR_RETURN(auto entries, base_->List());
      return fs_.Tweak(std::move(entries));
    }
    Result<FileStat> StatAt(const std::string& n) override { return base_->StatAt(n); }
    Result<std::string> ReadLinkAt(const std::string& n) override { return base_->ReadLinkAt(n); }
    Result<UniqueFd> OpenForReadAt(const std::string& n) override {
      return base_->OpenForReadAt(n);
    }
    Result<std::unique_ptr<Directory>> OpenDirAt(const std::string& n) override {
      WARD_ASSIGN_OR_RETURN(auto dir, base_->OpenDirAt(n));
      return std::unique_ptr<Directory>(new TweakedDirectory(fs_, std::move(dir)));
    }

   private:
    TweakedFileSystem& fs_;
    std::unique_ptr<Directory> base_;
  };

  std::vector<DirEntry> Tweak(std::vector<DirEntry> entries) {
    if (all_regular) {
      for (auto& e : entries) e.type = FileType::kRegular;
    }
    if (duplicate_names) {
      size_t n = entries.size();
      for (size_t i = 0; i < n; ++i) entries.push_back(entries[i]);
    }
    return entries;
  }

  FileSystem& real_ = RealFileSystem();
};

// Every kind of entry, and enough of them to exercise the shared walk: a directory wider than
// a slice, more subdirectories than are kept open, files above the large-file size.
void MakeVariedTree(const std::string& root) {
  for (int i = 0; i < 1100; ++i)
    WriteFile(root + "/wide/f" + std::to_string(i), Pseudo(i, i % 700));
  for (int i = 0; i < 90; ++i) {
    WriteFile(root + "/many/d" + std::to_string(i) + "/x/f", Pseudo(i, 100));
  }
  WriteFile(root + "/big/one", Pseudo(7, 9 * 1024 * 1024 + 3));
  WriteFile(root + "/big/two", Pseudo(8, 12 * 1024 * 1024));
  ASSERT_EQ(::symlink("wide/f1", (root + "/link").c_str()), 0);
  ASSERT_EQ(::symlink("many", (root + "/dirlink").c_str()), 0);
  ASSERT_EQ(::mkfifo((root + "/pipe").c_str(), 0600), 0);
  ASSERT_EQ(::mkdir((root + "/empty").c_str(), 0755), 0);
}

TEST(IntegrityScanner, SharedWalkGivesTheSameRecordsOnAnyNumberOfThreads) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  MakeVariedTree(root);
  WatchedRoots filter({Root(root)});
  ScanOutput one = Scanner(RealFileSystem(), filter, 1).ScanAll();
  ScanOutput three = Scanner(RealFileSystem(), filter, 3).ScanAll();
  EXPECT_TRUE(one.warnings.empty());
  EXPECT_TRUE(three.warnings.empty());
  EXPECT_EQ(one.records.size(), 1u + 1 + 1100 + 1 + 90 * 2 + 90 + 1 + 2 + 1 + 1 + 1 + 1);
  ASSERT_EQ(one.records.size(), three.records.size());
  for (size_t i = 0; i < one.records.size(); ++i) {
    EXPECT_EQ(one.records[i], three.records[i]) << one.records[i].path;
  }
  EXPECT_TRUE(std::is_sorted(three.records.begin(), three.records.end(), integrity::ByPath()));
  EXPECT_EQ(one.bytes_hashed, three.bytes_hashed);
  auto m = ByPath(three);
  EXPECT_EQ(m[root + "/big/one"].sha256, OpenSslSha256(Pseudo(7, 9 * 1024 * 1024 + 3)));
  EXPECT_EQ(m[root + "/big/two"].sha256, OpenSslSha256(Pseudo(8, 12 * 1024 * 1024)));
  EXPECT_EQ(m[root + "/big/two"].size, 12u * 1024 * 1024);
  EXPECT_EQ(m[root + "/wide/f699"].sha256, OpenSslSha256(Pseudo(699, 699)));
  EXPECT_EQ(m[root + "/many/d89/x/f"].sha256, OpenSslSha256(Pseudo(89, 100)));
  EXPECT_EQ(m[root + "/dirlink"].type, FileType::kSymlink);
  EXPECT_EQ(m[root + "/pipe"].type, FileType::kFifo);
  EXPECT_FALSE(m[root + "/pipe"].has_sha256);
}

TEST(IntegrityScanner, PathBasedFileSystemGivesTheSameScanAsDescriptors) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  MakeVariedTree(root);
  WatchedRoots filter({Root(root, {"f1?"})});
  TweakedFileSystem path_only;
  path_only.path_only = true;
  ScanOutput by_fd = Scanner(RealFileSystem(), filter, 2).ScanAll();
  ScanOutput by_path = Scanner(path_only, filter, 2).ScanAll();
  EXPECT_TRUE(by_path.warnings.empty());
  ASSERT_EQ(by_fd.records.size(), by_path.records.size());
  for (size_t i = 0; i < by_fd.records.size(); ++i) {
    EXPECT_EQ(by_fd.records[i], by_path.records[i]) << by_fd.records[i].path;
  }
}

TEST(IntegrityScanner, LargeUnreadableFileIsAWarningAndKeepsItsRecord) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/big.secret", Pseudo(1, 9 * 1024 * 1024));
  WriteFile(root + "/big.public", Pseudo(2, 9 * 1024 * 1024));
  FaultyFileSystem fs;
  fs.FailOn(FaultyFileSystem::Op::kOpen, "secret", EACCES);
  WatchedRoots filter({Root(root)});
  ScanOutput out = Scanner(fs, filter, 2).ScanAll();
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_EQ(out.warnings[0].path, root + "/big.secret");
  auto m = ByPath(out);
  EXPECT_TRUE(m[root + "/big.secret"].unreadable);
  EXPECT_EQ(m[root + "/big.secret"].size, 9u * 1024 * 1024);
  EXPECT_TRUE(m[root + "/big.public"].has_sha256);
  EXPECT_EQ(out.bytes_hashed, 9u * 1024 * 1024);
}

TEST(IntegrityScanner, SettledRecordsArriveOnceInSortedBatchesLargeFilesLast) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  MakeVariedTree(root);
  WatchedRoots filter({Root(root)});
  Scanner scanner(RealFileSystem(), filter, 2);
  std::vector<std::vector<FileRecord>> batches;
  ScanOutput handed = scanner.ScanAll([&](const std::vector<const FileRecord*>& settled) {
    batches.emplace_back();
    for (const FileRecord* r : settled) batches.back().push_back(*r);
  });
  EXPECT_TRUE(handed.records.empty()) << "handed over, not kept";
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_TRUE(std::is_sorted(batches[0].begin(), batches[0].end(), integrity::ByPath()));
  ASSERT_EQ(batches[1].size(), 2u) << "the large files come last, hashed";
  EXPECT_EQ(batches[1][0].path, root + "/big/one");
  EXPECT_EQ(batches[1][1].path, root + "/big/two");
  EXPECT_TRUE(batches[1][0].has_sha256);
  std::vector<FileRecord> all = batches[0];
  all.insert(all.end(), batches[1].begin(), batches[1].end());
  std::sort(all.begin(), all.end(), integrity::ByPath());
  ScanOutput kept = scanner.ScanAll();
  ASSERT_EQ(all.size(), kept.records.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], kept.records[i]) << all[i].path;
  EXPECT_EQ(handed.bytes_hashed, kept.bytes_hashed);

  // Without large files, everything comes at once.
  WatchedRoots small({Root(root + "/wide")});
  batches.clear();
  Scanner(RealFileSystem(), small, 2).ScanAll([&](const std::vector<const FileRecord*>& settled) {
    batches.emplace_back();
    for (const FileRecord* r : settled) batches.back().push_back(*r);
  });
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].size(), 1101u);
}

TEST(IntegrityScanner, NameListedTwiceIsRecordedOnce) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/a", "a");
  WriteFile(root + "/d/b", "b");
  TweakedFileSystem fs;
  fs.duplicate_names = true;
  WatchedRoots filter({Root(root)});
  ScanOutput out = Scanner(fs, filter, 2).ScanAll();
  EXPECT_EQ(Paths(out), (std::vector<std::string>{root, root + "/a", root + "/d", root + "/d/b"}));
}

TEST(IntegrityScanner, EntryListedAsAFileButReplacedIsRecordedAsWhatItIsNow) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/file", "f");
  WriteFile(root + "/dir/inner", "i");
  ASSERT_EQ(::symlink("file", (root + "/link").c_str()), 0);
  TweakedFileSystem fs;
  fs.all_regular = true;  // as if each had been a regular file when the directory was read
  WatchedRoots filter({Root(root)});
  ScanOutput out = Scanner(fs, filter, 1).ScanAll();
  EXPECT_TRUE(out.warnings.empty()) << out.warnings.front().message;
  auto m = ByPath(out);
  EXPECT_EQ(m[root + "/link"].type, FileType::kSymlink);
  EXPECT_EQ(m[root + "/link"].target, "file");
  EXPECT_FALSE(m[root + "/link"].has_sha256) << "a symlink is never followed";
  EXPECT_EQ(m[root + "/dir"].type, FileType::kDirectory);
  EXPECT_FALSE(m[root + "/dir"].has_sha256);
  EXPECT_TRUE(m[root + "/file"].has_sha256);
}

// Runs `body` in a child process with a mount namespace of its own; skips the test where that
// is not permitted. `body` returns an empty string on success, or what went wrong.
template <typename Body>
void InMountNamespace(Body body) {
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    std::string result = "skip";
    if (::unshare(CLONE_NEWNS) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0) {
      result = body();
    }
    (void)!::write(pipefd[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string result;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) result.append(buf, n);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (result == "skip") GTEST_SKIP() << "no permission for a private mount namespace";
  EXPECT_EQ(result, "");
}

TEST(IntegrityScanner, BindMountLoopIsNotEnteredAgain) {
  TempDir tmp;
  const std::string root = Canonical(tmp);
  WriteFile(root + "/a/file", "x");
  WriteFile(root + "/b/other", "y");
  ASSERT_EQ(::mkdir((root + "/a/loop").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/a/copy").c_str(), 0755), 0);
  InMountNamespace([&]() -> std::string {
    // root/a/loop shows root again (a loop); root/a/copy shows root/b (the same directory twice).
    if (::mount(root.c_str(), (root + "/a/loop").c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        ::mount((root + "/b").c_str(), (root + "/a/copy").c_str(), nullptr, MS_BIND, nullptr) !=
            0) {
      return "skip";
    }
    WatchedRoots filter({Root(root)});
    ScanOutput out = Scanner(RealFileSystem(), filter, 2).ScanAll();
    std::vector<std::string> expect = {root,
                                       root + "/a",
                                       root + "/a/copy",
                                       root + "/a/copy/other",
                                       root + "/a/file",
                                       root + "/a/loop",
                                       root + "/b",
                                       root + "/b/other"};
    if (Paths(out) != expect) {
      std::string got;
      for (const auto& p : Paths(out)) got += p + "\n";
      return "unexpected records:\n" + got;
    }
    return out.warnings.empty() ? "" : out.warnings[0].message;
  });
}

}  // namespace
}  // namespace ward::agent::integrity

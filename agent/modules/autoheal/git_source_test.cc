#include "agent/modules/autoheal/git_source.h"

#include <git2.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "testing/git_repo.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"

namespace ward::agent::autoheal {
namespace {

using Kind = GitEntry::Kind;
using namespace std::string_literals;

// A git repository in a temporary directory of its own (the directory is made first).
struct RepoDir {
  test::TempDir tmp;
};
class TestRepo : private RepoDir, public test::GitRepo {
 public:
  TestRepo() : GitRepo(tmp.Str()) {}
};

std::unique_ptr<GitSource> OpenOrDie(const std::string& dir) {
  auto g = GitSource::Open(dir);
  EXPECT_TRUE(g.has_value()) << g.error().ToString();
  return g ? std::move(*g) : nullptr;
}

// --- Hostile trees, which git itself refuses to make, written object by object. ---

struct RawEntry {
  std::string mode;  // "100644", "40000", ...
  std::string name;  // anything but NUL
  git_oid oid;
};

git_oid WriteObject(git_odb* odb, std::string_view data, git_object_t type) {
  git_oid id;
  EXPECT_EQ(git_odb_write(&id, odb, data.data(), data.size(), type), 0);
  return id;
}

// A tree object assembled by hand: "<mode> <name>\0<20-byte id>" per entry, in git's order.
git_oid WriteRawTree(git_odb* odb, std::vector<RawEntry> entries) {
  auto key = [](const RawEntry& e) { return e.name + (e.mode == "40000" ? "/" : ""); };
  std::sort(entries.begin(), entries.end(),
            [&](const RawEntry& a, const RawEntry& b) { return key(a) < key(b); });
  std::string raw;
  for (const auto& e : entries) {
    raw += e.mode + ' ' + e.name;
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(e.oid.id), GIT_OID_RAWSZ);
  }
  return WriteObject(odb, raw, GIT_OBJECT_TREE);
}

git_oid WriteRawCommit(git_odb* odb, const git_oid& tree) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &tree);
  std::string raw = std::string("tree ") + hex +
                    "\nauthor t <t@t> 1700000000 +0000\ncommitter t <t@t> 1700000000 +0000\n"
                    "\nhostile\n";
  return WriteObject(odb, raw, GIT_OBJECT_COMMIT);
}

GitOid ToOid(const git_oid& o) {
  GitOid out{};
  std::memcpy(out.data(), o.id, out.size());
  return out;
}

// Writes into the repository at `dir` a commit whose root tree holds:
//   ..        (tree) -> pwned        a file that would land beside the root
//   .git      (tree) -> config       would overwrite a repository's config
//   .GIT      (blob)                 the same on a case-insensitive file system
//   a/b       (blob)                 a name with a slash in it
//   ok.txt    (blob)
//   sub       (tree) -> .. (tree) -> deep    a hostile entry one level down
// and points refs/heads/main at it. Returns the commit.
GitOid MakeHostileCommit(const std::string& dir) {
  git_libgit2_init();
  git_repository* repo = nullptr;
  EXPECT_EQ(git_repository_open(&repo, dir.c_str()), 0);
  git_odb* odb = nullptr;
  EXPECT_EQ(git_repository_odb(&odb, repo), 0);
  git_oid blob = WriteObject(odb, "pwned\n", GIT_OBJECT_BLOB);
  git_oid ok = WriteObject(odb, "ok\n", GIT_OBJECT_BLOB);
  git_oid dotdot = WriteRawTree(odb, {{"100644", "pwned", blob}});
  git_oid dotgit = WriteRawTree(odb, {{"100644", "config", blob}});
  git_oid deep = WriteRawTree(odb, {{"100644", "deep", blob}});
  git_oid sub_dotdot = WriteRawTree(odb, {{"40000", "..", deep}});
  git_oid sub = WriteRawTree(odb, {{"40000", "..", sub_dotdot}, {"100644", "fine.txt", ok}});
  git_oid root = WriteRawTree(odb, {{"40000", "..", dotdot},
                                    {"40000", ".git", dotgit},
                                    {"100644", ".GIT", blob},
                                    {"100644", "a/b", blob},
                                    {"100644", "ok.txt", ok},
                                    {"40000", "sub", sub}});
  git_oid commit = WriteRawCommit(odb, root);
  git_reference* ref = nullptr;
  EXPECT_EQ(git_reference_create(&ref, repo, "refs/heads/main", &commit, 1, "hostile"), 0);
  git_reference_free(ref);
  git_odb_free(odb);
  git_repository_free(repo);
  git_libgit2_shutdown();
  return ToOid(commit);
}

GitOid HexOid(const std::string& hex) {
  git_oid o;
  EXPECT_EQ(git_oid_fromstr(&o, hex.c_str()), 0) << hex;
  return ToOid(o);
}

// --- ResolveCommit ---

TEST(GitSource, ResolvesBranchAndHeadToTheCommit) {
  TestRepo repo;
  repo.Write("index.html", "hello\n");
  std::string c = repo.Commit();
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto by_ref = g->ResolveCommit("refs/heads/main");
  ASSERT_TRUE(by_ref.has_value()) << by_ref.error().ToString();
  EXPECT_EQ(OidHex(*by_ref), c);
  auto by_head = g->ResolveCommit("HEAD");
  ASSERT_TRUE(by_head.has_value()) << by_head.error().ToString();
  EXPECT_EQ(OidHex(*by_head), c);
}

TEST(GitSource, ResolvesAnAnnotatedTagToItsCommit) {
  TestRepo repo;
  repo.Write("a", "a");
  std::string c = repo.Commit();
  repo.Git({"tag", "-a", "-m", "release", "v1"});
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto tag = g->ResolveCommit("refs/tags/v1");
  ASSERT_TRUE(tag.has_value()) << tag.error().ToString();
  EXPECT_EQ(OidHex(*tag), c);
}

TEST(GitSource, SeesTheRefMoveWithoutReopening) {
  TestRepo repo;
  repo.Write("a", "1");
  repo.Commit();
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  repo.Write("a", "2");
  std::string c2 = repo.Commit();
  auto now = g->ResolveCommit("refs/heads/main");
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(OidHex(*now), c2);
}

TEST(GitSource, MissingRefIsNotFoundAndNamesTheRef) {
  TestRepo repo;
  repo.Write("a", "a");
  repo.Commit();
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto r = g->ResolveCommit("refs/heads/nope");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound) << r.error().ToString();
  EXPECT_NE(r.error().message().find("refs/heads/nope"), std::string::npos) << r.error().message();
}

TEST(GitSource, UnbornHeadIsAnError) {
  TestRepo repo;
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto r = g->ResolveCommit("HEAD");
  EXPECT_FALSE(r.has_value());
}

TEST(GitSource, OpenOfANonRepositoryFailsAndNamesThePath) {
  test::TempDir tmp;
  test::WriteFile(tmp.Sub("plain/file"), "x");
  auto g = GitSource::Open(tmp.Sub("plain"));
  ASSERT_FALSE(g.has_value());
  EXPECT_NE(g.error().message().find(tmp.Sub("plain")), std::string::npos) << g.error().message();
  auto missing = GitSource::Open(tmp.Sub("missing"));
  EXPECT_FALSE(missing.has_value());
}

TEST(GitSource, OpenDoesNotSearchParentDirectories) {
  TestRepo repo;
  repo.Write("sub/a", "a");
  repo.Commit();
  auto g = GitSource::Open(repo.dir() + "/sub");
  EXPECT_FALSE(g.has_value()) << "a directory inside a work tree is not the repository";
}

TEST(GitSource, OpensABareRepository) {
  TestRepo repo;
  repo.Write("a", "a");
  std::string c = repo.Commit();
  test::TempDir tmp;
  test::ShOrFail("git clone -q --bare " + test::ShellQuote(repo.dir()) + " " +
                 test::ShellQuote(tmp.Sub("site.git")));
  auto g = OpenOrDie(tmp.Sub("site.git"));
  ASSERT_NE(g, nullptr);
  auto r = g->ResolveCommit("refs/heads/main");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(OidHex(*r), c);
}

// --- Lookup and ReadBlob ---

class GitSourceTree : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.Write("index.html", "<h1>hi</h1>\n");
    repo_.Write("bin/run.sh", "#!/bin/sh\necho hi\n", 0755);
    repo_.Symlink("current", "bin/run.sh");
    repo_.Write("d/e/c.txt", "c\n");
    commit_hex_ = repo_.Commit();
    git_ = OpenOrDie(repo_.dir());
    ASSERT_NE(git_, nullptr);
    commit_ = HexOid(commit_hex_);
  }
  GitEntry LookupOrDie(const std::string& rel) {
    auto e = git_->Lookup(commit_, rel);
    EXPECT_TRUE(e.has_value()) << rel << ": " << e.error().ToString();
    return e ? *e : GitEntry{Kind::kInvalid, {}};
  }

  TestRepo repo_;
  std::string commit_hex_;
  std::unique_ptr<GitSource> git_;
  GitOid commit_{};
};

TEST_F(GitSourceTree, LookupTellsBlobExecutableSymlinkTreeAndNone) {
  GitEntry blob = LookupOrDie("index.html");
  EXPECT_EQ(blob.kind, Kind::kBlob);
  EXPECT_EQ(OidHex(blob.oid), repo_.Git({"rev-parse", "HEAD:index.html"}));
  GitEntry exe = LookupOrDie("bin/run.sh");
  EXPECT_EQ(exe.kind, Kind::kExecutable);
  EXPECT_EQ(OidHex(exe.oid), repo_.Git({"rev-parse", "HEAD:bin/run.sh"}));
  GitEntry link = LookupOrDie("current");
  EXPECT_EQ(link.kind, Kind::kSymlink);
  GitEntry tree = LookupOrDie("d/e");
  EXPECT_EQ(tree.kind, Kind::kTree);
  EXPECT_EQ(OidHex(tree.oid), repo_.Git({"rev-parse", "HEAD:d/e"}));
  EXPECT_EQ(LookupOrDie("missing.html").kind, Kind::kNone);
  EXPECT_EQ(LookupOrDie("d/missing/x").kind, Kind::kNone);
  EXPECT_EQ(LookupOrDie("index.html/x").kind, Kind::kNone) << "a path through a file";
}

TEST_F(GitSourceTree, LookupOfEmptyPathIsTheRootTree) {
  GitEntry root = LookupOrDie("");
  EXPECT_EQ(root.kind, Kind::kTree);
  EXPECT_EQ(OidHex(root.oid), repo_.Git({"rev-parse", "HEAD^{tree}"}));
}

TEST_F(GitSourceTree, LookupOfUnsafePathIsInvalid) {
  EXPECT_EQ(LookupOrDie("../etc/passwd").kind, Kind::kInvalid);
  EXPECT_EQ(LookupOrDie("d/../index.html").kind, Kind::kInvalid);
  EXPECT_EQ(LookupOrDie(".git/config").kind, Kind::kInvalid);
  EXPECT_EQ(LookupOrDie("d//e").kind, Kind::kInvalid);
}

TEST_F(GitSourceTree, LookupOfAnUnknownCommitFails) {
  GitOid bogus{};
  bogus.fill(0xab);
  auto e = git_->Lookup(bogus, "index.html");
  EXPECT_FALSE(e.has_value());
}

TEST_F(GitSourceTree, ReadBlobGivesContentAndSymlinkTarget) {
  auto content = git_->ReadBlob(LookupOrDie("bin/run.sh").oid);
  ASSERT_TRUE(content.has_value()) << content.error().ToString();
  EXPECT_EQ(*content, "#!/bin/sh\necho hi\n");
  auto target = git_->ReadBlob(LookupOrDie("current").oid);
  ASSERT_TRUE(target.has_value()) << target.error().ToString();
  EXPECT_EQ(*target, "bin/run.sh");
}

// --- ListTree ---

std::vector<std::string> Paths(const std::vector<GitTreeItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.path);
  return out;
}

TEST(GitSource, ListTreeIsPreOrder) {
  TestRepo repo;
  repo.Write("z.txt", "z");
  repo.Write("a.txt", "a");
  repo.Write("d/e/c.txt", "c");
  repo.Write("d/b.txt", "b");
  std::string c = repo.Commit();
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto all = g->ListTree(HexOid(c), "");
  ASSERT_TRUE(all.has_value()) << all.error().ToString();
  EXPECT_EQ(Paths(*all),
            (std::vector<std::string>{"a.txt", "d", "d/b.txt", "d/e", "d/e/c.txt", "z.txt"}));
  EXPECT_EQ((*all)[1].entry.kind, Kind::kTree);
  EXPECT_EQ((*all)[2].entry.kind, Kind::kBlob);

  auto sub = g->ListTree(HexOid(c), "d");
  ASSERT_TRUE(sub.has_value()) << sub.error().ToString();
  EXPECT_EQ(Paths(*sub), (std::vector<std::string>{"d/b.txt", "d/e", "d/e/c.txt"}));
}

TEST(GitSource, ListTreeOfAFileOrMissingPathIsEmptyAndOfAnUnsafeOneAnError) {
  TestRepo repo;
  repo.Write("a.txt", "a");
  std::string c = repo.Commit();
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto file = g->ListTree(HexOid(c), "a.txt");
  ASSERT_TRUE(file.has_value());
  EXPECT_TRUE(file->empty());
  auto missing = g->ListTree(HexOid(c), "nope");
  ASSERT_TRUE(missing.has_value());
  EXPECT_TRUE(missing->empty());
  auto unsafe = g->ListTree(HexOid(c), "..");
  ASSERT_FALSE(unsafe.has_value());
  EXPECT_EQ(unsafe.error().code(), StatusCode::kInvalidArgument);
}

// --- Diff ---

TEST(GitSource, DiffListsWrittenAndRemovedFiles) {
  TestRepo repo;
  repo.Write("same.txt", "same");
  repo.Write("changed.txt", "v1");
  repo.Write("mode.sh", "#!/bin/sh\n");
  repo.Write("gone/c.txt", "c");
  repo.Write("link", "was a file");
  std::string c1 = repo.Commit();
  repo.Write("changed.txt", "v2");
  repo.Write("mode.sh", "#!/bin/sh\n", 0755);
  repo.Remove("gone");
  repo.Write("new/page.html", "new");
  repo.Remove("link");
  repo.Symlink("link", "same.txt");
  std::string c2 = repo.Commit();

  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto d = g->Diff(HexOid(c1), HexOid(c2));
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  std::vector<std::string> written;
  std::vector<std::string> removed;
  for (const auto& ch : *d) {
    (ch.kind == GitChange::Kind::kWritten ? written : removed).push_back(ch.path);
  }
  std::sort(written.begin(), written.end());
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(written, (std::vector<std::string>{"changed.txt", "link", "mode.sh", "new/page.html"}));
  EXPECT_EQ(removed, (std::vector<std::string>{"gone/c.txt"}));

  auto back = g->Diff(HexOid(c2), HexOid(c1));
  ASSERT_TRUE(back.has_value());
  removed.clear();
  for (const auto& ch : *back) {
    if (ch.kind == GitChange::Kind::kRemoved) removed.push_back(ch.path);
  }
  EXPECT_EQ(removed, (std::vector<std::string>{"new/page.html"}));

  auto none = g->Diff(HexOid(c2), HexOid(c2));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

// --- HashBlob ---

TEST(GitSource, HashBlobEqualsGitHashObject) {
  test::TempDir tmp;
  const std::vector<std::string> contents = {"", "hello\n", "bin\0ary\r\n\xff\xfe"s,
                                             std::string(100000, 'x')};
  for (size_t i = 0; i < contents.size(); ++i) {
    std::string f = tmp.Sub("f" + std::to_string(i));
    test::WriteFile(f, contents[i]);
    EXPECT_EQ(OidHex(GitSource::HashBlob(contents[i])),
              test::ShOrFail("git hash-object " + test::ShellQuote(f)))
        << "content #" << i;
  }
  EXPECT_EQ(OidHex(GitSource::HashBlob("")), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

// --- SafeRelativePath ---

TEST(GitSource, SafeRelativePathRejectsEscapesAndRepositoryNames) {
  for (const char* bad :
       {"..", "../x", "a/..", "a/../b", ".", "./a", "a/.", ".git", ".GIT", ".Git/config", "a/.git",
        "a/.git/hooks/post-checkout", "a//b", "/a", "/etc/passwd", "a/", "/"}) {
    EXPECT_FALSE(GitSource::SafeRelativePath(bad)) << bad;
  }
  EXPECT_FALSE(GitSource::SafeRelativePath(std::string_view("a\0b", 3))) << "NUL";
  for (const char* good : {"a", "a/b", "index.html", ".htaccess", "..foo", "foo..", ".gitignore",
                           ".github/workflows/x.yml", "a/.git2", "git"}) {
    EXPECT_TRUE(GitSource::SafeRelativePath(good)) << good;
  }
  // The empty path names the root itself (Lookup("") is the root tree); it has no components.
  EXPECT_TRUE(GitSource::SafeRelativePath(""));
}

// --- Hostile repositories ---

TEST(GitSource, HostileTreeEntriesAreInvalidAndNotDescended) {
  TestRepo repo;
  GitOid c = MakeHostileCommit(repo.dir());
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto head = g->ResolveCommit("refs/heads/main");
  ASSERT_TRUE(head.has_value()) << head.error().ToString();
  ASSERT_EQ(*head, c);

  auto items = g->ListTree(c, "");
  ASSERT_TRUE(items.has_value()) << items.error().ToString();
  std::map<std::string, Kind> kinds;
  for (const auto& i : *items) kinds[i.path] = i.entry.kind;
  EXPECT_EQ(kinds[".."], Kind::kInvalid);
  EXPECT_EQ(kinds[".git"], Kind::kInvalid);
  EXPECT_EQ(kinds[".GIT"], Kind::kInvalid);
  EXPECT_EQ(kinds["a/b"], Kind::kInvalid);
  EXPECT_EQ(kinds["ok.txt"], Kind::kBlob);
  EXPECT_EQ(kinds["sub"], Kind::kTree);
  EXPECT_EQ(kinds["sub/fine.txt"], Kind::kBlob);
  EXPECT_EQ(kinds["sub/.."], Kind::kInvalid);
  for (const auto& i : *items) {
    EXPECT_EQ(i.path.find("pwned"), std::string::npos) << "descended into " << i.path;
    EXPECT_EQ(i.path.find("config"), std::string::npos) << "descended into " << i.path;
    EXPECT_EQ(i.path.find("deep"), std::string::npos) << "descended into " << i.path;
  }
  EXPECT_EQ(items->size(), 8u) << ::testing::PrintToString(Paths(*items));

  auto sub = g->ListTree(c, "sub");
  ASSERT_TRUE(sub.has_value()) << sub.error().ToString();
  EXPECT_EQ(Paths(*sub), (std::vector<std::string>{"sub/..", "sub/fine.txt"}));
  EXPECT_EQ((*sub)[0].entry.kind, Kind::kInvalid);

  for (const char* rel :
       {"..", "../pwned", ".git", ".git/config", ".GIT", "sub/..", "sub/../deep"}) {
    auto e = g->Lookup(c, rel);
    ASSERT_TRUE(e.has_value()) << rel << ": " << e.error().ToString();
    EXPECT_EQ(e->kind, Kind::kInvalid) << rel;
  }
  auto ok = g->Lookup(c, "ok.txt");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->kind, Kind::kBlob);
  // "a/b" as a path means the entry b in a tree a, which this commit does not have.
  auto slash = g->Lookup(c, "a/b");
  ASSERT_TRUE(slash.has_value());
  EXPECT_NE(slash->kind, Kind::kBlob);
}

TEST(GitSource, DiffToAHostileCommitNeverNamesAPathBelowARefusedEntry) {
  TestRepo repo;
  repo.Write("ok.txt", "ok\n");
  std::string clean = repo.Commit();
  GitOid hostile = MakeHostileCommit(repo.dir());
  auto g = OpenOrDie(repo.dir());
  ASSERT_NE(g, nullptr);
  auto d = g->Diff(HexOid(clean), hostile);
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  for (const auto& ch : *d) {
    EXPECT_NE(ch.path.rfind("../", 0), 0u) << ch.path;
    EXPECT_NE(ch.path.rfind(".git/", 0), 0u) << ch.path;
    EXPECT_EQ(ch.path.find("/../"), std::string::npos) << ch.path;
  }
}

}  // namespace
}  // namespace ward::agent::autoheal

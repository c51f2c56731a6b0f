#include "agent/core/watch/path_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ward::watch {
namespace {

WatchRoot Root(std::string path, std::vector<std::string> exclude = {}, bool recursive = true) {
  WatchRoot w;
  w.path = std::move(path);
  w.recursive = recursive;
  w.exclude = std::move(exclude);
  return w;
}

TEST(GlobMatch, StarMatchesWithinOneComponentOnly) {
  EXPECT_TRUE(GlobMatch("*", "file.txt"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*.log", "app.log"));
  EXPECT_TRUE(GlobMatch("a*b", "ab"));
  EXPECT_FALSE(GlobMatch("*", "a/b"));
  EXPECT_FALSE(GlobMatch("*.log", "dir/app.log"));
  EXPECT_TRUE(GlobMatch("*/app.log", "dir/app.log"));
  EXPECT_FALSE(GlobMatch("*/app.log", "a/b/app.log"));
  EXPECT_FALSE(GlobMatch("*.log", "app.log.1"));
}

TEST(GlobMatch, DoubleStarCrossesSlashes) {
  EXPECT_TRUE(GlobMatch("**", "a/b/c"));
  EXPECT_TRUE(GlobMatch("**.log", "a/b/c.log"));
  EXPECT_TRUE(GlobMatch("a/**/z", "a/b/c/z"));
  EXPECT_TRUE(GlobMatch("a/**/z", "a/z")) << "**/ may match no directory at all";
  EXPECT_TRUE(GlobMatch("cache/**", "cache/x/y"));
  EXPECT_FALSE(GlobMatch("cache/**", "other/x"));
  EXPECT_FALSE(GlobMatch("cache/**", "cachex/y"));
}

TEST(GlobMatch, QuestionMarkMatchesOneCharacterButNotSlash) {
  EXPECT_TRUE(GlobMatch("?.txt", "a.txt"));
  EXPECT_FALSE(GlobMatch("?.txt", "ab.txt"));
  EXPECT_FALSE(GlobMatch("?.txt", ".txt"));
  EXPECT_FALSE(GlobMatch("a?b", "a/b"));
}

TEST(GlobMatch, BracketClassesRangesAndNegation) {
  EXPECT_TRUE(GlobMatch("file[0-9]", "file7"));
  EXPECT_FALSE(GlobMatch("file[0-9]", "filex"));
  EXPECT_TRUE(GlobMatch("[abc].txt", "b.txt"));
  EXPECT_FALSE(GlobMatch("[abc].txt", "d.txt"));
  EXPECT_TRUE(GlobMatch("[!abc].txt", "d.txt"));
  EXPECT_FALSE(GlobMatch("[!abc].txt", "a.txt"));
  EXPECT_TRUE(GlobMatch("[^a-c]", "z"));
  EXPECT_TRUE(GlobMatch("[]]", "]")) << "a leading ] is literal";
  EXPECT_TRUE(GlobMatch("[a-]", "-")) << "a trailing - is literal";
  EXPECT_FALSE(GlobMatch("a[/]b", "a/b")) << "a class never matches /";
  EXPECT_TRUE(GlobMatch("[", "[")) << "an unclosed [ is literal";
}

TEST(GlobMatch, BackslashEscapesAMetaCharacter) {
  EXPECT_TRUE(GlobMatch("a\\*", "a*"));
  EXPECT_FALSE(GlobMatch("a\\*", "ab"));
}

TEST(PathFilter, BasenamePatternExcludesAtAnyDepth) {
  PathFilter f({Root("/srv", {"*.log"})});
  EXPECT_FALSE(f.Monitored("/srv/app.log"));
  EXPECT_FALSE(f.Monitored("/srv/a/b/c/deep.log"));
  EXPECT_TRUE(f.Monitored("/srv/a/b/c/deep.txt"));
  EXPECT_TRUE(f.Monitored("/srv/app.log.1"));
}

TEST(PathFilter, BasenamePatternMatchingADirectoryExcludesEverythingInIt) {
  PathFilter f({Root("/srv", {"node_modules"})});
  EXPECT_FALSE(f.Monitored("/srv/node_modules"));
  EXPECT_FALSE(f.Monitored("/srv/app/node_modules/x/index.js"));
  EXPECT_TRUE(f.Monitored("/srv/app/src/index.js"));
}

TEST(PathFilter, RelativePatternIsAnchoredAtTheRoot) {
  PathFilter f({Root("/srv", {"cache/**", "tmp/*.swp"})});
  EXPECT_FALSE(f.Monitored("/srv/cache/a"));
  EXPECT_FALSE(f.Monitored("/srv/cache/a/b/c"));
  EXPECT_TRUE(f.Monitored("/srv/sub/cache/a")) << "not anchored at the root";
  EXPECT_FALSE(f.Monitored("/srv/tmp/x.swp"));
  EXPECT_TRUE(f.Monitored("/srv/tmp/x/y.swp")) << "* does not cross /";
  EXPECT_TRUE(f.Monitored("/srv/tmp/x.txt"));
}

TEST(PathFilter, DirDoubleStarExcludesTheDirectoryItself) {
  PathFilter f({Root("/srv", {"cache/**"})});
  EXPECT_FALSE(f.Monitored("/srv/cache"));
  EXPECT_TRUE(f.Monitored("/srv/cachex"));
}

TEST(PathFilter, LeadingSlashInARelativePatternIsTheRoot) {
  PathFilter f({Root("/srv", {"/build/**"})});
  EXPECT_FALSE(f.Monitored("/srv/build/out.o"));
  EXPECT_TRUE(f.Monitored("/srv/src/build/out.o"));
}

TEST(PathFilter, ARootIsNeverExcludedByItsOwnPatterns) {
  PathFilter f({Root("/srv/logs", {"*"})});
  EXPECT_TRUE(f.Monitored("/srv/logs"));
  EXPECT_FALSE(f.Monitored("/srv/logs/a"));
}

TEST(PathFilter, NonRecursiveRootCoversOnlyItsDirectChildren) {
  PathFilter f({Root("/etc", {}, /*recursive=*/false)});
  EXPECT_NE(f.RootOf("/etc"), nullptr);
  EXPECT_NE(f.RootOf("/etc/passwd"), nullptr);
  EXPECT_EQ(f.RootOf("/etc/ssh/sshd_config"), nullptr);
  EXPECT_TRUE(f.Monitored("/etc/ssh"));
  EXPECT_FALSE(f.Monitored("/etc/ssh/sshd_config"));
}

TEST(PathFilter, PathsOutsideEveryRootAreNotMonitored) {
  PathFilter f({Root("/srv/www")});
  EXPECT_EQ(f.RootOf("/srv"), nullptr);
  EXPECT_EQ(f.RootOf("/srv/www2/x"), nullptr) << "a shared prefix is not containment";
  EXPECT_FALSE(f.Monitored("/etc/passwd"));
  EXPECT_TRUE(f.Monitored("/srv/www/index.html"));
}

TEST(PathFilter, MostSpecificNestedRootWins) {
  PathFilter f({Root("/srv", {"*.log"}), Root("/srv/app")});
  const WatchRoot* r = f.RootOf("/srv/app/x.log");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->path, "/srv/app");
  EXPECT_TRUE(f.Monitored("/srv/app/x.log")) << "the inner root does not exclude *.log";
  EXPECT_FALSE(f.Monitored("/srv/other/x.log"));
  ASSERT_NE(f.RootOf("/srv/other/y"), nullptr);
  EXPECT_EQ(f.RootOf("/srv/other/y")->path, "/srv");
  EXPECT_EQ(f.RootOf("/srv/app")->path, "/srv/app");
}

TEST(PathFilter, MostSpecificWinsRegardlessOfListOrder) {
  PathFilter f({Root("/srv/app"), Root("/srv", {"*.log"})});
  ASSERT_NE(f.RootOf("/srv/app/a/b"), nullptr);
  EXPECT_EQ(f.RootOf("/srv/app/a/b")->path, "/srv/app");
  EXPECT_EQ(f.RootOf("/srv/b")->path, "/srv");
}

TEST(PathFilter, NestedNonRecursiveRootLimitsDepthBelowIt) {
  // The most specific entry decides: /srv/flat is watched one level deep even though /srv is
  // recursive (this is also what the scanner walks).
  PathFilter f({Root("/srv"), Root("/srv/flat", {}, /*recursive=*/false)});
  ASSERT_NE(f.RootOf("/srv/flat/file"), nullptr);
  EXPECT_EQ(f.RootOf("/srv/flat/file")->path, "/srv/flat");
  EXPECT_TRUE(f.Monitored("/srv/flat/sub"));
  EXPECT_FALSE(f.Monitored("/srv/flat/sub/deep"));
  EXPECT_TRUE(f.Monitored("/srv/other/deep/file"));
}

TEST(PathFilter, FileSystemRootCoversEverything) {
  PathFilter f({Root("/", {"proc/**", "*.tmp"})});
  EXPECT_TRUE(f.Monitored("/etc/passwd"));
  EXPECT_FALSE(f.Monitored("/proc/1/status"));
  EXPECT_FALSE(f.Monitored("/proc"));
  EXPECT_FALSE(f.Monitored("/var/x.tmp"));
  EXPECT_TRUE(f.Monitored("/"));
}

TEST(PathFilter, IsUnderRequiresAComponentBoundary) {
  EXPECT_TRUE(IsUnder("/a/b", "/a"));
  EXPECT_TRUE(IsUnder("/a", "/a"));
  EXPECT_FALSE(IsUnder("/ab", "/a"));
  EXPECT_FALSE(IsUnder("/a", "/a/b"));
  EXPECT_TRUE(IsUnder("/anything", "/"));
}

}  // namespace
}  // namespace ward::watch

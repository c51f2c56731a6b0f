#include "agent/modules/integrity/compare.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/modules/integrity/events.h"
#include "testing/fake_clock.h"

namespace ward::agent::integrity {
namespace {

Sha256Digest Digest(uint8_t seed) {
  Sha256Digest d{};
  d.fill(seed);
  return d;
}

FileRecord File(std::string path, uint64_t inode, uint8_t content = 1) {
  FileRecord r;
  r.path = std::move(path);
  r.type = FileType::kRegular;
  r.size = 10;
  r.mode = 0644;
  r.uid = 0;
  r.gid = 0;
  r.mtime_ns = 1'000;
  r.ctime_ns = 1'000;
  r.inode = inode;
  r.dev = 7;
  r.has_sha256 = true;
  r.sha256 = Digest(content);
  return r;
}

FileRecord Dir(std::string path, uint64_t inode) {
  FileRecord r;
  r.path = std::move(path);
  r.type = FileType::kDirectory;
  r.mode = 0755;
  r.mtime_ns = 1'000;
  r.inode = inode;
  r.dev = 7;
  return r;
}

// Sorts by path, as the callers do, and compares with the same attributes for every path.
std::vector<Change> Compare(std::vector<FileRecord>& before, std::vector<FileRecord>& after,
                            uint32_t attrs = kDefaultAttrs) {
  auto by_path = [](const FileRecord& a, const FileRecord& b) { return a.path < b.path; };
  std::sort(before.begin(), before.end(), by_path);
  std::sort(after.begin(), after.end(), by_path);
  std::vector<const FileRecord*> b, a;
  for (const auto& r : before) b.push_back(&r);
  for (const auto& r : after) a.push_back(&r);
  return CompareRecords(b, a, [attrs](const std::string&) { return attrs; });
}

std::string PathOf(const Change& c) { return c.after ? c.after->path : c.before->path; }

TEST(IntegrityCompare, IdenticalRecordsGiveNoChanges) {
  std::vector<FileRecord> before = {Dir("/r", 1), File("/r/a", 2), File("/r/b", 3)};
  std::vector<FileRecord> after = before;
  EXPECT_TRUE(Compare(before, after).empty());
}

TEST(IntegrityCompare, ReportsCreatedDeletedAndModified) {
  std::vector<FileRecord> before = {File("/r/gone", 2), File("/r/same", 3), File("/r/edit", 4, 1)};
  std::vector<FileRecord> after = {File("/r/same", 3), File("/r/edit", 4, 2), File("/r/new", 5)};
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 3u);
  // Sorted by path.
  EXPECT_EQ(PathOf(changes[0]), "/r/edit");
  EXPECT_EQ(changes[0].kind, ChangeKind::kModified);
  EXPECT_EQ(changes[0].changed, static_cast<uint32_t>(kAttrSha256));
  ASSERT_TRUE(changes[0].before && changes[0].after);
  EXPECT_EQ(changes[0].before->sha256, Digest(1));
  EXPECT_EQ(changes[0].after->sha256, Digest(2));

  EXPECT_EQ(PathOf(changes[1]), "/r/gone");
  EXPECT_EQ(changes[1].kind, ChangeKind::kDeleted);
  EXPECT_TRUE(changes[1].before.has_value());
  EXPECT_FALSE(changes[1].after.has_value());

  EXPECT_EQ(PathOf(changes[2]), "/r/new");
  EXPECT_EQ(changes[2].kind, ChangeKind::kCreated);
  EXPECT_FALSE(changes[2].before.has_value());
  EXPECT_TRUE(changes[2].after.has_value());
}

TEST(IntegrityCompare, EachDifferingAttributeIsReported) {
  FileRecord a = File("/r/f", 2);
  struct Case {
    uint32_t attr;
    void (*mutate)(FileRecord&);
  };
  const Case cases[] = {
      {kAttrSha256, [](FileRecord& r) { r.sha256 = Digest(9); }},
      {kAttrSize, [](FileRecord& r) { r.size = 11; }},
      {kAttrMode, [](FileRecord& r) { r.mode = 0600; }},
      {kAttrOwner, [](FileRecord& r) { r.uid = 1234; }},
      {kAttrGroup, [](FileRecord& r) { r.gid = 1234; }},
      {kAttrMtime, [](FileRecord& r) { r.mtime_ns = 2'000; }},
  };
  for (const auto& c : cases) {
    FileRecord b = a;
    c.mutate(b);
    EXPECT_EQ(ChangedAttrs(a, b, kDefaultAttrs), c.attr);
    EXPECT_EQ(ChangedAttrs(a, b, kDefaultAttrs & ~c.attr), 0u);
  }
  FileRecord moved = a;
  moved.inode = 99;
  EXPECT_EQ(ChangedAttrs(a, moved, kDefaultAttrs), 0u) << "inode is not a default attribute";
  EXPECT_EQ(ChangedAttrs(a, moved, kDefaultAttrs | kAttrInode), static_cast<uint32_t>(kAttrInode));
  FileRecord touched = a;
  touched.ctime_ns = 5'000;
  EXPECT_EQ(ChangedAttrs(a, touched, 0xFFFFFFFFu), 0u) << "ctime is never compared";
}

TEST(IntegrityCompare, RenamePairsByInodeIntoOneChange) {
  std::vector<FileRecord> before = {Dir("/r", 1), File("/r/old.txt", 42)};
  std::vector<FileRecord> after = {Dir("/r", 1), File("/r/sub/new.txt", 42)};
  after[0].mtime_ns = 9'999;  // the directory's mtime moved: not a change
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 1u);
  const Change& c = changes[0];
  EXPECT_EQ(c.kind, ChangeKind::kRenamed);
  ASSERT_TRUE(c.before && c.after);
  EXPECT_EQ(c.before->path, "/r/old.txt");
  EXPECT_EQ(c.after->path, "/r/sub/new.txt");
  EXPECT_EQ(c.changed, 0u);
}

TEST(IntegrityCompare, RenameThatAlsoChangedModeListsTheMode) {
  std::vector<FileRecord> before = {File("/r/a", 42)};
  std::vector<FileRecord> after = {File("/r/b", 42)};
  after[0].mode = 0600;
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kRenamed);
  EXPECT_EQ(changes[0].changed, static_cast<uint32_t>(kAttrMode));
}

TEST(IntegrityCompare, ReusedInodeWithOtherContentIsNotARename) {
  std::vector<FileRecord> before = {File("/r/a", 42, 1)};
  std::vector<FileRecord> after = {File("/r/b", 42, 2)};
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kDeleted);
  EXPECT_EQ(changes[1].kind, ChangeKind::kCreated);
}

TEST(IntegrityCompare, SameInodeOnAnotherDeviceIsNotARename) {
  std::vector<FileRecord> before = {File("/r/a", 42)};
  std::vector<FileRecord> after = {File("/r/b", 42)};
  after[0].dev = 8;
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kDeleted);
  EXPECT_EQ(changes[1].kind, ChangeKind::kCreated);
}

TEST(IntegrityCompare, SameInodeOfAnotherTypeIsNotARename) {
  std::vector<FileRecord> before = {File("/r/a", 42)};
  std::vector<FileRecord> after = {Dir("/r/b", 42)};
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kDeleted);
  EXPECT_EQ(changes[1].kind, ChangeKind::kCreated);
}

TEST(IntegrityCompare, HardLinksWithTwoCandidatesStayDeleteAndCreate) {
  {
    // One name gone, two new names for the same inode: which one is "the" rename is unknowable.
    std::vector<FileRecord> before = {File("/r/a", 42)};
    std::vector<FileRecord> after = {File("/r/b", 42), File("/r/c", 42)};
    auto changes = Compare(before, after);
    ASSERT_EQ(changes.size(), 3u);
    EXPECT_EQ(changes[0].kind, ChangeKind::kDeleted);
    EXPECT_EQ(changes[1].kind, ChangeKind::kCreated);
    EXPECT_EQ(changes[2].kind, ChangeKind::kCreated);
  }
  {
    std::vector<FileRecord> before = {File("/r/a", 42), File("/r/b", 42)};
    std::vector<FileRecord> after = {File("/r/c", 42)};
    auto changes = Compare(before, after);
    ASSERT_EQ(changes.size(), 3u);
    EXPECT_EQ(changes[0].kind, ChangeKind::kDeleted);
    EXPECT_EQ(changes[1].kind, ChangeKind::kDeleted);
    EXPECT_EQ(changes[2].kind, ChangeKind::kCreated);
  }
}

TEST(IntegrityCompare, OnlyConfiguredAttributesAreComparedAndListed) {
  const uint32_t attrs = kAttrSha256 | kAttrMode;
  std::vector<FileRecord> before = {File("/r/quiet", 2), File("/r/loud", 3)};
  std::vector<FileRecord> after = before;
  for (auto& r : after) {
    r.uid = 1234;
    r.gid = 1234;
    r.mtime_ns = 5'000;
    r.size = 99;
  }
  after[1].mode = 0600;  // /r/loud
  auto changes = Compare(before, after, attrs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(PathOf(changes[0]), "/r/loud");
  EXPECT_EQ(changes[0].changed, static_cast<uint32_t>(kAttrMode));
  EXPECT_EQ(changes[0].attrs, attrs);

  ward::test::FakeClock clock;
  Event e = ChangeEvent(clock, changes[0], "scheduled");
  EXPECT_EQ(e.Get("integrity.changed_attributes"), nlohmann::json::array({"mode"}));
  EXPECT_EQ(e.Get("integrity.before"), (nlohmann::json{{"mode", "0644"}}));
  EXPECT_EQ(e.Get("integrity.after"), (nlohmann::json{{"mode", "0600"}}));
  EXPECT_FALSE(e.Has("file.uid")) << "owner is not configured";
  EXPECT_FALSE(e.Has("file.size")) << "size is not configured";
  EXPECT_FALSE(e.Has("file.mtime")) << "mtime is not configured";
  EXPECT_TRUE(e.Has("file.hash.sha256"));
}

TEST(IntegrityCompare, AttributesComeFromThePathsOwnRoot) {
  std::vector<FileRecord> before = {File("/r/a", 2), File("/s/b", 3)};
  std::vector<FileRecord> after = before;
  for (auto& r : after) r.mode = 0600;
  std::vector<const FileRecord*> b, a;
  for (const auto& r : before) b.push_back(&r);
  for (const auto& r : after) a.push_back(&r);
  auto changes = CompareRecords(b, a, [](const std::string& p) {
    return p.rfind("/s/", 0) == 0 ? static_cast<uint32_t>(kAttrSha256) : kDefaultAttrs;
  });
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(PathOf(changes[0]), "/r/a");
}

TEST(IntegrityCompare, DirectoryMtimeAndSizeChangesAreNotReported) {
  std::vector<FileRecord> before = {Dir("/r", 1), Dir("/r/d", 2)};
  std::vector<FileRecord> after = before;
  for (auto& r : after) {
    r.mtime_ns += 1'000'000;
    r.size = 4096;
  }
  EXPECT_TRUE(Compare(before, after).empty());
  after[1].mode = 0700;
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 1u) << "other attributes of a directory still count";
  EXPECT_EQ(changes[0].changed, static_cast<uint32_t>(kAttrMode));
}

TEST(IntegrityCompare, FileBecomingADirectoryIsATypeChangeNotAContentChange) {
  std::vector<FileRecord> before = {File("/r/x", 2)};
  std::vector<FileRecord> after = {Dir("/r/x", 2)};
  after[0].mode = 0644;
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kModified);
  EXPECT_EQ(changes[0].changed, static_cast<uint32_t>(kAttrType));

  ward::test::FakeClock clock;
  Event e = ChangeEvent(clock, changes[0], "scheduled");
  EXPECT_EQ(e.GetString("event.action"), "type_changed");
  EXPECT_EQ(e.GetString("file.type"), "dir");
}

TEST(IntegrityCompare, SymlinkRetargetIsATargetChange) {
  FileRecord l;
  l.path = "/r/l";
  l.type = FileType::kSymlink;
  l.target = "one";
  l.inode = 5;
  std::vector<FileRecord> before = {l};
  l.target = "two";
  std::vector<FileRecord> after = {l};
  auto changes = Compare(before, after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].changed, static_cast<uint32_t>(kAttrTarget));
}

TEST(IntegrityCompare, UnreadableSideDoesNotReportAContentChange) {
  std::vector<FileRecord> before = {File("/r/a", 2, 1)};
  std::vector<FileRecord> after = before;
  after[0].has_sha256 = false;
  after[0].sha256 = {};
  after[0].unreadable = true;
  EXPECT_TRUE(Compare(before, after).empty());
}

}  // namespace
}  // namespace ward::agent::integrity

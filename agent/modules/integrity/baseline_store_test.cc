#include "agent/modules/integrity/baseline_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "testing/temp_dir.h"

namespace ward::agent::integrity {
namespace {

using ward::test::TempDir;

Sha256Digest Digest(uint8_t seed) {
  Sha256Digest d{};
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(seed * 31 + i);
  return d;
}

FileRecord File(std::string path, uint8_t seed) {
  FileRecord r;
  r.path = std::move(path);
  r.type = FileType::kRegular;
  r.size = 100u + seed;
  r.mode = 0644;
  r.uid = 1000;
  r.gid = 1000;
  r.mtime_ns = 1'700'000'000'123'456'789 + seed;
  r.ctime_ns = 1'700'000'001'000'000'000 + seed;
  r.inode = 5000u + seed;
  r.dev = 2049;
  r.has_sha256 = true;
  r.sha256 = Digest(seed);
  return r;
}

// Records exercising every column, including bytes that are not UTF-8 and extreme values.
std::vector<FileRecord> VariedRecords() {
  std::vector<FileRecord> v;
  FileRecord dir;
  dir.path = "/r";
  dir.type = FileType::kDirectory;
  dir.mode = 0755;
  dir.mtime_ns = -5;  // before 1970
  dir.inode = std::numeric_limits<uint64_t>::max() - 1;
  dir.dev = std::numeric_limits<uint64_t>::max();
  v.push_back(dir);
  v.push_back(File("/r/a.txt", 1));
  FileRecord odd = File(std::string("/r/caf\xe9\xff\n\0x", 11), 2);
  odd.size = (1ull << 40) + 3;
  odd.mode = 04755;
  odd.uid = 4'000'000'000u;
  odd.gid = 65534;
  v.push_back(odd);
  FileRecord link;
  link.path = "/r/link";
  link.type = FileType::kSymlink;
  link.size = 9;
  link.mode = 0777;
  link.target = std::string(
      "tar\xfe"
      "get",
      7);
  link.inode = 77;
  v.push_back(link);
  FileRecord flags = File("/r/unstable", 3);
  flags.hash_unstable = true;
  v.push_back(flags);
  FileRecord unreadable = File("/r/unreadable", 4);
  unreadable.has_sha256 = false;
  unreadable.sha256 = {};
  unreadable.unreadable = true;
  v.push_back(unreadable);
  FileRecord fifo;
  fifo.path = "/r/pipe";
  fifo.type = FileType::kFifo;
  fifo.mode = 0600;
  v.push_back(fifo);
  return v;
}

RecordSet ToSet(const std::vector<FileRecord>& v) { return RecordSet(v.begin(), v.end()); }

void ErasePathForTest(RecordSet& set, const std::string& path) {
  if (auto it = set.find(path); it != set.end()) set.erase(it);
}

// Direct access to the database, as another process (or an attacker) would have.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& state_dir) {
    std::string p = (state_dir / "state.db").string();
    EXPECT_EQ(sqlite3_open_v2(p.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db_, 10'000);
  }
  ~RawDb() { sqlite3_close(db_); }

  // Runs one statement with an optional blob for ?1 and ?2; returns sqlite3_changes().
  int Run(const std::string& sql, std::optional<std::string> b1 = std::nullopt,
          std::optional<std::string> b2 = std::nullopt) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    if (b1) sqlite3_bind_blob(st, 1, b1->data(), static_cast<int>(b1->size()), SQLITE_TRANSIENT);
    if (b2) sqlite3_bind_blob(st, 2, b2->data(), static_cast<int>(b2->size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    EXPECT_EQ(rc, SQLITE_DONE) << sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    return sqlite3_changes(db_);
  }

  // The integer a one-row query gives.
  int64_t Count(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW) << sqlite3_errmsg(db_);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string DigestBytes(const Sha256Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

TEST(BaselineStore, FreshStoreHasNoBaseline) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_FALSE(b->exists);
  EXPECT_TRUE(b->records.empty());
  EXPECT_TRUE(b->tampered_rows.empty());
  EXPECT_TRUE(b->set_intact);
}

TEST(BaselineStore, ReplaceThenLoadRoundTripsRecordsExactly) {
  TempDir state;
  auto records = VariedRecords();
  {
    auto store = BaselineStore::Open(state.path());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_TRUE((*store)->Replace(records, {"/r", "/s"}, 1'234'567'890).ok());
  }
  // A new connection (as after a restart) sees exactly the same.
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_TRUE(b->exists);
  EXPECT_TRUE(b->set_intact);
  EXPECT_TRUE(b->tampered_rows.empty());
  EXPECT_EQ(b->roots, (std::vector<std::string>{"/r", "/s"}));
  EXPECT_EQ(b->recorded_at_ns, 1'234'567'890);
  ASSERT_EQ(b->records.size(), records.size());
  for (const auto& r : records) {
    auto it = b->records.find(r.path);
    ASSERT_NE(it, b->records.end()) << r.path;
    EXPECT_EQ(*it, r) << r.path;
  }
}

TEST(BaselineStore, ReplaceRemovesEveryOldRowAndKeepsEveryNewOne) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  std::vector<FileRecord> old_set = {File("/r/a", 1), File("/r/b", 2), File("/r/c", 3)};
  std::vector<FileRecord> new_set = {File("/r/b", 9), File("/r/d", 4)};
  ASSERT_TRUE((*store)->Replace(old_set, {"/r"}, 1).ok());
  ASSERT_TRUE((*store)->Replace(new_set, {"/r", "/q"}, 2).ok());
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->records, ToSet(new_set));
  EXPECT_EQ(b->roots, (std::vector<std::string>{"/r", "/q"}));
  EXPECT_EQ(b->recorded_at_ns, 2);
  EXPECT_TRUE(b->set_intact);
}

TEST(BaselineStore, ReplaceThatFailsMidwayLeavesThePreviousBaseline) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  std::vector<FileRecord> old_set = {File("/r/a", 1), File("/r/b", 2)};
  ASSERT_TRUE((*store)->Replace(old_set, {"/r"}, 1).ok());
  {
    // Make the last step of the next Replace fail: after its rows were written and the old rows
    // dropped, when the authenticated summary is written.
    RawDb raw(state.path());
    raw.Run(
        "CREATE TRIGGER fail_summary BEFORE INSERT ON integrity_meta "
        "WHEN NEW.key = 'aggregate' BEGIN SELECT RAISE(ABORT, 'injected'); END");
  }
  std::vector<FileRecord> new_set = {File("/r/x", 3), File("/r/y", 4), File("/r/z", 5)};
  Status s = (*store)->Replace(new_set, {"/r"}, 2);
  ASSERT_FALSE(s.ok()) << "the injected failure did not happen";

  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_EQ(b->records, ToSet(old_set));
  EXPECT_TRUE(b->set_intact);
  EXPECT_TRUE(b->tampered_rows.empty());
  EXPECT_EQ(b->recorded_at_ns, 1);

  // Another connection sees the old baseline too, and the store keeps working afterwards.
  {
    RawDb raw(state.path());
    raw.Run("DROP TRIGGER fail_summary");
  }
  auto reopened = BaselineStore::Open(state.path());
  ASSERT_TRUE(reopened.has_value());
  auto b2 = (*reopened)->Load();
  ASSERT_TRUE(b2.has_value());
  EXPECT_EQ(b2->records, ToSet(old_set));
  ASSERT_TRUE((*store)->Replace(new_set, {"/r"}, 3).ok());
  auto b3 = (*reopened)->Load();
  ASSERT_TRUE(b3.has_value());
  EXPECT_EQ(b3->records, ToSet(new_set));
  EXPECT_TRUE(b3->set_intact);
}

std::vector<const FileRecord*> Rows(const std::vector<FileRecord>& v) {
  std::vector<const FileRecord*> out;
  for (const auto& r : v) out.push_back(&r);
  return out;
}

TEST(BaselineStore, ReplacementInStepsEqualsOneReplace) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE((*store)->Replace({File("/r/old", 9)}, {"/r"}, 1).ok());
  std::vector<FileRecord> most = {File("/r/a", 1), File("/r/b", 2), File("/r/d", 4)};
  std::vector<FileRecord> rest = {File("/r/e", 5), File("/r/c", 3)};  // later, and unsorted
  {
    auto replacement = (*store)->BeginReplace();
    ASSERT_TRUE(replacement.has_value()) << replacement.error().ToString();
    ASSERT_TRUE((*replacement)->Add(Rows(most)).ok());
    ASSERT_TRUE((*replacement)->Add({}).ok());
    ASSERT_TRUE((*replacement)->Add(Rows(rest)).ok());
    ASSERT_TRUE((*replacement)->Commit({"/r", "/s"}, 7).ok());
  }
  auto reopened = BaselineStore::Open(state.path());
  ASSERT_TRUE(reopened.has_value());
  auto b = (*reopened)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->set_intact);
  EXPECT_TRUE(b->tampered_rows.empty());
  EXPECT_EQ(b->recorded_at_ns, 7);
  EXPECT_EQ(b->roots, (std::vector<std::string>{"/r", "/s"}));
  EXPECT_EQ(b->records, ToSet({File("/r/a", 1), File("/r/b", 2), File("/r/c", 3), File("/r/d", 4),
                               File("/r/e", 5)}));
  // And the store goes on working: another replacement, and incremental changes.
  ASSERT_TRUE((*reopened)->Replace({File("/r/x", 8)}, {"/r"}, 8).ok());
  ASSERT_TRUE((*reopened)->Apply({File("/r/y", 6)}, {}).ok());
  auto b2 = (*reopened)->Load();
  ASSERT_TRUE(b2.has_value());
  EXPECT_TRUE(b2->set_intact);
  EXPECT_EQ(b2->records, ToSet({File("/r/x", 8), File("/r/y", 6)}));
}

TEST(BaselineStore, ReplacementNotCommittedLeavesTheBaselineAsItWas) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  std::vector<FileRecord> old_set = {File("/r/a", 1), File("/r/b", 2)};
  ASSERT_TRUE((*store)->Replace(old_set, {"/r"}, 1).ok());
  std::vector<FileRecord> new_set = {File("/r/x", 3), File("/r/y", 4)};
  {
    auto replacement = (*store)->BeginReplace();
    ASSERT_TRUE(replacement.has_value());
    ASSERT_TRUE((*replacement)->Add(Rows(new_set)).ok());
    // Rows added hold no lock once added: another process can write meanwhile, and readers
    // still see the old baseline.
    RawDb raw(state.path());
    raw.Run("BEGIN IMMEDIATE");
    raw.Run("COMMIT");
    auto other = BaselineStore::Open(state.path());
    ASSERT_TRUE(other.has_value());
    auto seen = (*other)->Load();
    ASSERT_TRUE(seen.has_value());
    EXPECT_EQ(seen->records, ToSet(old_set));
  }
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->records, ToSet(old_set));
  EXPECT_TRUE(b->set_intact);
  EXPECT_EQ(b->recorded_at_ns, 1);
  ASSERT_TRUE((*store)->Replace(new_set, {"/r"}, 2).ok());
  auto b2 = (*store)->Load();
  ASSERT_TRUE(b2.has_value());
  EXPECT_EQ(b2->records, ToSet(new_set));
}

TEST(BaselineStore, ReplaceThatFailsWritingRowsLeavesThePreviousBaselineAndNoTable) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  std::vector<FileRecord> old_set = {File("/r/a", 1), File("/r/b", 2)};
  ASSERT_TRUE((*store)->Replace(old_set, {"/r"}, 1).ok());
  // The same path twice cannot be written.
  EXPECT_FALSE((*store)->Replace({File("/r/x", 3), File("/r/x", 4)}, {"/r"}, 2).ok());
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->records, ToSet(old_set));
  EXPECT_TRUE(b->set_intact);
  RawDb raw(state.path());
  EXPECT_EQ(raw.Count("SELECT count(*) FROM sqlite_schema WHERE type = 'table'"), 2)
      << "only the baseline and its summary";
}

TEST(BaselineStore, ReplaceDropsTablesLeftByACrashedReplacement) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  {
    RawDb raw(state.path());
    raw.Run("CREATE TABLE integrity_baseline_next_0123456789abcdef(path BLOB PRIMARY KEY)");
    raw.Run("INSERT INTO integrity_baseline_next_0123456789abcdef VALUES (x'00')");
  }
  ASSERT_TRUE((*store)->Replace({File("/r/a", 1)}, {"/r"}, 1).ok());
  RawDb raw(state.path());
  EXPECT_EQ(raw.Count("SELECT count(*) FROM sqlite_schema WHERE name GLOB 'integrity_baseline_*'"),
            0);
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->records, ToSet({File("/r/a", 1)}));
}

TEST(BaselineStore, LoadCanStreamRowsInPathOrderWithoutKeepingThem) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  auto records = VariedRecords();
  ASSERT_TRUE((*store)->Replace(records, {"/r"}, 1).ok());
  {
    RawDb raw(state.path());
    EXPECT_EQ(
        raw.Run("UPDATE integrity_baseline SET size = 1 WHERE path = ?1", std::string("/r/a.txt")),
        1);
  }
  std::vector<FileRecord> streamed;
  auto b = (*store)->Load([&](FileRecord&& r) { streamed.push_back(std::move(r)); });
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->records.empty());
  EXPECT_EQ(b->tampered_rows, std::vector<std::string>{"/r/a.txt"}) << "still verified";
  EXPECT_TRUE(std::is_sorted(streamed.begin(), streamed.end(), ByPath()));
  auto expect = ToSet(records);
  ErasePathForTest(expect, "/r/a.txt");
  EXPECT_EQ(RecordSet(streamed.begin(), streamed.end()), expect);
}

TEST(BaselineStore, EditedSha256IsDetectedAndNamesThePath) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  auto records = VariedRecords();
  ASSERT_TRUE((*store)->Replace(records, {"/r"}, 1).ok());
  {
    RawDb raw(state.path());
    EXPECT_EQ(raw.Run("UPDATE integrity_baseline SET sha256 = ?1 WHERE path = ?2",
                      DigestBytes(Digest(99)), std::string("/r/a.txt")),
              1);
  }
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->tampered_rows, std::vector<std::string>{"/r/a.txt"});
  EXPECT_EQ(b->records.count("/r/a.txt"), 0u) << "an entry that fails verification is not trusted";
  EXPECT_EQ(b->records.size(), records.size() - 1);
}

TEST(BaselineStore, EditedMetadataColumnIsDetected) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  auto records = VariedRecords();
  ASSERT_TRUE((*store)->Replace(records, {"/r"}, 1).ok());
  const std::string odd = records[2].path;
  {
    RawDb raw(state.path());
    EXPECT_EQ(raw.Run("UPDATE integrity_baseline SET mode = 420 WHERE path = ?1", odd), 1);
    EXPECT_EQ(raw.Run("UPDATE integrity_baseline SET target = CAST('elsewhere' AS BLOB) "
                      "WHERE path = ?1",
                      std::string("/r/link")),
              1);
    EXPECT_EQ(raw.Run("UPDATE integrity_baseline SET flags = 0 WHERE path = ?1",
                      std::string("/r/unreadable")),
              1);
  }
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  std::vector<std::string> tampered = b->tampered_rows;
  std::sort(tampered.begin(), tampered.end());
  EXPECT_EQ(tampered, (std::vector<std::string>{odd, "/r/link", "/r/unreadable"}));
}

TEST(BaselineStore, DeletedRowBreaksTheSetIntegrity) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE((*store)->Replace(VariedRecords(), {"/r"}, 1).ok());
  {
    RawDb raw(state.path());
    EXPECT_EQ(raw.Run("DELETE FROM integrity_baseline WHERE path = ?1", std::string("/r/a.txt")),
              1);
  }
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->set_intact);
  EXPECT_TRUE(b->tampered_rows.empty()) << "the remaining rows are each still authentic";
}

TEST(BaselineStore, CopiedRowUnderAnotherPathIsDetected) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE((*store)->Replace(VariedRecords(), {"/r"}, 1).ok());
  {
    RawDb raw(state.path());
    EXPECT_EQ(raw.Run("INSERT INTO integrity_baseline SELECT CAST('/r/evil' AS BLOB), type, size, "
                      "mode, uid, gid, mtime_ns, ctime_ns, inode, dev, sha256, target, flags, mac "
                      "FROM integrity_baseline WHERE path = ?1",
                      std::string("/r/a.txt")),
              1);
  }
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->tampered_rows, std::vector<std::string>{"/r/evil"});
  EXPECT_FALSE(b->set_intact);
}

TEST(BaselineStore, EditedRootListIsDetected) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE((*store)->Replace({File("/r/a", 1)}, {"/r", "/etc"}, 1).ok());
  {
    RawDb raw(state.path());
    EXPECT_EQ(raw.Run("UPDATE integrity_meta SET value = CAST('[\"/r\"]' AS BLOB) WHERE key = "
                      "'roots'"),
              1);
  }
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->set_intact);
}

TEST(BaselineStore, RowsDoNotVerifyUnderAnotherKey) {
  TempDir state;
  {
    auto store = BaselineStore::Open(state.path());
    ASSERT_TRUE(store.has_value());
    ASSERT_TRUE((*store)->Replace({File("/r/a", 1), File("/r/b", 2)}, {"/r"}, 1).ok());
  }
  std::filesystem::remove(state.path() / "keys" / "integrity.key");
  auto store = BaselineStore::Open(state.path());  // creates a new key
  ASSERT_TRUE(store.has_value());
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->tampered_rows.size(), 2u);
  EXPECT_TRUE(b->records.empty());
  EXPECT_FALSE(b->set_intact);
}

TEST(BaselineStore, ApplyUpsertsAndDeletesKeepVerificationIntact) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  std::vector<FileRecord> initial = {File("/r/a", 1), File("/r/b", 2), File("/r/c", 3)};
  ASSERT_TRUE((*store)->Replace(initial, {"/r"}, 1).ok());

  FileRecord b_changed = File("/r/b", 20);
  FileRecord d_new = File("/r/d", 4);
  ASSERT_TRUE((*store)->Apply({b_changed, d_new}, {"/r/a", "/r/not-there"}, {"/s"}).ok());
  ASSERT_TRUE((*store)->Apply({File("/s/e", 5)}, {}).ok());
  ASSERT_TRUE((*store)->Apply({}, {"/r/c"}).ok());

  auto reopened = BaselineStore::Open(state.path());
  ASSERT_TRUE(reopened.has_value());
  auto b = (*reopened)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->set_intact);
  EXPECT_TRUE(b->tampered_rows.empty());
  EXPECT_EQ(b->records, ToSet({b_changed, d_new, File("/s/e", 5)}));
  EXPECT_EQ(b->roots, (std::vector<std::string>{"/r", "/s"}));
}

TEST(BaselineStore, ApplyThatFailsMidwayChangesNothing) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  std::vector<FileRecord> initial = {File("/r/a", 1), File("/r/b", 2)};
  ASSERT_TRUE((*store)->Replace(initial, {"/r"}, 1).ok());
  {
    RawDb raw(state.path());
    raw.Run(
        "CREATE TRIGGER fail_insert BEFORE INSERT ON integrity_baseline "
        "WHEN NEW.path = CAST('/r/z' AS BLOB) BEGIN SELECT RAISE(ABORT, 'injected'); END");
  }
  ASSERT_FALSE((*store)->Apply({File("/r/a", 7), File("/r/z", 8)}, {"/r/b"}, {"/q"}).ok());
  auto b = (*store)->Load();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->records, ToSet(initial));
  EXPECT_TRUE(b->set_intact);
  EXPECT_EQ(b->roots, std::vector<std::string>{"/r"});
}

TEST(BaselineStore, KeyIsPrivateAndStable) {
  TempDir state;
  auto store = BaselineStore::Open(state.path());
  ASSERT_TRUE(store.has_value());
  struct stat st {};
  const auto keys = state.path() / "keys";
  ASSERT_EQ(::lstat(keys.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  const auto key_file = keys / "integrity.key";
  ASSERT_EQ(::lstat(key_file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_EQ(::lstat((state.path() / "state.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "the database is not readable by others";

  auto k1 = LoadOrCreateKey(state.path(), "integrity");
  auto k2 = LoadOrCreateKey(state.path(), "integrity");
  ASSERT_TRUE(k1.has_value());
  ASSERT_TRUE(k2.has_value());
  EXPECT_EQ(*k1, *k2);
  EXPECT_EQ(k1->size(), 32u);
  auto other = LoadOrCreateKey(state.path(), "other");
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(*other, *k1);
}

TEST(BaselineStore, DamagedKeyIsDataLoss) {
  TempDir state;
  ward::test::WriteFile((state.path() / "keys" / "integrity.key").string(), "short");
  auto key = LoadOrCreateKey(state.path(), "integrity");
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code(), StatusCode::kDataLoss);
  auto store = BaselineStore::Open(state.path());
  EXPECT_FALSE(store.has_value());
}

}  // namespace
}  // namespace ward::agent::integrity

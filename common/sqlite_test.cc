#include "common/sqlite.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "testing/temp_dir.h"

namespace ward {
namespace {

using namespace std::string_literals;

std::unique_ptr<SqliteDb> OpenOrDie(const std::string& path) {
  auto db = SqliteDb::Open(path);
  EXPECT_TRUE(db.has_value()) << db.error().ToString();
  return db.has_value() ? std::move(db).value() : nullptr;
}

int64_t CountRows(SqliteDb& db, const std::string& table) {
  auto st = db.Prepare("SELECT COUNT(*) FROM " + table);
  EXPECT_TRUE(st.has_value());
  if (!st.has_value()) return -1;
  auto row = st->Step();
  EXPECT_TRUE(row.has_value() && *row);
  return st->ColumnInt(0);
}

TEST(SqliteDb, OpensInWalMode) {
  test::TempDir dir;
  auto db = OpenOrDie(dir.Sub("state.db"));
  ASSERT_NE(db, nullptr);
  auto st = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(st.has_value());
  auto row = st->Step();
  ASSERT_TRUE(row.has_value());
  ASSERT_TRUE(*row);
  EXPECT_EQ(st->ColumnText(0), "wal");
}

// Issue #13: databases hold agent state; created 0600 (and their -wal/-shm with them), whatever
// the umask.
TEST(SqliteDb, CreatesTheDatabaseAndItsWalAndShm0600WhateverTheUmask) {
  test::TempDir dir;
  mode_t old = ::umask(0);
  auto db = OpenOrDie(dir.Sub("state.db"));
  ::umask(old);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)").ok());
  for (const char* name : {"state.db", "state.db-wal", "state.db-shm"}) {
    struct stat st {};
    ASSERT_EQ(::stat(dir.Sub(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
}

TEST(SqliteDb, CreatesTheFileAndDataPersistsAcrossConnections) {
  test::TempDir dir;
  const std::string path = dir.Sub("state.db");
  {
    auto db = OpenOrDie(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Exec("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)").ok());
    auto ins = db->Prepare("INSERT INTO t VALUES(?, ?)");
    ASSERT_TRUE(ins.has_value());
    ASSERT_TRUE(ins->Bind(1, std::string_view("a")).Bind(2, int64_t{1}).Run().ok());
    ASSERT_TRUE(ins->Bind(1, std::string_view("b")).Bind(2, int64_t{2}).Run().ok());
    EXPECT_EQ(db->Changes(), 1);
  }
  struct stat sb {};
  ASSERT_EQ(::stat(path.c_str(), &sb), 0);
  auto db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  auto st = db->Prepare("SELECT v FROM t WHERE k = ?");
  ASSERT_TRUE(st.has_value());
  st->Bind(1, std::string_view("b"));
  auto row = st->Step();
  ASSERT_TRUE(row.has_value() && *row);
  EXPECT_EQ(st->ColumnInt(0), 2);
  row = st->Step();
  ASSERT_TRUE(row.has_value());
  EXPECT_FALSE(*row);
}

TEST(SqliteDb, OpenFailsForAPathInAMissingDirectory) {
  test::TempDir dir;
  auto db = SqliteDb::Open(dir.Sub("no/such/dir/state.db"));
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.error().message().find("no/such/dir/state.db"), std::string::npos)
      << db.error().message();
}

TEST(SqliteDb, ErrorsNameTheStatement) {
  test::TempDir dir;
  auto db = OpenOrDie(dir.Sub("state.db"));
  ASSERT_NE(db, nullptr);
  Status s = db->Exec("SELEC 1");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SELEC 1"), std::string::npos) << s.message();
  auto st = db->Prepare("SELECT * FROM missing_table");
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find("missing_table"), std::string::npos);
}

TEST(SqliteDb, ConstraintViolationIsAlreadyExists) {
  test::TempDir dir;
  auto db = OpenOrDie(dir.Sub("state.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t(k INTEGER PRIMARY KEY)").ok());
  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES(1)").ok());
  Status s = db->Exec("INSERT INTO t VALUES(1)");
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
}

TEST(SqliteTransaction, RollsBackOnDestructionWithoutCommit) {
  test::TempDir dir;
  auto db = OpenOrDie(dir.Sub("state.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t(v INTEGER)").ok());
  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES(1)").ok());
  {
    auto tx = SqliteTransaction::Begin(*db);
    ASSERT_TRUE(tx.has_value()) << tx.error().ToString();
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES(2)").ok());
    ASSERT_TRUE(db->Exec("DELETE FROM t WHERE v = 1").ok());
    EXPECT_EQ(CountRows(*db, "t"), 1);  // visible inside the transaction
  }
  EXPECT_EQ(CountRows(*db, "t"), 1);
  auto st = db->Prepare("SELECT v FROM t");
  ASSERT_TRUE(st.has_value());
  ASSERT_TRUE(st->Step().value());
  EXPECT_EQ(st->ColumnInt(0), 1);
  // The connection is usable for a new transaction afterwards (no dangling BEGIN).
  auto tx = SqliteTransaction::Begin(*db);
  ASSERT_TRUE(tx.has_value()) << tx.error().ToString();
}

TEST(SqliteTransaction, CommitKeepsTheChanges) {
  test::TempDir dir;
  const std::string path = dir.Sub("state.db");
  {
    auto db = OpenOrDie(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Exec("CREATE TABLE t(v INTEGER)").ok());
    auto tx = SqliteTransaction::Begin(*db);
    ASSERT_TRUE(tx.has_value());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES(1), (2), (3)").ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  auto db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(CountRows(*db, "t"), 3);
}

TEST(SqliteTransaction, BeginFailsWhileAnotherTransactionIsOpen) {
  test::TempDir dir;
  auto db = OpenOrDie(dir.Sub("state.db"));
  ASSERT_NE(db, nullptr);
  auto tx = SqliteTransaction::Begin(*db);
  ASSERT_TRUE(tx.has_value());
  auto nested = SqliteTransaction::Begin(*db);
  EXPECT_FALSE(nested.has_value());
}

TEST(SqliteStmt, BlobsRoundTripWithEmbeddedNuls) {
  test::TempDir dir;
  auto db = OpenOrDie(dir.Sub("state.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t(id INTEGER, b BLOB, s TEXT)").ok());
  std::string blob = "\0head\0\xFF\xFE\0tail\0"s;
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);

  auto ins = db->Prepare("INSERT INTO t VALUES(?, ?, ?)");
  ASSERT_TRUE(ins.has_value());
  ASSERT_TRUE(
      ins->Bind(1, int64_t{1}).BindBlob(2, blob).Bind(3, std::string_view("a\0b"s)).Run().ok());
  ASSERT_TRUE(ins->Bind(1, int64_t{2}).BindBlob(2, all).BindNull(3).Run().ok());

  auto sel = db->Prepare("SELECT b, s, length(b) FROM t ORDER BY id");
  ASSERT_TRUE(sel.has_value());
  ASSERT_TRUE(sel->Step().value());
  EXPECT_EQ(sel->ColumnBlob(0), blob);
  EXPECT_EQ(sel->ColumnBlob(0).size(), blob.size());
  EXPECT_EQ(sel->ColumnInt(2), static_cast<int64_t>(blob.size()));
  EXPECT_EQ(sel->ColumnText(1), "a\0b"s);
  EXPECT_FALSE(sel->ColumnIsNull(1));
  ASSERT_TRUE(sel->Step().value());
  EXPECT_EQ(sel->ColumnBlob(0), all);
  EXPECT_TRUE(sel->ColumnIsNull(1));
  EXPECT_FALSE(sel->Step().value());
}

TEST(SqliteStmt, ResetAllowsReuseWithNewBindings) {
  test::TempDir dir;
  auto db = OpenOrDie(dir.Sub("state.db"));
  ASSERT_NE(db, nullptr);
  auto st = db->Prepare("SELECT ? + 1");
  ASSERT_TRUE(st.has_value());
  for (int64_t i = 0; i < 3; ++i) {
    st->Bind(1, i);
    ASSERT_TRUE(st->Step().value());
    EXPECT_EQ(st->ColumnInt(0), i + 1);
    st->Reset();
  }
}

}  // namespace
}  // namespace ward

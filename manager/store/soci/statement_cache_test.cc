// StatementCache on real SQLite files: repeated statements are prepared once, the cache stays
// bounded, DDL clears it, a schema change by another connection is seen, nested and failing
// runs leave the cached statement reusable, and errors classify as SOCI's do.
#include "manager/store/soci/statement_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "manager/store/soci/binding.h"
#include "manager/store/soci/errors.h"
#include "testing/temp_dir.h"

namespace ward::manager::soci_backend {
namespace {

class StatementCacheTest : public ::testing::Test {
 protected:
  SessionPtr Open(size_t capacity = StatementCache::kDefaultCapacity) {
    SessionPtr s(new soci::session(soci::sqlite3, dir_.Sub("db.sqlite")));
    *s << "PRAGMA busy_timeout = 10000";
    AttachStatementCache(*s, capacity);
    return s;
  }
  static int OpenStatements(soci::session& s) {
    auto* db = static_cast<soci::sqlite3_session_backend*>(s.get_backend())->conn_;
    int n = 0;
    for (auto* st = sqlite_api::sqlite3_next_stmt(db, nullptr); st != nullptr;
         st = sqlite_api::sqlite3_next_stmt(db, st)) {
      ++n;
    }
    return n;
  }
  static long long Insert(soci::session& s, long long id, const std::string& name) {
    Params p;
    std::string q = "INSERT INTO t (id, name) VALUES (" + p.I(id) + ", " + p.S(name) + ")";
    return Exec(s, q, p);
  }
  static std::vector<std::string> Names(soci::session& s, long long min_id) {
    Params p;
    std::vector<std::string> out;
    Select(s, "SELECT name FROM t WHERE id >= " + p.I(min_id) + " ORDER BY id", p, "s",
           [&](const Row& r) { out.push_back(r.S(0)); });
    return out;
  }

  test::TempDir dir_;
};

TEST_F(StatementCacheTest, RepeatedStatementsArePreparedOnceWithTheirOwnValues) {
  SessionPtr s = Open();
  Params none;
  Exec(*s, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)", none);
  StatementCache* c = CacheFor(*s);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->size(), 0u);  // DDL is not cached
  for (int i = 1; i <= 50; ++i) EXPECT_EQ(Insert(*s, i, "n" + std::to_string(i)), 1);
  EXPECT_EQ(c->misses(), 1);
  EXPECT_EQ(c->hits(), 49);
  EXPECT_EQ(c->size(), 1u);
  EXPECT_EQ(Names(*s, 49), (std::vector<std::string>{"n49", "n50"}));
  EXPECT_EQ(Names(*s, 50), (std::vector<std::string>{"n50"}));
  EXPECT_EQ(c->size(), 2u);
  // Placeholders bound by their number, whatever order the values were created in; NULLs.
  Params p;
  std::string name = p.OptS(std::nullopt);
  std::string id = p.I(7);
  Exec(*s, "UPDATE t SET name = " + name + " WHERE id = " + id, p);
  Params q;
  std::string idq = q.I(7);
  std::optional<std::string> got = "x";
  Select(*s, "SELECT name, n FROM t WHERE id = " + idq, q, "si", [&](const Row& r) {
    got = r.OptS(0);
    EXPECT_FALSE(r.OptI(1).has_value());
  });
  EXPECT_FALSE(got.has_value());
}

TEST_F(StatementCacheTest, BoundedLeastRecentlyUsedGoesFirst) {
  SessionPtr s = Open(/*capacity=*/2);
  Params none;
  Exec(*s, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)", none);
  StatementCache* c = CacheFor(*s);
  Insert(*s, 1, "a");  // statement A
  Names(*s, 0);        // statement B
  Insert(*s, 2, "b");  // A again: hit, now most recent
  EXPECT_EQ(c->hits(), 1);
  Params p;
  EXPECT_EQ(SelectInt(*s, "SELECT COUNT(*) FROM t WHERE id > " + p.I(0), p, -1), 2);  // C: B goes
  EXPECT_EQ(c->size(), 2u);
  EXPECT_EQ(OpenStatements(*s), 2);
  Insert(*s, 3, "c");  // A still cached
  EXPECT_EQ(c->hits(), 2);
  EXPECT_EQ(Names(*s, 0), (std::vector<std::string>{"a", "b", "c"}));  // B prepared again
  EXPECT_EQ(c->misses(), 4);
}

TEST_F(StatementCacheTest, SchemaChangesClearOrReprepare) {
  SessionPtr s = Open();
  SessionPtr other = Open();
  Params none;
  Exec(*s, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)", none);
  Insert(*s, 1, "a");
  EXPECT_EQ(Names(*s, 1), (std::vector<std::string>{"a"}));
  EXPECT_EQ(OpenStatements(*s), 2);
  // DDL on this connection clears its cache.
  Exec(*s, "CREATE INDEX t_name ON t (name)", none);
  EXPECT_EQ(CacheFor(*s)->size(), 0u);
  EXPECT_EQ(OpenStatements(*s), 0);
  EXPECT_EQ(Names(*s, 1), (std::vector<std::string>{"a"}));
  // Another connection rebuilds the table with its columns in another order: the statement
  // cached here is re-prepared by SQLite and reads the right column.
  Exec(*other, "DROP TABLE t", none);
  Exec(*other, "CREATE TABLE t (n INTEGER, name TEXT, id INTEGER PRIMARY KEY)", none);
  Insert(*other, 1, "z");
  EXPECT_EQ(Names(*s, 1), (std::vector<std::string>{"z"}));
  EXPECT_EQ(CacheFor(*s)->hits(), 1);
}

TEST_F(StatementCacheTest, NestedAndInterruptedRunsLeaveTheStatementReusable) {
  SessionPtr s = Open();
  Params none;
  Exec(*s, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)", none);
  for (int i = 1; i <= 3; ++i) Insert(*s, i, "n" + std::to_string(i));
  // The same statement inside its own callback: the inner run gets a statement of its own.
  std::vector<std::string> outer, inner;
  Params p;
  Select(*s, "SELECT name FROM t WHERE id >= " + p.I(1) + " ORDER BY id", p, "s",
         [&](const Row& r) {
           outer.push_back(r.S(0));
           inner = Names(*s, 3);
         });
  EXPECT_EQ(outer, (std::vector<std::string>{"n1", "n2", "n3"}));
  EXPECT_EQ(inner, (std::vector<std::string>{"n3"}));
  // A callback that throws half-way: the statement is reset, the next run starts from row 1.
  struct Stop {};
  try {
    Params q;
    Select(*s, "SELECT name FROM t WHERE id >= " + q.I(1) + " ORDER BY id", q, "s",
           [&](const Row&) { throw Stop{}; });
    ADD_FAILURE() << "not thrown";
  } catch (const Stop&) {
  }
  EXPECT_EQ(Names(*s, 1), (std::vector<std::string>{"n1", "n2", "n3"}));
  // No read transaction was left open by the interrupted run: a write from another connection
  // and then this one's read see each other.
  SessionPtr other = Open();
  Insert(*other, 4, "n4");
  EXPECT_EQ(Names(*s, 4), (std::vector<std::string>{"n4"}));
}

TEST_F(StatementCacheTest, ErrorsClassifyAndTheStatementStaysUsable) {
  SessionPtr s = Open();
  Params none;
  Exec(*s, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER)", none);
  Insert(*s, 1, "a");
  try {
    Insert(*s, 1, "again");
    ADD_FAILURE() << "duplicate accepted";
  } catch (const std::exception& e) {
    EXPECT_EQ(Classify(Dialect::kSqlite, e, s.get()).status.code(), StatusCode::kAlreadyExists)
        << e.what();
  }
  try {
    Params p;
    Exec(*s, "INSERT INTO t (id, name) VALUES (" + p.I(2) + ", " + p.OptS(std::nullopt) + ")", p);
    ADD_FAILURE() << "NULL accepted";
  } catch (const std::exception& e) {
    EXPECT_EQ(Classify(Dialect::kSqlite, e, s.get()).status.code(), StatusCode::kInvalidArgument)
        << e.what();
  }
  try {
    Params p;
    Exec(*s, "SELECT nope FROM t WHERE id = " + p.I(1), p);
    ADD_FAILURE() << "unknown column accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no such column"), std::string::npos) << e.what();
  }
  EXPECT_EQ(Insert(*s, 2, "b"), 1);
  EXPECT_EQ(Names(*s, 1), (std::vector<std::string>{"a", "b"}));
}

TEST_F(StatementCacheTest, ClosingTheSessionFinalizesItsStatements) {
  SessionPtr s = Open();
  Params none;
  Exec(*s, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)", none);
  Insert(*s, 1, "a");
  Names(*s, 0);
  EXPECT_EQ(OpenStatements(*s), 2);
  CacheFor(*s)->Clear();
  EXPECT_EQ(OpenStatements(*s), 0);
  Names(*s, 0);
  s.reset();  // the deleter drops the cache first (sqlite3_close would fail with statements open)
  // Sessions opened without the store's deleter have no cache and run through SOCI.
  soci::session plain(soci::sqlite3, dir_.Sub("db.sqlite"));
  EXPECT_EQ(CacheFor(plain), nullptr);
  Params p;
  EXPECT_EQ(SelectInt(plain, "SELECT COUNT(*) FROM t WHERE id >= " + p.I(1), p, -1), 1);
}

}  // namespace
}  // namespace ward::manager::soci_backend

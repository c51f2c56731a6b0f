// A thin RAII layer over the SQLite C API for the agent's own state (baseline, caches, spool).
// SqliteDb: one connection; not thread-safe — use it from one thread at a time.
// Every failure becomes a Status naming the statement that failed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ward {

class SqliteStmt {
 public:
  SqliteStmt(SqliteStmt&&) noexcept;
  SqliteStmt& operator=(SqliteStmt&&) noexcept;
  ~SqliteStmt();

  // Binders use 1-based indexes, as SQLite does.
  SqliteStmt& Bind(int i, int64_t v);
  SqliteStmt& Bind(int i, std::string_view text);
  SqliteStmt& BindBlob(int i, std::string_view bytes);
  SqliteStmt& BindNull(int i);

  // Steps once: true when a row is ready, false when done.
  Result<bool> Step();
  // Steps to completion (for statements that return no rows), then resets.
  Status Run();
  void Reset();

  int64_t ColumnInt(int i) const;
  std::string ColumnText(int i) const;
  std::string ColumnBlob(int i) const;
  bool ColumnIsNull(int i) const;

 private:
  friend class SqliteDb;
  SqliteStmt(sqlite3* db, sqlite3_stmt* s) : db_(db), stmt_(s) {}
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteDb {
 public:
  // Opens (creating) the database in WAL mode with a busy timeout.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();

  Status Exec(std::string_view sql);
  Result<SqliteStmt> Prepare(std::string_view sql);
  int64_t Changes() const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// Runs BEGIN IMMEDIATE now and ROLLBACK on destruction unless Commit() succeeded.
class SqliteTransaction {
 public:
  static Result<std::unique_ptr<SqliteTransaction>> Begin(SqliteDb& db);
  ~SqliteTransaction();
  Status Commit();

 private:
  explicit SqliteTransaction(SqliteDb& db) : db_(db) {}
  SqliteDb& db_;
  bool done_ = false;
};

}  // namespace ward

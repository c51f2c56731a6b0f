#include "common/sqlite.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ward {
namespace {
Status SqlError(sqlite3* db, int rc, std::string_view what) {
  std::string msg =
      fmt::format("sqlite: {}: {}", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xFF;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Unavailable(std::move(msg));
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) return DataLoss(std::move(msg));
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_READONLY) {
    return PermissionDenied(std::move(msg));
  }
  if (primary == SQLITE_CONSTRAINT) return AlreadyExists(std::move(msg));
  return Internal(std::move(msg));
}
}  // namespace

SqliteStmt::SqliteStmt(SqliteStmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
SqliteStmt& SqliteStmt::operator=(SqliteStmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}
SqliteStmt::~SqliteStmt() { sqlite3_finalize(stmt_); }

SqliteStmt& SqliteStmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
SqliteStmt& SqliteStmt::Bind(int i, std::string_view text) {
  sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
SqliteStmt& SqliteStmt::BindBlob(int i, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}
SqliteStmt& SqliteStmt::BindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Result<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqlError(db_, rc, sqlite3_sql(stmt_));
}

Status SqliteStmt::Run() {
  int rc = sqlite3_step(stmt_);
  Status s = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? Status::Ok()
                                                     : SqlError(db_, rc, sqlite3_sql(stmt_));
  Reset();
  return s;
}

void SqliteStmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStmt::ColumnInt(int i) const { return sqlite3_column_int64(stmt_, i); }
std::string SqliteStmt::ColumnText(int i) const {
  const unsigned char* p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string();
}
std::string SqliteStmt::ColumnBlob(int i) const {
  const void* p = sqlite3_column_blob(stmt_, i);
  return p ? std::string(static_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string();
}
bool SqliteStmt::ColumnIsNull(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  // Databases hold state (baselines, spooled events, caches): created 0600, whatever the umask.
  // SQLite gives its -wal and -shm files the database file's mode.
  if (!path.empty() && path[0] != ':' && path.rfind("file:", 0) != 0) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      ::fchmod(fd, 0600);
      ::close(fd);
    }
  }
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqlError(raw, rc, fmt::format("open {}", path));
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw));
  sqlite3_busy_timeout(raw, 10'000);
  WARD_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  return db;
}

SqliteDb::~SqliteDb() { sqlite3_close(db_); }

Status SqliteDb::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Status st = SqlError(db_, rc, s);
    sqlite3_free(err);
    return st;
  }
  return Status::Ok();
}

Result<SqliteStmt> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) return SqlError(db_, rc, sql);
  return SqliteStmt(db_, s);
}

int64_t SqliteDb::Changes() const { return sqlite3_changes64(db_); }

Result<std::unique_ptr<SqliteTransaction>> SqliteTransaction::Begin(SqliteDb& db) {
  WARD_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return std::unique_ptr<SqliteTransaction>(new SqliteTransaction(db));
}

SqliteTransaction::~SqliteTransaction() {
  if (!done_) (void)db_.Exec("ROLLBACK");
}

Status SqliteTransaction::Commit() {
  WARD_RETURN_IF_ERROR(db_.Exec("COMMIT"));
  done_ = true;
  return Status::Ok();
}

}  // namespace ward

// Database URLs the manager accepts, and their translation to SOCI connect strings.
//
//   sqlite:PATH                                      (PATH is a file; created on first open)
//   postgresql://user:pass@host:port/db[?opts]       (also postgres://)
//   mysql://user:pass@host:port/db[?opts]            (MariaDB 10.11 counts as MySQL)
//
// User and password may be percent-encoded. Options (query string, `&`-separated):
//   pool=N        connections in the pool (default: 8 for SQLite, 16 otherwise; 1..256)
//   sslmode=...   PostgreSQL only, passed through to libpq
//   connect_timeout=S  seconds (default 5) for server databases
// Thread-safety: plain functions and values.
#pragma once

#include <string>

#include "common/status.h"

namespace ward::manager {

enum class Dialect { kSqlite, kPostgres, kMysql };

struct StoreUrl {
  Dialect dialect = Dialect::kSqlite;
  std::string connect;   // SOCI connect string (contains the password)
  std::string redacted;  // the URL with the password replaced by "***", for logs and errors
  std::string database;  // database name (server) or file path (SQLite)
  int pool_size = 8;
};

// kInvalidArgument naming what is wrong (scheme, port, option, ...).
Result<StoreUrl> ParseStoreUrl(const std::string& url);

// The same URL pointing at another database on the same server (server dialects only).
Result<std::string> WithDatabase(const std::string& url, const std::string& database);

std::string_view DialectName(Dialect d);

}  // namespace ward::manager

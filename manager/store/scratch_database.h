// ScratchDatabase: a fresh, empty database for one test (or benchmark run), dropped on
// destruction. SQLite: a file in a new directory under /tmp. PostgreSQL / MySQL: a new database
// `ward_t_<pid>_<n>_<random>` on the server named by WARD_TEST_POSTGRES_URL / WARD_TEST_MYSQL_URL
// (set by tests/databases.cmake; `scripts/test-databases start DIR` starts the servers and prints
// them). The `ward` user of those servers may create databases.
//
// A missing variable or an unreachable server is an error (tests fail; they do not skip).
// Thread-safety: one object per thread; Create may be called from many threads.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "manager/store/store_url.h"

namespace ward::manager {

// The server URL a test should use for `d`: the environment variable's value, or
// kFailedPrecondition naming the variable. For kSqlite: "sqlite:".
Result<std::string> TestServerUrl(Dialect d);

class ScratchDatabase {
 public:
  static Result<std::unique_ptr<ScratchDatabase>> Create(Dialect d);
  ~ScratchDatabase();
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  // URL for Store::Open.
  const std::string& url() const { return url_; }
  Dialect dialect() const { return dialect_; }

 private:
  ScratchDatabase() = default;
  Dialect dialect_ = Dialect::kSqlite;
  std::string url_;
  std::string server_url_;
  std::string name_;  // database name, or the directory for SQLite
};

}  // namespace ward::manager

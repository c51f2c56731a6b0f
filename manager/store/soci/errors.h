// Error classification: what a database exception means for the caller (a Status code) and for
// the session and transaction (discard the connection, run the transaction again), one table per
// backend (SQLSTATE for PostgreSQL, error numbers for MySQL/MariaDB, result codes for SQLite).
// Thread-safety: pure functions.
#pragma once

#include <exception>

#include "common/status.h"
#include "manager/store/soci_includes.h"
#include "manager/store/store_url.h"

namespace ward::manager::soci_backend {

struct DbError {
  Status status;
  bool broken = false;     // the connection is unusable: discard it
  bool retryable = false;  // deadlock / serialisation failure / busy: run the transaction again
};

// kAlreadyExists (unique violation), kUnavailable (connection lost, server going away, deadlock,
// lock timeout, busy), kPermissionDenied (credentials), kInvalidArgument (data out of range or
// constraint), else kInternal. `sql`, when given, is probed: a dead connection is kUnavailable.
DbError Classify(Dialect d, const std::exception& e, soci::session* sql);

inline bool IsOk(const Status& s) { return s.ok(); }
template <typename T>
bool IsOk(const Result<T>& r) {
  return r.has_value();
}

}  // namespace ward::manager::soci_backend

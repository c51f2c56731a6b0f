// StatementCache: the prepared statements of one SQLite connection, keyed by their SQL text, so
// a statement run again on that connection is parsed and planned once (docs/manager-store.md,
// "Prepared statements"). Exec() and Select() (binding.h) use it for every SQLite session the
// store opens; PostgreSQL and MySQL sessions have none and go through SOCI as before.
//
// Bounded (least recently used statements are finalized beyond the capacity), cleared when a
// statement that is not DML/SELECT runs on the connection (schema changes; SQLite re-prepares a
// cached statement by itself when another connection changed the schema), and dropped with its
// connection (SessionPtr's deleter: statements are finalized before the connection closes).
// Thread-safety: a cache belongs to one session, used by one thread at a time; the registry
// (CacheFor/SessionDeleter) is thread-safe.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "manager/store/soci_includes.h"

namespace ward::manager::soci_backend {

class StatementCache {
 public:
  static constexpr size_t kDefaultCapacity = 128;

  struct Entry {
    sqlite_api::sqlite3_stmt* stmt = nullptr;
    // order[j]: the ":pN" number (1-based) bound to the j-th "?" of the prepared text.
    std::vector<int> order;
    bool in_use = false;
  };

  StatementCache(sqlite_api::sqlite3* db, size_t capacity) : db_(db), capacity_(capacity) {}
  ~StatementCache() { Clear(); }
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // The entry for `sql` (text with ":pN" placeholders), prepared on first use; nullptr when
  // `sql` is not cacheable (not DML/SELECT: the caller prepares it once, and the cache is
  // cleared) or its cached entry is in use further up the stack. Throws
  // soci::sqlite3_soci_error when SQLite cannot prepare it.
  Entry* Get(const std::string& sql);
  // Finalizes every cached statement.
  void Clear();

  sqlite_api::sqlite3* db() const { return db_; }
  size_t size() const { return map_.size(); }
  long long hits() const { return hits_; }
  long long misses() const { return misses_; }

  // Whether `sql` is a statement the cache keeps (SELECT, INSERT, UPDATE, DELETE, REPLACE, WITH).
  static bool Cacheable(std::string_view sql);

 private:
  using Lru = std::list<std::string>;
  struct Slot {
    Entry entry;
    Lru::iterator lru;
  };

  sqlite_api::sqlite3* db_;
  size_t capacity_;
  Lru lru_;  // most recently used first
  std::unordered_map<std::string, Slot> map_;
  long long hits_ = 0;
  long long misses_ = 0;
};

// Prepares `sql` (":pN" placeholders) on `db` as "?" text; fills `order` (see Entry::order).
// Throws soci::sqlite3_soci_error.
sqlite_api::sqlite3_stmt* PrepareSqlite(sqlite_api::sqlite3* db, const std::string& sql,
                                        std::vector<int>& order, bool persistent);

// Sessions the store opens are owned through SessionPtr: its deleter drops the session's
// statement cache (finalizing the statements) before the connection closes.
struct SessionDeleter {
  void operator()(soci::session* s) const;
};
using SessionPtr = std::unique_ptr<soci::session, SessionDeleter>;

// Gives an open SQLite session its statement cache (`capacity` statements).
void AttachStatementCache(soci::session& s, size_t capacity = StatementCache::kDefaultCapacity);
// The statement cache of `s`; nullptr when it has none (not SQLite, or not opened by the store).
StatementCache* CacheFor(soci::session& s);

}  // namespace ward::manager::soci_backend

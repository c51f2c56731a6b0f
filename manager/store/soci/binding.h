// Parameter binding and result rows over SOCI: statements are built as text with ":pN"
// placeholders (Params) and read into rows of fixed shape (Row), so each entity's SQL stays one
// format string per statement on every backend.
// Thread-safety: values; a statement runs on the one session it is given.
#pragma once

#include <cctype>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "manager/store/soci/statement_cache.h"
#include "manager/store/soci_includes.h"

namespace ward::manager::soci_backend {

// Values bound by position to ":pN" placeholders; addresses stay stable (deque).
class Params {
 public:
  std::string S(std::string v) {
    auto& p = ps_.emplace_back();
    p.s = std::move(v);
    return Name();
  }
  std::string I(long long v) {
    auto& p = ps_.emplace_back();
    p.is_int = true;
    p.i = v;
    return Name();
  }
  std::string OptS(const std::optional<std::string>& v) {
    auto& p = ps_.emplace_back();
    if (v) p.s = *v;
    p.ind = v ? soci::i_ok : soci::i_null;
    return Name();
  }
  std::string OptI(const std::optional<long long>& v) {
    auto& p = ps_.emplace_back();
    p.is_int = true;
    if (v) p.i = *v;
    p.ind = v ? soci::i_ok : soci::i_null;
    return Name();
  }
  // Binds by position in the order the placeholders appear in `sql` (function arguments are
  // evaluated in an unspecified order, so S()/I() call order need not match the text). Named
  // binding would also work but costs O(n^2) name lookups in SQLite for multi-row inserts.
  void Bind(soci::statement& st, const std::string& sql) {
    for (size_t i = 0; i + 2 < sql.size(); ++i) {
      if (sql[i] != ':' || sql[i + 1] != 'p' ||
          !std::isdigit(static_cast<unsigned char>(sql[i + 2]))) {
        continue;
      }
      size_t k = 0, j = i + 2;
      for (; j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j])); ++j) {
        k = k * 10 + static_cast<size_t>(sql[j] - '0');
      }
      WARD_CHECK(k >= 1 && k <= ps_.size());
      P& p = ps_[k - 1];
      if (p.is_int) {
        st.exchange(soci::use(p.i, p.ind));
      } else {
        st.exchange(soci::use(p.s, p.ind));
      }
      i = j - 1;
    }
  }
  // The same for a statement prepared by PrepareSqlite: the j-th "?" takes value order[j].
  // Strings are bound SQLITE_STATIC: they outlive the statement's run (reset before they go).
  void BindSqlite(sqlite_api::sqlite3_stmt* st, const std::vector<int>& order) const;

 private:
  struct P {
    bool is_int = false;
    std::string s;
    long long i = 0;
    soci::indicator ind = soci::i_ok;
  };
  std::string Name() { return ":p" + std::to_string(ps_.size()); }
  std::deque<P> ps_;
};

// One result row of fixed shape: `sig` has 's' (text) or 'i' (integer) per column.
class Row {
 public:
  explicit Row(std::string_view sig) : slots_(sig.size()) {
    for (size_t k = 0; k < sig.size(); ++k) slots_[k].is_int = sig[k] == 'i';
  }
  void Bind(soci::statement& st) {
    for (auto& s : slots_) {
      if (s.is_int) {
        st.exchange(soci::into(s.i, s.ind));
      } else {
        st.exchange(soci::into(s.s, s.ind));
      }
    }
  }
  // Reads the current row of a stepped SQLite statement.
  void ReadSqlite(sqlite_api::sqlite3_stmt* st);
  bool Null(size_t k) const { return slots_[k].ind == soci::i_null; }
  std::string S(size_t k) const { return Null(k) ? std::string() : slots_[k].s; }
  long long I(size_t k) const { return Null(k) ? 0 : slots_[k].i; }
  std::optional<std::string> OptS(size_t k) const {
    return Null(k) ? std::nullopt : std::optional<std::string>(slots_[k].s);
  }
  std::optional<long long> OptI(size_t k) const {
    return Null(k) ? std::nullopt : std::optional<long long>(slots_[k].i);
  }

 private:
  struct Slot {
    bool is_int = false;
    std::string s;
    long long i = 0;
    soci::indicator ind = soci::i_ok;
  };
  std::vector<Slot> slots_;
};

// `q` as the session's backend wants it: SQLite gets anonymous "?" placeholders (bound by
// position in text order), the others the ":pN" names.
std::string ForBackend(soci::session& sql, const std::string& q);

// A statement run on a SQLite session through its StatementCache: the cached prepared statement
// (or, when the text is not cacheable or already running further up the stack, one prepared for
// this run), `p` bound; reset and its bindings cleared (or finalized) on destruction, whatever
// happened. Step() throws soci::sqlite3_soci_error as SOCI does.
class SqliteRun {
 public:
  SqliteRun(StatementCache& cache, const std::string& q, const Params& p);
  ~SqliteRun();
  SqliteRun(const SqliteRun&) = delete;
  SqliteRun& operator=(const SqliteRun&) = delete;
  // true: a row is ready (st()); false: done.
  bool Step();
  sqlite_api::sqlite3_stmt* st() const { return st_; }

 private:
  StatementCache& cache_;
  StatementCache::Entry* entry_ = nullptr;
  sqlite_api::sqlite3_stmt* st_ = nullptr;
};

// Runs a statement that returns no rows; returns the number of rows it changed.
long long Exec(soci::session& sql, const std::string& q, Params& p);

// Runs a query and calls each(row) for every row (`sig` as for Row).
template <typename F>
void Select(soci::session& sql, const std::string& q, Params& p, std::string_view sig, F&& each) {
  Row row(sig);
  if (StatementCache* cache = CacheFor(sql); cache != nullptr) {
    SqliteRun run(*cache, q, p);
    while (run.Step()) {
      row.ReadSqlite(run.st());
      each(row);
    }
    return;
  }
  soci::statement st(sql);
  row.Bind(st);
  p.Bind(st, q);
  st.alloc();
  st.prepare(ForBackend(sql, q));
  st.define_and_bind();
  st.execute(false);
  while (st.fetch()) each(row);
}

// The first column of the last row of an integer query, `fallback` when there is no row.
long long SelectInt(soci::session& sql, const std::string& q, Params& p, long long fallback);

}  // namespace ward::manager::soci_backend

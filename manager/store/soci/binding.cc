#include "manager/store/soci/binding.h"

#include <fmt/format.h>

#include <cctype>

namespace ward::manager::soci_backend {

// SQLite resolves each named placeholder with a linear search while parsing (quadratic for a
// 2,500-value insert); anonymous "?" placeholders are bound by position, in text order.
std::string ForBackend(soci::session& sql, const std::string& q) {
  if (sql.get_backend_name() != "sqlite3") return q;
  std::string out;
  out.reserve(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    if (q[i] == ':' && i + 2 < q.size() && q[i + 1] == 'p' &&
        std::isdigit(static_cast<unsigned char>(q[i + 2]))) {
      out.push_back('?');
      i += 2;
      while (i + 1 < q.size() && std::isdigit(static_cast<unsigned char>(q[i + 1]))) ++i;
    } else {
      out.push_back(q[i]);
    }
  }
  return out;
}

void Params::BindSqlite(sqlite_api::sqlite3_stmt* st, const std::vector<int>& order) const {
  for (size_t j = 0; j < order.size(); ++j) {
    const size_t k = static_cast<size_t>(order[j]);
    WARD_CHECK(k >= 1 && k <= ps_.size());
    const P& v = ps_[k - 1];
    const int pos = static_cast<int>(j + 1);
    int rc;
    if (v.ind == soci::i_null) {
      rc = sqlite_api::sqlite3_bind_null(st, pos);
    } else if (v.is_int) {
      rc = sqlite_api::sqlite3_bind_int64(st, pos, v.i);
    } else {
      rc = sqlite_api::sqlite3_bind_text(st, pos, v.s.data(), static_cast<int>(v.s.size()),
                                         SQLITE_STATIC);
    }
    if (rc != SQLITE_OK) {
      throw soci::sqlite3_soci_error(
          fmt::format("bind: {}", sqlite_api::sqlite3_errmsg(sqlite_api::sqlite3_db_handle(st))),
          rc);
    }
  }
}

void Row::ReadSqlite(sqlite_api::sqlite3_stmt* st) {
  for (size_t k = 0; k < slots_.size(); ++k) {
    Slot& s = slots_[k];
    const int col = static_cast<int>(k);
    if (sqlite_api::sqlite3_column_type(st, col) == SQLITE_NULL) {
      s.ind = soci::i_null;
      continue;
    }
    s.ind = soci::i_ok;
    if (s.is_int) {
      s.i = sqlite_api::sqlite3_column_int64(st, col);
    } else {
      const auto* text = sqlite_api::sqlite3_column_text(st, col);
      const int n = sqlite_api::sqlite3_column_bytes(st, col);
      s.s.assign(reinterpret_cast<const char*>(text), static_cast<size_t>(n));
    }
  }
}

SqliteRun::SqliteRun(StatementCache& cache, const std::string& q, const Params& p) : cache_(cache) {
  entry_ = cache.Get(q);
  if (entry_ != nullptr) {
    st_ = entry_->stmt;
    entry_->in_use = true;
    try {
      p.BindSqlite(st_, entry_->order);
    } catch (...) {
      sqlite_api::sqlite3_clear_bindings(st_);
      entry_->in_use = false;
      throw;
    }
    return;
  }
  std::vector<int> order;
  st_ = PrepareSqlite(cache.db(), q, order, false);
  try {
    p.BindSqlite(st_, order);
  } catch (...) {
    sqlite_api::sqlite3_finalize(st_);
    throw;
  }
}

SqliteRun::~SqliteRun() {
  if (entry_ != nullptr) {
    sqlite_api::sqlite3_reset(st_);
    sqlite_api::sqlite3_clear_bindings(st_);
    entry_->in_use = false;
  } else {
    sqlite_api::sqlite3_finalize(st_);
  }
}

bool SqliteRun::Step() {
  int rc = sqlite_api::sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite_api::sqlite3_sql(st_);
  std::string msg =
      fmt::format("{} while executing \"{}\"", sqlite_api::sqlite3_errmsg(cache_.db()),
                  std::string_view(sql == nullptr ? "" : sql).substr(0, 200));
  throw soci::sqlite3_soci_error(msg, rc);
}

long long Exec(soci::session& sql, const std::string& q, Params& p) {
  if (StatementCache* cache = CacheFor(sql); cache != nullptr) {
    SqliteRun run(*cache, q, p);
    while (run.Step()) {
    }
    return sqlite_api::sqlite3_changes(cache->db());
  }
  soci::statement st(sql);
  p.Bind(st, q);
  st.alloc();
  st.prepare(ForBackend(sql, q));
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}
long long SelectInt(soci::session& sql, const std::string& q, Params& p, long long fallback) {
  long long v = fallback;
  Select(sql, q, p, "i", [&](const Row& r) { v = r.I(0); });
  return v;
}

}  // namespace ward::manager::soci_backend

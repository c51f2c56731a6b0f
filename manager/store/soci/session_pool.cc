#include "manager/store/soci/session_pool.h"

#include <fmt/format.h>

#include <string_view>

#include "manager/store/soci/errors.h"

namespace ward::manager::soci_backend {

Result<SessionPool::Lease> SessionPool::Acquire() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty() || created_ < url_.pool_size; });
    if (!free_.empty()) {
      auto s = std::move(free_.back());
      free_.pop_back();
      return Lease(this, std::move(s));
    }
    ++created_;
  }
  auto s = Connect();
  if (!s.has_value()) {
    std::lock_guard lock(mu_);
    --created_;
    cv_.notify_one();
    return s.error();
  }
  return Lease(this, std::move(s).value());
}

Result<SessionPtr> SessionPool::Connect() {
  SessionPtr s(new soci::session());
  try {
    switch (url_.dialect) {
      case Dialect::kSqlite:
        s->open(soci::sqlite3, url_.connect);
        *s << "PRAGMA busy_timeout = 10000";
        *s << "PRAGMA journal_mode = WAL";
        *s << "PRAGMA synchronous = NORMAL";
        *s << "PRAGMA foreign_keys = ON";
        // Index pages touched by ingestion must stay cached (the default is 2 MB).
        *s << "PRAGMA cache_size = -65536";
        *s << "PRAGMA mmap_size = 1073741824";
        // Every repeated statement of this connection prepared once (binding.h).
        AttachStatementCache(*s);
        break;
      case Dialect::kPostgres:
        s->open(soci::postgresql, url_.connect);
        *s << "SET client_min_messages = warning";
        break;
      case Dialect::kMysql:
        s->open(soci::mysql, url_.connect);
        *s << "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'";
        *s << "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
        break;
    }
  } catch (const std::exception& e) {
    DbError err = Classify(url_.dialect, e, nullptr);
    StatusCode code = err.status.code();
    std::string_view what = e.what();
    if (what.find("password authentication failed") != std::string_view::npos ||
        what.find("Access denied") != std::string_view::npos) {
      code = StatusCode::kPermissionDenied;
    } else if (code == StatusCode::kInternal) {
      code = StatusCode::kUnavailable;
    }
    return Status(code, fmt::format("connect to {}: {}", url_.redacted, e.what()));
  }
  return s;
}

void SessionPool::Release(SessionPtr s, bool broken) {
  std::lock_guard lock(mu_);
  if (broken) {
    --created_;
    s.reset();
  } else {
    free_.push_back(std::move(s));
  }
  cv_.notify_one();
}

}  // namespace ward::manager::soci_backend

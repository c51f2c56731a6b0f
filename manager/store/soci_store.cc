#include "manager/store/soci_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <type_traits>

#include "manager/store/schema.h"
#include "manager/store/soci_includes.h"

namespace ward::manager {
namespace {

using json = nlohmann::json;
constexpr long long kMicrosPerDay = 86'400'000'000LL;
// Timestamps the store accepts: 1970-01-01 .. 2200-01-01 (micros since the epoch).
constexpr long long kMaxMicros = 7'258'118'400'000'000LL;
constexpr size_t kIdMax = 64;
constexpr size_t kNameMax = 255;
// StoredEvent::doc_text stored as given: at most this long.
constexpr size_t kMaxDocText = 16u << 20;

long long Micros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
TimePoint FromMicros(long long us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

std::string DumpJson(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}
json ParseJson(const std::string& s, json fallback) {
  if (s.empty()) return fallback;
  json j = json::parse(s, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// A stored role; least privilege for anything unexpected.
Role StoredRole(const std::string& s) {
  Role r = Role::kAuditor;
  return ParseRole(s, r) ? r : Role::kAuditor;
}
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

long long Exec(soci::session& sql, const std::string& q, Params& p) {
  soci::statement st(sql);
  p.Bind(st, q);
  st.alloc();
  st.prepare(ForBackend(sql, q));
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

template <typename F>
void Select(soci::session& sql, const std::string& q, Params& p, std::string_view sig, F&& each) {
  Row row(sig);
  soci::statement st(sql);
  row.Bind(st);
  p.Bind(st, q);
  st.alloc();
  st.prepare(ForBackend(sql, q));
  st.define_and_bind();
  st.execute(false);
  while (st.fetch()) each(row);
}

long long SelectInt(soci::session& sql, const std::string& q, Params& p, long long fallback) {
  long long v = fallback;
  Select(sql, q, p, "i", [&](const Row& r) { v = r.I(0); });
  return v;
}

struct DbError {
  Status status;
  bool broken = false;     // the connection is unusable: discard it
  bool retryable = false;  // deadlock / serialisation failure / busy: run the transaction again
};

DbError Classify(Dialect d, const std::exception& e, soci::session* sql) {
  DbError out;
  std::string msg = e.what();
  StatusCode code = StatusCode::kInternal;
  if (auto* pe = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
    std::string state = pe->sqlstate();
    if (state == "23505") {
      code = StatusCode::kAlreadyExists;
    } else if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" ||
               state == "57P03") {
      code = StatusCode::kUnavailable;
      out.broken = true;
    } else if (state == "40001" || state == "40P01" || state == "55P03") {
      code = StatusCode::kUnavailable;
      out.retryable = true;
    } else if (state == "28P01" || state == "28000") {
      code = StatusCode::kPermissionDenied;
    } else if (state.rfind("22", 0) == 0) {
      code = StatusCode::kInvalidArgument;
    }
  } else if (auto* me = dynamic_cast<const soci::mysql_soci_error*>(&e)) {
    unsigned n = me->err_num_;
    if (n == 1062 || n == 1586) {
      code = StatusCode::kAlreadyExists;
    } else if (n == 2002 || n == 2003 || n == 2005 || n == 2006 || n == 2013 || n == 2055 ||
               n == 1927 || n == 1053) {
      code = StatusCode::kUnavailable;
      out.broken = true;
    } else if (n == 1213 || n == 1205) {
      code = StatusCode::kUnavailable;
      out.retryable = true;
    } else if (n == 1045 || n == 1044) {
      code = StatusCode::kPermissionDenied;
    } else if (n == 1406 || n == 1366 || n == 1292) {
      code = StatusCode::kInvalidArgument;
    }
  } else if (auto* se = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    int rc = se->result() & 0xff;
    if (rc == 19) {  // SQLITE_CONSTRAINT
      code = msg.find("UNIQUE") != std::string::npos || msg.find("PRIMARY") != std::string::npos
                 ? StatusCode::kAlreadyExists
                 : StatusCode::kInvalidArgument;
    } else if (rc == 5 || rc == 6) {  // BUSY, LOCKED
      code = StatusCode::kUnavailable;
      out.retryable = true;
    } else if (rc == 14 || rc == 10 || rc == 13) {  // CANTOPEN, IOERR, FULL
      code = StatusCode::kUnavailable;
    }
  } else if (auto* ge = dynamic_cast<const soci::soci_error*>(&e)) {
    if (ge->get_error_category() == soci::soci_error::connection_error) {
      code = StatusCode::kUnavailable;
      out.broken = true;
    }
  }
  if (code == StatusCode::kInternal && d != Dialect::kSqlite && sql != nullptr) {
    // Errors raised by a dead connection do not always carry a connection code.
    bool connected = false;
    try {
      connected = sql->is_connected();
    } catch (...) {
    }
    if (!connected) {
      code = StatusCode::kUnavailable;
      out.broken = true;
    }
  }
  out.status = Status(code, msg);
  return out;
}

bool IsOk(const Status& s) { return s.ok(); }
template <typename T>
bool IsOk(const Result<T>& r) {
  return r.has_value();
}

// Sessions, connected on demand; a broken one is discarded and replaced on the next Acquire.
class SessionPool {
 public:
  explicit SessionPool(StoreUrl url) : url_(std::move(url)) {}

  class Lease {
   public:
    Lease(SessionPool* pool, std::unique_ptr<soci::session> s) : pool_(pool), s_(std::move(s)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), s_(std::move(o.s_)), broken_(o.broken_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (s_) pool_->Release(std::move(s_), broken_);
    }
    soci::session& session() { return *s_; }
    void MarkBroken() { broken_ = true; }

   private:
    SessionPool* pool_;
    std::unique_ptr<soci::session> s_;
    bool broken_ = false;
  };

  Result<Lease> Acquire() {
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

  Result<std::unique_ptr<soci::session>> Connect() {
    auto s = std::make_unique<soci::session>();
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

  const StoreUrl& url() const { return url_; }

 private:
  void Release(std::unique_ptr<soci::session> s, bool broken) {
    std::lock_guard lock(mu_);
    if (broken) {
      --created_;
      s.reset();
    } else {
      free_.push_back(std::move(s));
    }
    cv_.notify_one();
  }

  StoreUrl url_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<soci::session>> free_;
  int created_ = 0;
};

Status CheckLen(std::string_view field, const std::string& v, size_t max) {
  if (v.size() > max) {
    return InvalidArgument(fmt::format("{} longer than {} bytes", field, max));
  }
  return Status::Ok();
}
Status CheckId(std::string_view field, const std::string& v) {
  if (v.empty()) return InvalidArgument(fmt::format("{} is empty", field));
  return CheckLen(field, v, kIdMax);
}

std::string PartitionName(long long day) {
  std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
  return fmt::format("events_{:04d}{:02d}{:02d}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}
// Parses "events_YYYYMMDD" back to its day number; nullopt for any other name.
std::optional<long long> PartitionDay(const std::string& name) {
  if (name.size() != 15 || name.rfind("events_", 0) != 0) return std::nullopt;
  for (size_t i = 7; i < 15; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
  }
  int y = std::stoi(name.substr(7, 4));
  unsigned m = static_cast<unsigned>(std::stoi(name.substr(11, 2)));
  unsigned d = static_cast<unsigned>(std::stoi(name.substr(13, 2)));
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd).time_since_epoch().count();
}

constexpr const char* kTenantCols =
    "id, name, is_primary, disabled, retention_days, heartbeat_s, cleanup_days, created_at";
constexpr const char* kTenantSig = "ssiiiiii";
Tenant TenantFrom(const Row& r) {
  Tenant t;
  t.id = r.S(0);
  t.name = r.S(1);
  t.primary = r.I(2) != 0;
  t.disabled = r.I(3) != 0;
  t.settings.event_retention_days = static_cast<int>(r.I(4));
  t.settings.heartbeat_interval_s = static_cast<int>(r.I(5));
  t.settings.inactive_agent_cleanup_days = static_cast<int>(r.I(6));
  t.created_at = FromMicros(r.I(7));
  return t;
}

constexpr const char* kApiKeyCols =
    "id, tenant_id, name, role, secret_hash, expires_at, revoked, created_at";
constexpr const char* kApiKeySig = "sssssiii";
ApiKey ApiKeyFrom(const Row& r) {
  ApiKey k;
  k.id = r.S(0);
  k.tenant_id = r.S(1);
  k.name = r.S(2);
  k.role = StoredRole(r.S(3));
  k.secret_hash = r.S(4);
  if (auto e = r.OptI(5)) k.expires_at = FromMicros(*e);
  k.revoked = r.I(6) != 0;
  k.created_at = FromMicros(r.I(7));
  return k;
}

constexpr const char* kUserCols =
    "id, tenant_id, username, role, password_hash, language, created_at";
constexpr const char* kUserSig = "ssssssi";
User UserFrom(const Row& r) {
  User u;
  u.id = r.S(0);
  u.tenant_id = r.S(1);
  u.username = r.S(2);
  u.role = StoredRole(r.S(3));
  u.password_hash = r.S(4);
  u.language = r.S(5);
  u.created_at = FromMicros(r.I(6));
  return u;
}

constexpr const char* kSessionCols =
    "id, token_hash, tenant_id, user_id, created_at, last_seen, expires_at";
constexpr const char* kSessionSig = "ssssiii";
UserSession SessionFrom(const Row& r) {
  UserSession s;
  s.id = r.S(0);
  s.token_hash = r.S(1);
  s.tenant_id = r.S(2);
  s.user_id = r.S(3);
  s.created_at = FromMicros(r.I(4));
  s.last_seen = FromMicros(r.I(5));
  s.expires_at = FromMicros(r.I(6));
  return s;
}

constexpr const char* kTokenCols =
    "id, tenant_id, name, token_hash, policy_id, expires_at, max_uses, uses, revoked, created_at";
constexpr const char* kTokenSig = "sssssiiiii";
ActivationToken TokenFrom(const Row& r) {
  ActivationToken t;
  t.id = r.S(0);
  t.tenant_id = r.S(1);
  t.name = r.S(2);
  t.token_hash = r.S(3);
  t.policy_id = r.OptS(4);
  if (auto e = r.OptI(5)) t.expires_at = FromMicros(*e);
  if (auto m = r.OptI(6)) t.max_uses = static_cast<int>(*m);
  t.uses = static_cast<int>(r.I(7));
  t.revoked = r.I(8) != 0;
  t.created_at = FromMicros(r.I(9));
  return t;
}

constexpr const char* kAgentCols =
    "id, tenant_id, hostname, machine_id, version, credential_hash, policy_id, status, "
    "applied_policy_version, online, last_seen, created_at";
constexpr const char* kAgentSig = "ssssssssiiii";
Agent AgentFrom(const Row& r) {
  Agent a;
  a.id = r.S(0);
  a.tenant_id = r.S(1);
  a.hostname = r.S(2);
  a.machine_id = r.S(3);
  a.version = r.S(4);
  a.credential_hash = r.S(5);
  a.policy_id = r.OptS(6);
  a.status = ParseJson(r.S(7), json::object());
  a.applied_policy_version = static_cast<int>(r.I(8));
  a.online = r.I(9) != 0;
  if (auto l = r.OptI(10)) a.last_seen = FromMicros(*l);
  a.created_at = FromMicros(r.I(11));
  return a;
}

constexpr const char* kPolicyCols =
    "id, tenant_id, name, document, version, created_at, updated_at";
constexpr const char* kPolicySig = "ssssiii";
Policy PolicyFrom(const Row& r) {
  Policy p;
  p.id = r.S(0);
  p.tenant_id = r.S(1);
  p.name = r.S(2);
  p.document = ParseJson(r.S(3), json::object());
  p.version = static_cast<int>(r.I(4));
  p.created_at = FromMicros(r.I(5));
  p.updated_at = FromMicros(r.I(6));
  return p;
}

constexpr const char* kCommandCols =
    "id, tenant_id, agent_id, name, args, result, state, created_at";
constexpr const char* kCommandSig = "ssssssii";
Command CommandFrom(const Row& r) {
  Command c;
  c.id = r.S(0);
  c.tenant_id = r.S(1);
  c.agent_id = r.S(2);
  c.name = r.S(3);
  c.args = ParseJson(r.S(4), json::object());
  c.result = r.Null(5) ? json() : ParseJson(r.S(5), json());
  long long st = r.I(6);
  c.state = st == 1   ? CommandState::kDelivered
            : st == 2 ? CommandState::kCompleted
            : st == 3 ? CommandState::kFailed
                      : CommandState::kQueued;
  c.created_at = FromMicros(r.I(7));
  return c;
}

constexpr const char* kEventCols =
    "id, tenant_id, agent_id, module, action, path, rule, doc, ts, severity";
constexpr const char* kEventSig = "ssssssssii";
StoredEvent EventFrom(const Row& r) {
  StoredEvent e;
  e.id = r.S(0);
  e.tenant_id = r.S(1);
  e.agent_id = r.S(2);
  e.module = r.S(3);
  e.action = r.S(4);
  e.path = r.S(5);
  e.rule = r.S(6);
  e.doc = ParseJson(r.S(7), json());
  e.timestamp = FromMicros(r.I(8));
  e.severity = static_cast<int>(r.I(9));
  return e;
}

constexpr const char* kAuditCols = "id, tenant_id, actor, method, path, detail, status, at";
constexpr const char* kAuditSig = "ssssssii";
AuditEntry AuditFrom(const Row& r) {
  AuditEntry a;
  a.id = r.S(0);
  a.tenant_id = r.S(1);
  a.actor = r.S(2);
  a.method = r.S(3);
  a.path = r.S(4);
  a.detail = ParseJson(r.S(5), json::object());
  a.status = static_cast<int>(r.I(6));
  a.at = FromMicros(r.I(7));
  return a;
}

// Removes NUL bytes (PostgreSQL TEXT cannot hold them) from an extracted search column.
std::string NoNul(const std::string& s) {
  if (s.find('\0') == std::string::npos) return s;
  std::string out;
  for (char c : s) {
    if (c != '\0') out.push_back(c);
  }
  return out;
}

class SociStore final : public Store {
 public:
  explicit SociStore(StoreUrl url) : pool_(std::move(url)), d_(pool_.url().dialect) {}
  ~SociStore() override {
    std::lock_guard lock(sqlite_write_mu_);
    CloseSqliteWriter();
  }

  Status Ping() {
    auto lease = pool_.Acquire();
    return lease.status();
  }

  // Store
  Result<int> SchemaVersion() override {
    return Run("schema version", false, [&](soci::session& sql) -> Result<int> {
      return static_cast<int>(CurrentVersion(sql));
    });
  }

  Status Migrate() override;

  Status CreateTenant(const Tenant& t) override {
    WARD_RETURN_IF_ERROR(CheckId("tenant.id", t.id));
    WARD_RETURN_IF_ERROR(CheckLen("tenant.name", t.name, kNameMax));
    return RunStatus("create tenant", true, [&](soci::session& sql) {
      Params p;
      std::string q =
          fmt::format("INSERT INTO tenants ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                      kTenantCols, p.S(t.id), p.S(t.name), p.I(t.primary), p.I(t.disabled),
                      p.I(t.settings.event_retention_days), p.I(t.settings.heartbeat_interval_s),
                      p.I(t.settings.inactive_agent_cleanup_days), p.I(Micros(t.created_at)));
      Exec(sql, q, p);
      return Status::Ok();
    });
  }

  Result<Tenant> GetTenant(const std::string& id) override {
    return Run("get tenant", false,
               [&](soci::session& sql) { return GetTenantIn(sql, id, false); });
  }

  Result<std::vector<Tenant>> ListTenants() override {
    return Run("list tenants", false, [&](soci::session& sql) -> Result<std::vector<Tenant>> {
      std::vector<Tenant> out;
      Params p;
      Select(sql, fmt::format("SELECT {} FROM tenants ORDER BY created_at, id", kTenantCols), p,
             kTenantSig, [&](const Row& r) { out.push_back(TenantFrom(r)); });
      return out;
    });
  }

  Status UpdateTenant(const Tenant& t) override {
    WARD_RETURN_IF_ERROR(CheckLen("tenant.name", t.name, kNameMax));
    return RunStatus("update tenant", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetTenantIn(sql, t.id, true).status());
      Params p;
      std::string q = fmt::format(
          "UPDATE tenants SET name = {}, disabled = {}, retention_days = {}, heartbeat_s = {}, "
          "cleanup_days = {} WHERE id = {}",
          p.S(t.name), p.I(t.disabled), p.I(t.settings.event_retention_days),
          p.I(t.settings.heartbeat_interval_s), p.I(t.settings.inactive_agent_cleanup_days),
          p.S(t.id));
      Exec(sql, q, p);
      return Status::Ok();
    });
  }

  Status DeleteTenant(const std::string& id) override {
    return RunStatus("delete tenant", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetTenantIn(sql, id, true).status());
      for (const char* table : {"events", "audit", "commands", "agents", "activation_tokens",
                                "policies", "api_keys", "sessions", "users"}) {
        Params p;
        Exec(sql, fmt::format("DELETE FROM {} WHERE tenant_id = {}", table, p.S(id)), p);
      }
      Params p;
      Exec(sql, fmt::format("DELETE FROM tenants WHERE id = {}", p.S(id)), p);
      return Status::Ok();
    });
  }

  Status CreateApiKey(const ApiKey& k) override {
    WARD_RETURN_IF_ERROR(CheckId("api_key.id", k.id));
    WARD_RETURN_IF_ERROR(CheckLen("api_key.name", k.name, kNameMax));
    WARD_RETURN_IF_ERROR(CheckId("api_key.secret_hash", k.secret_hash));
    return RunStatus("create api key", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetTenantIn(sql, k.tenant_id, false).status());
      Params p;
      std::optional<long long> exp;
      if (k.expires_at) exp = Micros(*k.expires_at);
      std::string q = fmt::format(
          "INSERT INTO api_keys ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {})", kApiKeyCols,
          p.S(k.id), p.S(k.tenant_id), p.S(k.name), p.S(std::string(RoleName(k.role))),
          p.S(k.secret_hash), p.OptI(exp), p.I(k.revoked), p.I(Micros(k.created_at)));
      Exec(sql, q, p);
      return Status::Ok();
    });
  }

  Result<ApiKey> FindApiKeyByHash(const std::string& secret_hash) override {
    return Run("find api key", false, [&](soci::session& sql) -> Result<ApiKey> {
      Params p;
      std::optional<ApiKey> out;
      Select(sql,
             fmt::format("SELECT {} FROM api_keys WHERE secret_hash = {}", kApiKeyCols,
                         p.S(secret_hash)),
             p, kApiKeySig, [&](const Row& r) { out = ApiKeyFrom(r); });
      if (!out) return NotFound("no such api key");
      return *out;
    });
  }

  Result<ApiKey> GetApiKey(const std::string& tenant_id, const std::string& id) override {
    return Run("get api key", false, [&](soci::session& sql) -> Result<ApiKey> {
      Params p;
      std::optional<ApiKey> out;
      Select(sql,
             fmt::format("SELECT {} FROM api_keys WHERE tenant_id = {} AND id = {}", kApiKeyCols,
                         p.S(tenant_id), p.S(id)),
             p, kApiKeySig, [&](const Row& r) { out = ApiKeyFrom(r); });
      if (!out) return NotFound("no such api key");
      return *out;
    });
  }

  Result<std::vector<ApiKey>> ListApiKeys(const std::string& tenant_id) override {
    return Run("list api keys", false, [&](soci::session& sql) -> Result<std::vector<ApiKey>> {
      Params p;
      std::vector<ApiKey> out;
      Select(sql,
             fmt::format("SELECT {} FROM api_keys WHERE tenant_id = {} ORDER BY created_at, id",
                         kApiKeyCols, p.S(tenant_id)),
             p, kApiKeySig, [&](const Row& r) { out.push_back(ApiKeyFrom(r)); });
      return out;
    });
  }

  Status RevokeApiKey(const std::string& tenant_id, const std::string& id) override {
    return RunStatus("revoke api key", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "api_keys", tenant_id, id, "api key"));
      Params p;
      Exec(sql,
           fmt::format("UPDATE api_keys SET revoked = 1 WHERE tenant_id = {} AND id = {}",
                       p.S(tenant_id), p.S(id)),
           p);
      return Status::Ok();
    });
  }

  Status CreateActivationToken(const ActivationToken& t) override {
    WARD_RETURN_IF_ERROR(CheckId("activation_token.id", t.id));
    WARD_RETURN_IF_ERROR(CheckLen("activation_token.name", t.name, kNameMax));
    WARD_RETURN_IF_ERROR(CheckId("activation_token.token_hash", t.token_hash));
    return RunStatus("create activation token", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetTenantIn(sql, t.tenant_id, false).status());
      if (t.policy_id) {
        WARD_RETURN_IF_ERROR(RequireRow(sql, "policies", t.tenant_id, *t.policy_id, "policy"));
      }
      Params p;
      std::optional<long long> exp, max;
      if (t.expires_at) exp = Micros(*t.expires_at);
      if (t.max_uses) max = *t.max_uses;
      std::string q = fmt::format(
          "INSERT INTO activation_tokens ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
          kTokenCols, p.S(t.id), p.S(t.tenant_id), p.S(t.name), p.S(t.token_hash),
          p.OptS(t.policy_id), p.OptI(exp), p.OptI(max), p.I(t.uses), p.I(t.revoked),
          p.I(Micros(t.created_at)));
      Exec(sql, q, p);
      return Status::Ok();
    });
  }

  Result<ActivationToken> UseActivationToken(const std::string& token_hash,
                                             TimePoint now) override {
    return Run("use activation token", true, [&](soci::session& sql) -> Result<ActivationToken> {
      Params p;
      std::optional<ActivationToken> tok;
      Select(sql,
             fmt::format("SELECT {} FROM activation_tokens WHERE token_hash = {}{}", kTokenCols,
                         p.S(token_hash), ForUpdate()),
             p, kTokenSig, [&](const Row& r) { tok = TokenFrom(r); });
      if (!tok) return Unauthenticated("unknown activation token");
      if (tok->revoked) return Unauthenticated("activation token revoked");
      if (tok->expires_at && *tok->expires_at <= now) {
        return Unauthenticated("activation token expired");
      }
      if (tok->max_uses && tok->uses >= *tok->max_uses) {
        return Unauthenticated("activation token used up");
      }
      Params u;
      long long n = Exec(
          sql,
          fmt::format("UPDATE activation_tokens SET uses = uses + 1 WHERE id = {} AND revoked = 0 "
                      "AND (max_uses IS NULL OR uses < max_uses)",
                      u.S(tok->id)),
          u);
      if (n != 1) return Unauthenticated("activation token used up");
      tok->uses += 1;
      return *tok;
    });
  }

  Result<std::vector<ActivationToken>> ListActivationTokens(const std::string& tenant_id) override {
    return Run("list activation tokens", false,
               [&](soci::session& sql) -> Result<std::vector<ActivationToken>> {
                 Params p;
                 std::vector<ActivationToken> out;
                 Select(sql,
                        fmt::format("SELECT {} FROM activation_tokens WHERE tenant_id = {} ORDER "
                                    "BY created_at, id",
                                    kTokenCols, p.S(tenant_id)),
                        p, kTokenSig, [&](const Row& r) { out.push_back(TokenFrom(r)); });
                 return out;
               });
  }

  Result<ActivationToken> GetActivationToken(const std::string& tenant_id,
                                             const std::string& id) override {
    return Run("get activation token", false, [&](soci::session& sql) -> Result<ActivationToken> {
      Params p;
      std::optional<ActivationToken> out;
      Select(sql,
             fmt::format("SELECT {} FROM activation_tokens WHERE tenant_id = {} AND id = {}",
                         kTokenCols, p.S(tenant_id), p.S(id)),
             p, kTokenSig, [&](const Row& r) { out = TokenFrom(r); });
      if (!out) return NotFound("no such activation token");
      return *out;
    });
  }

  Status RevokeActivationToken(const std::string& tenant_id, const std::string& id) override {
    return RunStatus("revoke activation token", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "activation_tokens", tenant_id, id, "activation token"));
      Params p;
      Exec(sql,
           fmt::format("UPDATE activation_tokens SET revoked = 1 WHERE tenant_id = {} AND id = {}",
                       p.S(tenant_id), p.S(id)),
           p);
      return Status::Ok();
    });
  }

  Status CreateAgent(const Agent& a) override {
    WARD_RETURN_IF_ERROR(CheckId("agent.id", a.id));
    WARD_RETURN_IF_ERROR(CheckLen("agent.hostname", a.hostname, kNameMax));
    WARD_RETURN_IF_ERROR(CheckLen("agent.machine_id", a.machine_id, kNameMax));
    WARD_RETURN_IF_ERROR(CheckLen("agent.version", a.version, kNameMax));
    WARD_RETURN_IF_ERROR(CheckId("agent.credential_hash", a.credential_hash));
    return RunStatus("create agent", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetTenantIn(sql, a.tenant_id, false).status());
      if (a.policy_id) {
        WARD_RETURN_IF_ERROR(RequireRow(sql, "policies", a.tenant_id, *a.policy_id, "policy"));
      }
      Params p;
      std::optional<long long> seen;
      if (a.last_seen) seen = Micros(*a.last_seen);
      std::string q = fmt::format(
          "INSERT INTO agents ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
          kAgentCols, p.S(a.id), p.S(a.tenant_id), p.S(a.hostname), p.S(a.machine_id),
          p.S(a.version), p.S(a.credential_hash), p.OptS(a.policy_id), p.S(DumpJson(a.status)),
          p.I(a.applied_policy_version), p.I(a.online), p.OptI(seen), p.I(Micros(a.created_at)));
      Exec(sql, q, p);
      return Status::Ok();
    });
  }

  Result<Agent> FindAgentByCredentialHash(const std::string& credential_hash) override {
    return Run("find agent", false, [&](soci::session& sql) -> Result<Agent> {
      Params p;
      std::optional<Agent> out;
      Select(sql,
             fmt::format("SELECT {} FROM agents WHERE credential_hash = {}", kAgentCols,
                         p.S(credential_hash)),
             p, kAgentSig, [&](const Row& r) { out = AgentFrom(r); });
      if (!out) return NotFound("no such agent");
      return *out;
    });
  }

  Result<Agent> GetAgent(const std::string& tenant_id, const std::string& id) override {
    return Run("get agent", false,
               [&](soci::session& sql) { return GetAgentIn(sql, tenant_id, id, false); });
  }

  Result<std::vector<Agent>> ListAgents(const std::string& tenant_id,
                                        const AgentFilter& filter) override {
    return Run("list agents", false, [&](soci::session& sql) -> Result<std::vector<Agent>> {
      Params p;
      std::string q =
          fmt::format("SELECT {} FROM agents WHERE tenant_id = {}", kAgentCols, p.S(tenant_id));
      if (filter.online) q += fmt::format(" AND online = {}", p.I(*filter.online));
      if (filter.hostname) q += fmt::format(" AND hostname = {}", p.S(*filter.hostname));
      if (filter.policy_id) q += fmt::format(" AND policy_id = {}", p.S(*filter.policy_id));
      q += " ORDER BY created_at, id";
      std::vector<Agent> out;
      Select(sql, q, p, kAgentSig, [&](const Row& r) { out.push_back(AgentFrom(r)); });
      return out;
    });
  }

  Result<bool> RecordHeartbeat(const Agent& a) override {
    WARD_RETURN_IF_ERROR(CheckLen("agent.hostname", a.hostname, kNameMax));
    WARD_RETURN_IF_ERROR(CheckLen("agent.version", a.version, kNameMax));
    return Run("record heartbeat", true, [&](soci::session& sql) -> Result<bool> {
      WARD_ASSIGN_OR_RETURN(Agent before, GetAgentIn(sql, a.tenant_id, a.id, true));
      Params p;
      std::optional<long long> seen;
      if (a.last_seen) seen = Micros(*a.last_seen);
      Exec(sql,
           fmt::format("UPDATE agents SET last_seen = {}, online = 1, version = {}, hostname = {}, "
                       "status = {}, applied_policy_version = {} WHERE tenant_id = {} AND id = {}",
                       p.OptI(seen), p.S(a.version), p.S(a.hostname), p.S(DumpJson(a.status)),
                       p.I(a.applied_policy_version), p.S(a.tenant_id), p.S(a.id)),
           p);
      return !before.online;
    });
  }

  Status AssignPolicy(const std::string& tenant_id, const std::string& agent_id,
                      const std::optional<std::string>& policy_id) override {
    return RunStatus("assign policy", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetAgentIn(sql, tenant_id, agent_id, true).status());
      if (policy_id) {
        WARD_RETURN_IF_ERROR(RequireRow(sql, "policies", tenant_id, *policy_id, "policy"));
      }
      Params p;
      Exec(sql,
           fmt::format("UPDATE agents SET policy_id = {} WHERE tenant_id = {} AND id = {}",
                       p.OptS(policy_id), p.S(tenant_id), p.S(agent_id)),
           p);
      return Status::Ok();
    });
  }

  Status DeleteAgent(const std::string& tenant_id, const std::string& id) override {
    return RunStatus("delete agent", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", tenant_id, id, "agent"));
      Params c;
      Exec(sql,
           fmt::format("DELETE FROM commands WHERE tenant_id = {} AND agent_id = {}",
                       c.S(tenant_id), c.S(id)),
           c);
      Params p;
      Exec(sql,
           fmt::format("DELETE FROM agents WHERE tenant_id = {} AND id = {}", p.S(tenant_id),
                       p.S(id)),
           p);
      return Status::Ok();
    });
  }

  Result<std::vector<Agent>> MarkOffline(TimePoint now) override {
    return Run("mark offline", true, [&](soci::session& sql) -> Result<std::vector<Agent>> {
      Params p;
      std::vector<Agent> out;
      std::string cols;
      for (std::string_view c :
           {"id", "tenant_id", "hostname", "machine_id", "version", "credential_hash", "policy_id",
            "status", "applied_policy_version", "online", "last_seen", "created_at"}) {
        cols += (cols.empty() ? "a." : ", a.") + std::string(c);
      }
      Select(sql,
             fmt::format("SELECT {} FROM agents a JOIN tenants t ON t.id = a.tenant_id WHERE "
                         "a.online = 1 AND COALESCE(a.last_seen, a.created_at) + 3 * "
                         "t.heartbeat_s * 1000000 < {} ORDER BY a.tenant_id, a.id{}",
                         cols, p.I(Micros(now)), ForUpdate()),
             p, kAgentSig, [&](const Row& r) { out.push_back(AgentFrom(r)); });
      for (auto& a : out) {
        Params u;
        Exec(sql,
             fmt::format("UPDATE agents SET online = 0 WHERE tenant_id = {} AND id = {}",
                         u.S(a.tenant_id), u.S(a.id)),
             u);
        a.online = false;
      }
      return out;
    });
  }

  Result<int> DeleteInactiveAgents(const std::string& tenant_id, TimePoint cutoff) override {
    return Run("delete inactive agents", true, [&](soci::session& sql) -> Result<int> {
      Params p;
      std::vector<std::string> ids;
      Select(sql,
             fmt::format("SELECT id FROM agents WHERE tenant_id = {} AND online = 0 AND "
                         "COALESCE(last_seen, created_at) < {}{}",
                         p.S(tenant_id), p.I(Micros(cutoff)), ForUpdate()),
             p, "s", [&](const Row& r) { ids.push_back(r.S(0)); });
      for (const auto& id : ids) {
        Params c;
        Exec(sql,
             fmt::format("DELETE FROM commands WHERE tenant_id = {} AND agent_id = {}",
                         c.S(tenant_id), c.S(id)),
             c);
        Params d;
        Exec(sql,
             fmt::format("DELETE FROM agents WHERE tenant_id = {} AND id = {}", d.S(tenant_id),
                         d.S(id)),
             d);
      }
      return static_cast<int>(ids.size());
    });
  }

  Status CreatePolicy(const Policy& pol) override {
    WARD_RETURN_IF_ERROR(CheckId("policy.id", pol.id));
    WARD_RETURN_IF_ERROR(CheckLen("policy.name", pol.name, kNameMax));
    return RunStatus("create policy", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetTenantIn(sql, pol.tenant_id, false).status());
      Params p;
      Exec(sql,
           fmt::format("INSERT INTO policies ({}) VALUES ({}, {}, {}, {}, {}, {}, {})", kPolicyCols,
                       p.S(pol.id), p.S(pol.tenant_id), p.S(pol.name), p.S(DumpJson(pol.document)),
                       p.I(pol.version), p.I(Micros(pol.created_at)), p.I(Micros(pol.updated_at))),
           p);
      return Status::Ok();
    });
  }

  Result<Policy> GetPolicy(const std::string& tenant_id, const std::string& id) override {
    return Run("get policy", false,
               [&](soci::session& sql) { return GetPolicyIn(sql, tenant_id, id, false); });
  }

  Result<std::vector<Policy>> ListPolicies(const std::string& tenant_id) override {
    return Run("list policies", false, [&](soci::session& sql) -> Result<std::vector<Policy>> {
      Params p;
      std::vector<Policy> out;
      Select(sql,
             fmt::format("SELECT {} FROM policies WHERE tenant_id = {} ORDER BY created_at, id",
                         kPolicyCols, p.S(tenant_id)),
             p, kPolicySig, [&](const Row& r) { out.push_back(PolicyFrom(r)); });
      return out;
    });
  }

  Result<Policy> UpdatePolicy(const std::string& tenant_id, const std::string& id,
                              const std::string& name, const nlohmann::json& document,
                              TimePoint now) override {
    WARD_RETURN_IF_ERROR(CheckLen("policy.name", name, kNameMax));
    return Run("update policy", true, [&](soci::session& sql) -> Result<Policy> {
      WARD_ASSIGN_OR_RETURN(Policy pol, GetPolicyIn(sql, tenant_id, id, true));
      Params p;
      Exec(sql,
           fmt::format("UPDATE policies SET name = {}, document = {}, version = version + 1, "
                       "updated_at = {} WHERE tenant_id = {} AND id = {}",
                       p.S(name), p.S(DumpJson(document)), p.I(Micros(now)), p.S(tenant_id),
                       p.S(id)),
           p);
      return GetPolicyIn(sql, tenant_id, id, false);
    });
  }

  Status DeletePolicy(const std::string& tenant_id, const std::string& id) override {
    return RunStatus("delete policy", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetPolicyIn(sql, tenant_id, id, true).status());
      Params a;
      long long agents = SelectInt(
          sql,
          fmt::format("SELECT COUNT(*) FROM agents WHERE tenant_id = {} AND policy_id = {}",
                      a.S(tenant_id), a.S(id)),
          a, 0);
      Params t;
      long long tokens = SelectInt(sql,
                                   fmt::format("SELECT COUNT(*) FROM activation_tokens WHERE "
                                               "tenant_id = {} AND policy_id = {} AND revoked = 0",
                                               t.S(tenant_id), t.S(id)),
                                   t, 0);
      if (agents > 0 || tokens > 0) {
        return FailedPrecondition(fmt::format(
            "policy is in use by {} agent(s) and {} activation token(s)", agents, tokens));
      }
      Params p;
      Exec(sql,
           fmt::format("DELETE FROM policies WHERE tenant_id = {} AND id = {}", p.S(tenant_id),
                       p.S(id)),
           p);
      return Status::Ok();
    });
  }

  Status QueueCommand(const Command& c) override {
    WARD_RETURN_IF_ERROR(CheckId("command.id", c.id));
    WARD_RETURN_IF_ERROR(CheckLen("command.name", c.name, kNameMax));
    return RunStatus("queue command", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", c.tenant_id, c.agent_id, "agent"));
      Params p;
      std::optional<std::string> result;
      if (!c.result.is_null()) result = DumpJson(c.result);
      Exec(sql,
           fmt::format("INSERT INTO commands ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                       kCommandCols, p.S(c.id), p.S(c.tenant_id), p.S(c.agent_id), p.S(c.name),
                       p.S(DumpJson(c.args)), p.OptS(result), p.I(StateCode(c.state)),
                       p.I(Micros(c.created_at))),
           p);
      return Status::Ok();
    });
  }

  Result<std::vector<Command>> TakeCommands(const std::string& tenant_id,
                                            const std::string& agent_id) override {
    return Run("take commands", true, [&](soci::session& sql) -> Result<std::vector<Command>> {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", tenant_id, agent_id, "agent"));
      Params p;
      std::vector<Command> out;
      Select(sql,
             fmt::format("SELECT {} FROM commands WHERE tenant_id = {} AND agent_id = {} AND "
                         "state = 0 ORDER BY created_at, id{}",
                         kCommandCols, p.S(tenant_id), p.S(agent_id), ForUpdate()),
             p, kCommandSig, [&](const Row& r) { out.push_back(CommandFrom(r)); });
      for (auto& c : out) {
        Params u;
        Exec(sql,
             fmt::format("UPDATE commands SET state = 1 WHERE tenant_id = {} AND id = {}",
                         u.S(tenant_id), u.S(c.id)),
             u);
        c.state = CommandState::kDelivered;
      }
      return out;
    });
  }

  Status CompleteCommand(const std::string& tenant_id, const std::string& agent_id,
                         const std::string& id, bool ok, const nlohmann::json& result) override {
    return RunStatus("complete command", true, [&](soci::session& sql) -> Status {
      Params q;
      long long n = SelectInt(sql,
                              fmt::format("SELECT COUNT(*) FROM commands WHERE tenant_id = {} AND "
                                          "agent_id = {} AND id = {}",
                                          q.S(tenant_id), q.S(agent_id), q.S(id)),
                              q, 0);
      if (n == 0) return NotFound("no such command");
      Params p;
      Exec(sql,
           fmt::format("UPDATE commands SET state = {}, result = {} WHERE tenant_id = {} AND "
                       "agent_id = {} AND id = {}",
                       p.I(ok ? 2 : 3), p.S(DumpJson(result)), p.S(tenant_id), p.S(agent_id),
                       p.S(id)),
           p);
      return Status::Ok();
    });
  }

  Result<std::vector<Command>> ListCommands(const std::string& tenant_id,
                                            const std::string& agent_id) override {
    return Run("list commands", false, [&](soci::session& sql) -> Result<std::vector<Command>> {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", tenant_id, agent_id, "agent"));
      Params p;
      std::vector<Command> out;
      Select(sql,
             fmt::format("SELECT {} FROM commands WHERE tenant_id = {} AND agent_id = {} ORDER BY "
                         "created_at, id",
                         kCommandCols, p.S(tenant_id), p.S(agent_id)),
             p, kCommandSig, [&](const Row& r) { out.push_back(CommandFrom(r)); });
      return out;
    });
  }

  Result<IngestResult> InsertEvents(const std::vector<StoredEvent>& events) override;
  Result<std::vector<StoredEvent>> QueryEvents(const std::string& tenant_id,
                                               const EventQuery& q) override;
  Result<std::vector<EventCount>> CountEvents(const std::string& tenant_id, const EventQuery& q,
                                              std::chrono::seconds bucket) override;
  Result<int64_t> DeleteEventsBefore(const std::string& tenant_id, TimePoint cutoff,
                                     int batch) override;

  Status AppendAudit(const AuditEntry& e) override {
    WARD_RETURN_IF_ERROR(CheckId("audit.id", e.id));
    WARD_RETURN_IF_ERROR(CheckId("audit.tenant_id", e.tenant_id));
    WARD_RETURN_IF_ERROR(CheckLen("audit.actor", e.actor, kNameMax));
    WARD_RETURN_IF_ERROR(CheckLen("audit.method", e.method, kNameMax));
    return RunStatus("append audit", true, [&](soci::session& sql) -> Status {
      Params p;
      Exec(sql,
           fmt::format("INSERT INTO audit ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {})", kAuditCols,
                       p.S(e.id), p.S(e.tenant_id), p.S(e.actor), p.S(e.method), p.S(NoNul(e.path)),
                       p.S(DumpJson(e.detail)), p.I(e.status), p.I(Micros(e.at))),
           p);
      return Status::Ok();
    });
  }

  Result<std::vector<AuditEntry>> QueryAudit(const std::string& tenant_id,
                                             std::optional<std::pair<TimePoint, std::string>> after,
                                             int limit) override {
    limit = std::clamp(limit, 1, 10000);
    return Run("query audit", false, [&](soci::session& sql) -> Result<std::vector<AuditEntry>> {
      Params p;
      std::string q =
          fmt::format("SELECT {} FROM audit WHERE tenant_id = {}", kAuditCols, p.S(tenant_id));
      if (after) {
        long long at = Micros(after->first);
        q += fmt::format(" AND at >= {} AND (at > {} OR id > {})", p.I(at), p.I(at),
                         p.S(after->second));
      }
      q += fmt::format(" ORDER BY at, id LIMIT {}", limit);
      std::vector<AuditEntry> out;
      Select(sql, q, p, kAuditSig, [&](const Row& r) { out.push_back(AuditFrom(r)); });
      return out;
    });
  }

  Result<bool> TryAcquireLease(const std::string& name, const std::string& holder, TimePoint now,
                               std::chrono::seconds ttl) override {
    WARD_RETURN_IF_ERROR(CheckLen("lease.name", name, kNameMax));
    WARD_RETURN_IF_ERROR(CheckLen("lease.holder", holder, kNameMax));
    long long now_us = Micros(now);
    long long until = now_us + std::chrono::duration_cast<std::chrono::microseconds>(ttl).count();
    return Run("acquire lease", true, [&](soci::session& sql) -> Result<bool> {
      Params u;
      Exec(sql,
           fmt::format("UPDATE leases SET holder = {}, expires_at = {} WHERE name = {} AND "
                       "(expires_at <= {} OR holder = {})",
                       u.S(holder), u.I(until), u.S(name), u.I(now_us), u.S(holder)),
           u);
      Params i;
      Exec(sql,
           fmt::format("{} INTO leases (name, holder, expires_at) VALUES ({}, {}, {}){}",
                       InsertIgnore(), i.S(name), i.S(holder), i.I(until), OnConflictIgnore()),
           i);
      Params s;
      bool mine = false;
      Select(sql, fmt::format("SELECT holder, expires_at FROM leases WHERE name = {}", s.S(name)),
             s, "si", [&](const Row& r) { mine = r.S(0) == holder && r.I(1) == until; });
      return mine;
    });
  }

  Status ReleaseLease(const std::string& name, const std::string& holder) override {
    return RunStatus("release lease", true, [&](soci::session& sql) -> Status {
      Params p;
      Exec(
          sql,
          fmt::format("DELETE FROM leases WHERE name = {} AND holder = {}", p.S(name), p.S(holder)),
          p);
      return Status::Ok();
    });
  }

  Status CreateUser(const User& u) override {
    WARD_RETURN_IF_ERROR(CheckId("user.id", u.id));
    WARD_RETURN_IF_ERROR(CheckLen("user.username", u.username, kNameMax));
    WARD_RETURN_IF_ERROR(CheckLen("user.password_hash", u.password_hash, kNameMax));
    WARD_RETURN_IF_ERROR(CheckId("user.language", u.language));
    return RunStatus("create user", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(GetTenantIn(sql, u.tenant_id, false).status());
      Params c;
      if (SelectInt(sql,
                    fmt::format("SELECT COUNT(*) FROM users WHERE username = {}", c.S(u.username)),
                    c, 0) > 0) {
        return AlreadyExists("user name taken");
      }
      Params p;
      Exec(sql,
           fmt::format("INSERT INTO users ({}) VALUES ({}, {}, {}, {}, {}, {}, {})", kUserCols,
                       p.S(u.id), p.S(u.tenant_id), p.S(u.username),
                       p.S(std::string(RoleName(u.role))), p.S(u.password_hash), p.S(u.language),
                       p.I(Micros(u.created_at))),
           p);
      return Status::Ok();
    });
  }

  Result<User> GetUser(const std::string& tenant_id, const std::string& id) override {
    return Run("get user", false, [&](soci::session& sql) -> Result<User> {
      Params p;
      std::optional<User> out;
      Select(sql,
             fmt::format("SELECT {} FROM users WHERE tenant_id = {} AND id = {}", kUserCols,
                         p.S(tenant_id), p.S(id)),
             p, kUserSig, [&](const Row& r) { out = UserFrom(r); });
      if (!out) return NotFound("no such user");
      return *out;
    });
  }

  Result<User> FindUserByName(const std::string& username) override {
    return Run("find user", false, [&](soci::session& sql) -> Result<User> {
      Params p;
      std::optional<User> out;
      Select(sql, fmt::format("SELECT {} FROM users WHERE username = {}", kUserCols, p.S(username)),
             p, kUserSig, [&](const Row& r) { out = UserFrom(r); });
      if (!out) return NotFound("no such user");
      return *out;
    });
  }

  Result<std::vector<User>> ListUsers(const std::string& tenant_id) override {
    return Run("list users", false, [&](soci::session& sql) -> Result<std::vector<User>> {
      Params p;
      std::vector<User> out;
      Select(sql,
             fmt::format("SELECT {} FROM users WHERE tenant_id = {} ORDER BY created_at, id",
                         kUserCols, p.S(tenant_id)),
             p, kUserSig, [&](const Row& r) { out.push_back(UserFrom(r)); });
      return out;
    });
  }

  Status UpdateUser(const User& u) override {
    WARD_RETURN_IF_ERROR(CheckLen("user.password_hash", u.password_hash, kNameMax));
    WARD_RETURN_IF_ERROR(CheckId("user.language", u.language));
    return RunStatus("update user", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "users", u.tenant_id, u.id, "user"));
      Params p;
      Exec(sql,
           fmt::format("UPDATE users SET role = {}, password_hash = {}, language = {} WHERE "
                       "tenant_id = {} AND id = {}",
                       p.S(std::string(RoleName(u.role))), p.S(u.password_hash), p.S(u.language),
                       p.S(u.tenant_id), p.S(u.id)),
           p);
      return Status::Ok();
    });
  }

  Status DeleteUser(const std::string& tenant_id, const std::string& id) override {
    return RunStatus("delete user", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "users", tenant_id, id, "user"));
      Params s;
      Exec(sql,
           fmt::format("DELETE FROM sessions WHERE tenant_id = {} AND user_id = {}", s.S(tenant_id),
                       s.S(id)),
           s);
      Params p;
      Exec(sql,
           fmt::format("DELETE FROM users WHERE tenant_id = {} AND id = {}", p.S(tenant_id),
                       p.S(id)),
           p);
      return Status::Ok();
    });
  }

  Status CreateSession(const UserSession& s) override {
    WARD_RETURN_IF_ERROR(CheckId("session.id", s.id));
    WARD_RETURN_IF_ERROR(CheckId("session.token_hash", s.token_hash));
    return RunStatus("create session", true, [&](soci::session& sql) -> Status {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "users", s.tenant_id, s.user_id, "user"));
      Params p;
      Exec(sql,
           fmt::format("INSERT INTO sessions ({}) VALUES ({}, {}, {}, {}, {}, {}, {})",
                       kSessionCols, p.S(s.id), p.S(s.token_hash), p.S(s.tenant_id), p.S(s.user_id),
                       p.I(Micros(s.created_at)), p.I(Micros(s.last_seen)),
                       p.I(Micros(s.expires_at))),
           p);
      return Status::Ok();
    });
  }

  Result<UserSession> FindSessionByHash(const std::string& token_hash) override {
    return Run("find session", false, [&](soci::session& sql) -> Result<UserSession> {
      Params p;
      std::optional<UserSession> out;
      Select(sql,
             fmt::format("SELECT {} FROM sessions WHERE token_hash = {}", kSessionCols,
                         p.S(token_hash)),
             p, kSessionSig, [&](const Row& r) { out = SessionFrom(r); });
      if (!out) return NotFound("no such session");
      return *out;
    });
  }

  Status TouchSession(const std::string& id, TimePoint last_seen) override {
    return RunStatus("touch session", true, [&](soci::session& sql) -> Status {
      Params p;
      Exec(sql,
           fmt::format("UPDATE sessions SET last_seen = {} WHERE id = {}", p.I(Micros(last_seen)),
                       p.S(id)),
           p);
      return Status::Ok();
    });
  }

  Status DeleteSession(const std::string& id) override {
    return RunStatus("delete session", true, [&](soci::session& sql) -> Status {
      Params p;
      Exec(sql, fmt::format("DELETE FROM sessions WHERE id = {}", p.S(id)), p);
      return Status::Ok();
    });
  }

  Result<int64_t> DeleteExpiredSessions(TimePoint now, TimePoint idle_cutoff) override {
    return Run("delete expired sessions", true, [&](soci::session& sql) -> Result<int64_t> {
      Params c;
      std::string where = fmt::format("expires_at <= {} OR last_seen < {}", c.I(Micros(now)),
                                      c.I(Micros(idle_cutoff)));
      int64_t n = SelectInt(sql, "SELECT COUNT(*) FROM sessions WHERE " + where, c, 0);
      Params p;
      Exec(sql,
           fmt::format("DELETE FROM sessions WHERE expires_at <= {} OR last_seen < {}",
                       p.I(Micros(now)), p.I(Micros(idle_cutoff))),
           p);
      return n;
    });
  }

 private:
  static int StateCode(CommandState s) {
    switch (s) {
      case CommandState::kQueued:
        return 0;
      case CommandState::kDelivered:
        return 1;
      case CommandState::kCompleted:
        return 2;
      case CommandState::kFailed:
        return 3;
    }
    return 0;
  }

  std::string ForUpdate() const { return d_ == Dialect::kSqlite ? "" : " FOR UPDATE"; }
  std::string InsertIgnore() const { return d_ == Dialect::kMysql ? "INSERT IGNORE" : "INSERT"; }
  std::string OnConflictIgnore() const {
    return d_ == Dialect::kMysql ? "" : " ON CONFLICT DO NOTHING";
  }

  Result<Tenant> GetTenantIn(soci::session& sql, const std::string& id, bool lock) {
    Params p;
    std::optional<Tenant> out;
    Select(sql,
           fmt::format("SELECT {} FROM tenants WHERE id = {}{}", kTenantCols, p.S(id),
                       lock ? ForUpdate() : ""),
           p, kTenantSig, [&](const Row& r) { out = TenantFrom(r); });
    if (!out) return NotFound("no such tenant");
    return *out;
  }

  Result<Agent> GetAgentIn(soci::session& sql, const std::string& tenant_id, const std::string& id,
                           bool lock) {
    Params p;
    std::optional<Agent> out;
    Select(sql,
           fmt::format("SELECT {} FROM agents WHERE tenant_id = {} AND id = {}{}", kAgentCols,
                       p.S(tenant_id), p.S(id), lock ? ForUpdate() : ""),
           p, kAgentSig, [&](const Row& r) { out = AgentFrom(r); });
    if (!out) return NotFound("no such agent");
    return *out;
  }

  Result<Policy> GetPolicyIn(soci::session& sql, const std::string& tenant_id,
                             const std::string& id, bool lock) {
    Params p;
    std::optional<Policy> out;
    Select(sql,
           fmt::format("SELECT {} FROM policies WHERE tenant_id = {} AND id = {}{}", kPolicyCols,
                       p.S(tenant_id), p.S(id), lock ? ForUpdate() : ""),
           p, kPolicySig, [&](const Row& r) { out = PolicyFrom(r); });
    if (!out) return NotFound("no such policy");
    return *out;
  }

  // kNotFound("no such <what>") unless `table` has row `id` in `tenant_id` (locked for update).
  Status RequireRow(soci::session& sql, std::string_view table, const std::string& tenant_id,
                    const std::string& id, std::string_view what) {
    Params p;
    long long n = SelectInt(sql,
                            fmt::format("SELECT COUNT(*) FROM {} WHERE tenant_id = {} AND id = {}",
                                        table, p.S(tenant_id), p.S(id)),
                            p, 0);
    if (n == 0) return NotFound(fmt::format("no such {}", what));
    return Status::Ok();
  }

  long long CurrentVersion(soci::session& sql) {
    Params p;
    std::string exists;
    switch (d_) {
      case Dialect::kSqlite:
        exists =
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'";
        break;
      case Dialect::kPostgres:
        exists =
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name = 'schema_version'";
        break;
      case Dialect::kMysql:
        exists =
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND "
            "table_name = 'schema_version'";
        break;
    }
    if (SelectInt(sql, exists, p, 0) == 0) return 0;
    Params q;
    return SelectInt(sql, "SELECT COALESCE(MAX(version), 0) FROM schema_version", q, 0);
  }

  void Begin(soci::session& sql) {
    if (d_ == Dialect::kSqlite) {
      sql << "BEGIN IMMEDIATE";
    } else {
      sql.begin();
    }
  }

  // Runs f(session) on a pooled session, inside a transaction when `txn` (committed when f
  // succeeds, rolled back otherwise). A broken connection or a deadlock before commit is retried
  // on a fresh session; a failure during COMMIT is not (its outcome is unknown).
  template <typename F>
  auto Run(std::string_view what, bool txn, F&& f) -> decltype(f(std::declval<soci::session&>())) {
    using R = decltype(f(std::declval<soci::session&>()));
    for (int attempt = 0;; ++attempt) {
      std::unique_lock<std::mutex> write_lock;
      if (txn && d_ == Dialect::kSqlite) write_lock = std::unique_lock(sqlite_write_mu_);
      auto lease = pool_.Acquire();
      if (!lease.has_value()) return R(lease.error().WithContext(what));
      soci::session& sql = lease->session();
      bool committing = false;
      try {
        if (txn) Begin(sql);
        R r = f(sql);
        if (txn) {
          if (IsOk(r)) {
            committing = true;
            sql.commit();
          } else {
            sql.rollback();
          }
        }
        return r;
      } catch (const std::exception& e) {
        DbError err = Classify(d_, e, &sql);
        if (txn && !committing) {
          try {
            sql.rollback();
          } catch (...) {
            err.broken = true;
          }
        }
        if (err.broken) lease->MarkBroken();
        if (attempt < 2 && !committing && (err.broken || err.retryable)) continue;
        return R(err.status.WithContext(what));
      }
    }
  }

  template <typename F>
  Status RunStatus(std::string_view what, bool txn, F&& f) {
    return Run(what, txn, std::forward<F>(f));
  }

  Status EnsurePartitions(const std::set<long long>& days);
  // SQLite events: one writer connection, group commit (docs/manager-store.md, "Events").
  struct PendingInsert {
    const std::vector<StoredEvent>* events;
    const std::vector<long long>* ts;
    const std::vector<std::string>* docs;
    std::optional<Result<IngestResult>> result;
  };
  Result<IngestResult> InsertEventsSqlite(const std::vector<StoredEvent>& events,
                                          const std::vector<long long>& ts,
                                          const std::vector<std::string>& docs);
  std::vector<Result<IngestResult>> WriteSqliteGroup(const std::vector<PendingInsert*>& group);
  Status OpenSqliteWriter();
  void CloseSqliteWriter();
  // PostgreSQL events: COPY into a per-session staging table, then one INSERT ... SELECT.
  IngestResult InsertEventsCopy(soci::session& sql, const std::vector<StoredEvent>& events,
                                const std::vector<long long>& ts,
                                const std::vector<std::string>& docs);
  Result<int64_t> DeletePostgres(const std::string& tenant_id, long long cutoff, int batch);
  std::string EventWhere(const std::string& tenant_id, const EventQuery& q, Params& p) const;

  SessionPool pool_;
  Dialect d_;
  std::mutex sqlite_write_mu_;  // one SQLite write transaction at a time in this process
  std::mutex group_mu_;         // guards group_queue_, group_leader_, PendingInsert::result
  std::condition_variable group_cv_;
  std::deque<PendingInsert*> group_queue_;
  bool group_leader_ = false;
  // The SQLite event writer (guarded by sqlite_write_mu_): its own connection and the insert
  // statement, prepared once.
  std::unique_ptr<soci::session> sqlite_writer_;
  sqlite_api::sqlite3_stmt* sqlite_insert_ = nullptr;
  std::mutex partitions_mu_;
  std::set<long long> known_partitions_;
};

Status SociStore::Migrate() {
  auto lease = pool_.Acquire();
  if (!lease.has_value()) return lease.error().WithContext("migrate");
  soci::session& sql = lease->session();
  bool mysql_locked = false;
  try {
    if (d_ == Dialect::kMysql) {
      Params p;
      if (SelectInt(sql, "SELECT GET_LOCK('ward_migrate', 120)", p, 0) != 1) {
        return Unavailable("migrate: another node holds the migration lock");
      }
      mysql_locked = true;
    } else {
      Begin(sql);
      if (d_ == Dialect::kPostgres) sql << "SELECT pg_advisory_xact_lock(7271004119)";
    }
    for (const auto& stmt : SchemaVersionTable(d_)) sql << stmt;
    long long current = CurrentVersion(sql);
    const auto& migrations = Migrations();
    if (current > static_cast<long long>(migrations.size())) {
      if (d_ != Dialect::kMysql) sql.rollback();
      if (mysql_locked) sql << "SELECT RELEASE_LOCK('ward_migrate')";
      return FailedPrecondition(
          fmt::format("migrate: the database is at schema version {}, newer than this build ({})",
                      current, migrations.size()));
    }
    for (size_t v = static_cast<size_t>(current) + 1; v <= migrations.size(); ++v) {
      const Migration& m = migrations[v - 1];
      for (const auto& stmt : m.statements(d_)) sql << stmt;
      Params p;
      Exec(sql,
           fmt::format("INSERT INTO schema_version (version, description, applied_at) VALUES ({}, "
                       "{}, {})",
                       p.I(static_cast<long long>(v)), p.S(m.description),
                       p.I(Micros(std::chrono::system_clock::now()))),
           p);
    }
    if (d_ == Dialect::kMysql) {
      sql << "SELECT RELEASE_LOCK('ward_migrate')";
    } else {
      sql.commit();
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    DbError err = Classify(d_, e, &sql);
    try {
      if (d_ == Dialect::kMysql) {
        if (mysql_locked) sql << "SELECT RELEASE_LOCK('ward_migrate')";
      } else {
        sql.rollback();
      }
    } catch (...) {
      lease->MarkBroken();
    }
    if (err.broken) lease->MarkBroken();
    return err.status.WithContext("migrate");
  }
}

Status SociStore::EnsurePartitions(const std::set<long long>& days) {
  std::vector<long long> missing;
  {
    std::lock_guard lock(partitions_mu_);
    for (long long d : days) {
      if (!known_partitions_.count(d)) missing.push_back(d);
    }
  }
  if (missing.empty()) return Status::Ok();
  // One day ahead of the newest so the next day's first batch does not wait for DDL.
  missing.push_back(missing.back() + 1);
  Status st = RunStatus("create event partitions", true, [&](soci::session& sql) -> Status {
    sql << "SELECT pg_advisory_xact_lock(7271004120)";
    for (long long d : missing) {
      sql << fmt::format(
          "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ({}) TO ({})",
          PartitionName(d), d * kMicrosPerDay, (d + 1) * kMicrosPerDay);
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  std::lock_guard lock(partitions_mu_);
  known_partitions_.insert(missing.begin(), missing.end());
  return Status::Ok();
}

Result<IngestResult> SociStore::InsertEvents(const std::vector<StoredEvent>& events) {
  IngestResult result;
  if (events.empty()) return result;
  std::set<long long> days;
  std::vector<long long> ts(events.size());
  std::vector<std::string> docs(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const StoredEvent& e = events[i];
    std::string where = fmt::format("event[{}]", i);
    WARD_RETURN_IF_ERROR(CheckId("tenant_id", e.tenant_id).WithContext(where));
    WARD_RETURN_IF_ERROR(CheckId("event.id", e.id).WithContext(where));
    WARD_RETURN_IF_ERROR(CheckLen("agent.id", e.agent_id, kIdMax).WithContext(where));
    WARD_RETURN_IF_ERROR(CheckLen("event.module", e.module, kIdMax).WithContext(where));
    WARD_RETURN_IF_ERROR(CheckLen("event.action", e.action, kNameMax).WithContext(where));
    ts[i] = Micros(e.timestamp);
    if (ts[i] < 0 || ts[i] >= kMaxMicros) {
      return InvalidArgument(fmt::format("{}: @timestamp outside 1970-01-01 .. 2200-01-01", where));
    }
    days.insert(ts[i] / kMicrosPerDay);
    if (e.doc_text.empty()) {
      docs[i] = DumpJson(e.doc);
    } else {
      // The caller's serialisation, stored as is (it was validated as JSON by the caller).
      if (e.doc_text.find('\0') != std::string::npos) {
        return InvalidArgument(fmt::format("{}: document contains a NUL byte", where));
      }
      if (e.doc_text.size() > kMaxDocText) {
        return InvalidArgument(
            fmt::format("{}: document longer than {} bytes", where, kMaxDocText));
      }
      docs[i] = e.doc_text;
    }
  }
  if (d_ == Dialect::kSqlite) return InsertEventsSqlite(events, ts, docs);
  constexpr size_t kRowsPerStatement = 250;
  for (int attempt = 0;; ++attempt) {
    if (d_ == Dialect::kPostgres) WARD_RETURN_IF_ERROR(EnsurePartitions(days));
    auto r = Run("insert events", true, [&](soci::session& sql) -> Result<IngestResult> {
      if (d_ == Dialect::kPostgres) return InsertEventsCopy(sql, events, ts, docs);
      long long inserted = 0;
      for (size_t start = 0; start < events.size(); start += kRowsPerStatement) {
        size_t end = std::min(events.size(), start + kRowsPerStatement);
        Params p;
        std::string q = fmt::format(
            "{} INTO events (tenant_id, id, agent_id, ts, module, action, severity, path, rule, "
            "doc) VALUES ",
            InsertIgnore());
        for (size_t i = start; i < end; ++i) {
          const StoredEvent& e = events[i];
          if (i != start) q += ", ";
          q += fmt::format("({}, {}, {}, {}, {}, {}, {}, {}, {}, {})", p.S(e.tenant_id), p.S(e.id),
                           p.S(e.agent_id), p.I(ts[i]), p.S(NoNul(e.module)), p.S(NoNul(e.action)),
                           p.I(e.severity), p.S(NoNul(e.path)), p.S(NoNul(e.rule)), p.S(docs[i]));
        }
        q += OnConflictIgnore();
        inserted += Exec(sql, q, p);
      }
      IngestResult out;
      out.accepted = static_cast<int>(inserted);
      out.duplicates = static_cast<int>(events.size()) - out.accepted;
      return out;
    });
    // A partition dropped by another node's retention run: forget what we knew and retry once.
    if (!r.has_value() && d_ == Dialect::kPostgres && attempt == 0 &&
        r.error().message().find("no partition") != std::string::npos) {
      std::lock_guard lock(partitions_mu_);
      known_partitions_.clear();
      continue;
    }
    return r;
  }
}

// ---- PostgreSQL: COPY ----

namespace {

// Appends `v` as one field of COPY's text format: backslash, tab, newline and carriage return
// escaped; NUL bytes dropped (TEXT cannot hold them; the columns are NUL-free already).
void CopyField(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\0':
        break;
      default:
        out.push_back(c);
    }
  }
}

[[noreturn]] void ThrowPq(PGconn* conn, PGresult* res, std::string_view what) {
  std::string msg = fmt::format("{}: {}", what, PQerrorMessage(conn));
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string st = state != nullptr ? state : (PQstatus(conn) == CONNECTION_OK ? "XX000" : "08006");
  if (res != nullptr) PQclear(res);
  throw soci::postgresql_soci_error(msg, st.c_str());
}

// Runs one command that returns no rows; returns its affected-row count.
long long PqCommand(PGconn* conn, const char* sql) {
  PGresult* res = PQexec(conn, sql);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) ThrowPq(conn, res, "query");
  const char* n = PQcmdTuples(res);
  long long count = (n != nullptr && *n != '\0') ? std::atoll(n) : 0;
  PQclear(res);
  return count;
}

}  // namespace

IngestResult SociStore::InsertEventsCopy(soci::session& sql, const std::vector<StoredEvent>& events,
                                         const std::vector<long long>& ts,
                                         const std::vector<std::string>& docs) {
  PGconn* conn = static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
  // Per session (temporary tables are), emptied by every commit; IF NOT EXISTS makes it cheap
  // after the first batch.
  PqCommand(conn,
            "CREATE TEMP TABLE IF NOT EXISTS ward_events_stage (tenant_id TEXT, id TEXT, "
            "agent_id TEXT, ts BIGINT, module TEXT, action TEXT, severity INTEGER, path TEXT, "
            "rule TEXT, doc TEXT) ON COMMIT DELETE ROWS");
  PGresult* res = PQexec(conn,
                         "COPY ward_events_stage (tenant_id, id, agent_id, ts, module, action, "
                         "severity, path, rule, doc) FROM STDIN");
  if (PQresultStatus(res) != PGRES_COPY_IN) ThrowPq(conn, res, "COPY");
  PQclear(res);
  std::string buf;
  buf.reserve(256 * 1024);
  auto flush = [&] {
    if (PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) != 1) {
      ThrowPq(conn, nullptr, "COPY data");
    }
    buf.clear();
  };
  for (size_t i = 0; i < events.size(); ++i) {
    const StoredEvent& e = events[i];
    CopyField(buf, e.tenant_id);
    buf += '\t';
    CopyField(buf, e.id);
    buf += '\t';
    CopyField(buf, e.agent_id);
    buf += '\t';
    buf += std::to_string(ts[i]);
    buf += '\t';
    CopyField(buf, e.module);
    buf += '\t';
    CopyField(buf, e.action);
    buf += '\t';
    buf += std::to_string(e.severity);
    buf += '\t';
    CopyField(buf, e.path);
    buf += '\t';
    CopyField(buf, e.rule);
    buf += '\t';
    CopyField(buf, docs[i]);
    buf += '\n';
    if (buf.size() >= 200 * 1024) flush();
  }
  if (!buf.empty()) flush();
  if (PQputCopyEnd(conn, nullptr) != 1) ThrowPq(conn, nullptr, "COPY end");
  bool failed = false;
  PGresult* last_error = nullptr;
  while ((res = PQgetResult(conn)) != nullptr) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed) {
      failed = true;
      last_error = res;
      continue;
    }
    PQclear(res);
  }
  if (failed) ThrowPq(conn, last_error, "COPY");
  long long inserted = PqCommand(
      conn,
      "INSERT INTO events (tenant_id, id, agent_id, ts, module, action, severity, path, rule, doc) "
      "SELECT tenant_id, id, agent_id, ts, module, action, severity, path, rule, doc FROM "
      "ward_events_stage ON CONFLICT DO NOTHING");
  // The batch's own transaction empties the stage at commit; a rollback empties it too.
  IngestResult out;
  out.accepted = static_cast<int>(inserted);
  out.duplicates = static_cast<int>(events.size()) - out.accepted;
  return out;
}

// ---- SQLite: one writer, group commit ----

namespace {

Status SqliteStatus(sqlite_api::sqlite3* db, int rc, std::string_view what) {
  std::string msg = fmt::format("{}: {}", what, sqlite_api::sqlite3_errmsg(db));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return Unavailable(std::move(msg));
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return InvalidArgument(std::move(msg));
    default:
      return Internal(std::move(msg));
  }
}

Status SqliteExec(sqlite_api::sqlite3* db, const char* sql) {
  int rc = sqlite_api::sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, sql);
  return Status::Ok();
}

// Binds text that must outlive the step (SQLITE_STATIC); `scratch` holds a NUL-free copy when
// needed.
int BindText(sqlite_api::sqlite3_stmt* st, int pos, const std::string& v, std::string& scratch) {
  const std::string* p = &v;
  if (v.find('\0') != std::string::npos) {
    scratch = NoNul(v);
    p = &scratch;
  }
  return sqlite_api::sqlite3_bind_text(st, pos, p->data(), static_cast<int>(p->size()),
                                       SQLITE_STATIC);
}

}  // namespace

Status SociStore::OpenSqliteWriter() {
  if (sqlite_insert_ != nullptr) return Status::Ok();
  auto s = pool_.Connect();
  if (!s.has_value()) return s.error();
  sqlite_writer_ = std::move(s).value();
  auto* db = static_cast<soci::sqlite3_session_backend*>(sqlite_writer_->get_backend())->conn_;
  // Fewer, larger checkpoints (32 MB of WAL instead of 4 MB): a group commit writes megabytes at
  // once, and each checkpoint ends in an fsync of the database file.
  (void)SqliteExec(db, "PRAGMA wal_autocheckpoint = 8192");
  const char* q =
      "INSERT INTO events (tenant_id, id, agent_id, ts, module, action, severity, path, rule, "
      "doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
  int rc = sqlite_api::sqlite3_prepare_v3(db, q, -1, SQLITE_PREPARE_PERSISTENT, &sqlite_insert_,
                                          nullptr);
  if (rc != SQLITE_OK) {
    Status st = SqliteStatus(db, rc, "prepare event insert");
    CloseSqliteWriter();
    return st;
  }
  return Status::Ok();
}

void SociStore::CloseSqliteWriter() {
  if (sqlite_insert_ != nullptr) sqlite_api::sqlite3_finalize(sqlite_insert_);
  sqlite_insert_ = nullptr;
  sqlite_writer_.reset();
}

// Every caller queues its batch; whoever finds no writer at work becomes the writer and commits
// everything queued so far (its own batch included) in one transaction, each batch inside its
// own savepoint. Each caller returns only once the transaction holding its batch has committed,
// so a success still means "on disk" (WAL, synchronous=NORMAL), and a batch that fails is rolled
// back to its savepoint without touching the others.
Result<IngestResult> SociStore::InsertEventsSqlite(const std::vector<StoredEvent>& events,
                                                   const std::vector<long long>& ts,
                                                   const std::vector<std::string>& docs) {
  constexpr size_t kMaxGroupEvents = 20'000;
  PendingInsert me{&events, &ts, &docs, std::nullopt};
  std::unique_lock lock(group_mu_);
  group_queue_.push_back(&me);
  while (!me.result.has_value()) {
    if (group_leader_) {
      group_cv_.wait(lock);
      continue;
    }
    group_leader_ = true;
    std::vector<PendingInsert*> group;
    size_t rows = 0;
    while (!group_queue_.empty() &&
           (group.empty() || rows + group_queue_.front()->events->size() <= kMaxGroupEvents)) {
      rows += group_queue_.front()->events->size();
      group.push_back(group_queue_.front());
      group_queue_.pop_front();
    }
    lock.unlock();
    std::vector<Result<IngestResult>> results;
    try {
      results = WriteSqliteGroup(group);
    } catch (const std::exception& e) {
      // Never leave the queue without a writer (its callers would wait forever), nor the
      // writer inside a transaction: closing its connection rolls the group back.
      {
        std::lock_guard write_lock(sqlite_write_mu_);
        CloseSqliteWriter();
      }
      results.assign(group.size(),
                     Result<IngestResult>(Internal(fmt::format("insert events: {}", e.what()))));
    }
    lock.lock();
    for (size_t i = 0; i < group.size(); ++i) group[i]->result = std::move(results[i]);
    group_leader_ = false;
    group_cv_.notify_all();
  }
  return std::move(*me.result);
}

std::vector<Result<IngestResult>> SociStore::WriteSqliteGroup(
    const std::vector<PendingInsert*>& group) {
  std::vector<Result<IngestResult>> out;
  auto all = [&](const Status& st) {
    out.assign(group.size(), Result<IngestResult>(st.WithContext("insert events")));
    return out;
  };
  std::lock_guard write_lock(sqlite_write_mu_);
  if (Status st = OpenSqliteWriter(); !st.ok()) return all(st);
  auto* db = static_cast<soci::sqlite3_session_backend*>(sqlite_writer_->get_backend())->conn_;
  sqlite_api::sqlite3_stmt* ins = sqlite_insert_;
  if (Status st = SqliteExec(db, "BEGIN IMMEDIATE"); !st.ok()) return all(st);
  out.reserve(group.size());
  std::string scratch[5];
  for (const PendingInsert* p : group) {
    Status st = SqliteExec(db, "SAVEPOINT ward_batch");
    long long inserted = 0;
    for (size_t i = 0; st.ok() && i < p->events->size(); ++i) {
      const StoredEvent& e = (*p->events)[i];
      const std::string& doc = (*p->docs)[i];
      int rc = SQLITE_OK;
      auto bind = [&](int r) {
        if (rc == SQLITE_OK) rc = r;
      };
      bind(BindText(ins, 1, e.tenant_id, scratch[0]));
      bind(BindText(ins, 2, e.id, scratch[0]));
      bind(BindText(ins, 3, e.agent_id, scratch[0]));
      bind(sqlite_api::sqlite3_bind_int64(ins, 4, (*p->ts)[i]));
      bind(BindText(ins, 5, e.module, scratch[1]));
      bind(BindText(ins, 6, e.action, scratch[2]));
      bind(sqlite_api::sqlite3_bind_int64(ins, 7, e.severity));
      bind(BindText(ins, 8, e.path, scratch[3]));
      bind(BindText(ins, 9, e.rule, scratch[4]));
      bind(sqlite_api::sqlite3_bind_text(ins, 10, doc.data(), static_cast<int>(doc.size()),
                                         SQLITE_STATIC));
      if (rc == SQLITE_OK) rc = sqlite_api::sqlite3_step(ins);
      if (rc == SQLITE_DONE) {
        inserted += sqlite_api::sqlite3_changes(db);
      } else {
        st = SqliteStatus(db, rc, fmt::format("event[{}]", i));
      }
      sqlite_api::sqlite3_reset(ins);
      sqlite_api::sqlite3_clear_bindings(ins);
    }
    if (sqlite_api::sqlite3_get_autocommit(db) != 0) {
      // The error ended the whole transaction (e.g. disk full, I/O error): nothing of the group
      // was kept, so every batch gets the error.
      if (st.ok()) st = Internal("transaction ended unexpectedly");
      return all(st);
    }
    if (st.ok()) {
      st = SqliteExec(db, "RELEASE ward_batch");
    } else {
      Status undo = SqliteExec(db, "ROLLBACK TO ward_batch");
      if (undo.ok()) undo = SqliteExec(db, "RELEASE ward_batch");
      if (!undo.ok()) {
        (void)SqliteExec(db, "ROLLBACK");
        return all(undo);
      }
    }
    if (st.ok()) {
      IngestResult r;
      r.accepted = static_cast<int>(inserted);
      r.duplicates = static_cast<int>(p->events->size()) - r.accepted;
      out.emplace_back(r);
    } else {
      out.emplace_back(st.WithContext("insert events"));
    }
  }
  if (Status st = SqliteExec(db, "COMMIT"); !st.ok()) {
    (void)SqliteExec(db, "ROLLBACK");
    CloseSqliteWriter();
    return all(Unavailable(fmt::format("commit: {}", st.message())));
  }
  return out;
}

std::string SociStore::EventWhere(const std::string& tenant_id, const EventQuery& q,
                                  Params& p) const {
  std::string w = fmt::format(" WHERE tenant_id = {}", p.S(tenant_id));
  if (q.from) w += fmt::format(" AND ts >= {}", p.I(Micros(*q.from)));
  if (q.to) w += fmt::format(" AND ts < {}", p.I(Micros(*q.to)));
  if (q.agent_id) w += fmt::format(" AND agent_id = {}", p.S(*q.agent_id));
  if (q.module) w += fmt::format(" AND module = {}", p.S(*q.module));
  if (q.min_severity) w += fmt::format(" AND severity >= {}", p.I(*q.min_severity));
  if (q.action) w += fmt::format(" AND action = {}", p.S(*q.action));
  if (q.text && !q.text->empty()) {
    std::string t = NoNul(*q.text);
    switch (d_) {
      case Dialect::kSqlite:
        w += fmt::format(" AND (instr(path, {}) > 0 OR instr(rule, {}) > 0)", p.S(t), p.S(t));
        break;
      case Dialect::kPostgres:
        w += fmt::format(" AND (strpos(path, {}) > 0 OR strpos(rule, {}) > 0)", p.S(t), p.S(t));
        break;
      case Dialect::kMysql:
        w += fmt::format(" AND (LOCATE({}, path) > 0 OR LOCATE({}, rule) > 0)", p.S(t), p.S(t));
        break;
    }
  }
  return w;
}

Result<std::vector<StoredEvent>> SociStore::QueryEvents(const std::string& tenant_id,
                                                        const EventQuery& q) {
  int limit = std::clamp(q.limit, 1, 10000);
  return Run("query events", false, [&](soci::session& sql) -> Result<std::vector<StoredEvent>> {
    Params p;
    std::string s = fmt::format("SELECT {} FROM events", kEventCols) + EventWhere(tenant_id, q, p);
    if (q.after) {
      long long at = Micros(q.after->first);
      const char* cmp = q.descending ? "<" : ">";
      s += fmt::format(" AND ts {}= {} AND (ts {} {} OR id {} {})", cmp, p.I(at), cmp, p.I(at), cmp,
                       p.S(q.after->second));
    }
    s += q.descending ? " ORDER BY ts DESC, id DESC" : " ORDER BY ts, id";
    s += fmt::format(" LIMIT {}", limit);
    std::vector<StoredEvent> out;
    out.reserve(static_cast<size_t>(limit));
    Select(sql, s, p, kEventSig, [&](const Row& r) { out.push_back(EventFrom(r)); });
    return out;
  });
}

Result<std::vector<EventCount>> SociStore::CountEvents(const std::string& tenant_id,
                                                       const EventQuery& q,
                                                       std::chrono::seconds bucket) {
  if (bucket.count() <= 0) return InvalidArgument("bucket must be at least 1 second");
  long long b = std::chrono::duration_cast<std::chrono::microseconds>(bucket).count();
  return Run("count events", false, [&](soci::session& sql) -> Result<std::vector<EventCount>> {
    Params p;
    std::string expr = d_ == Dialect::kMysql ? fmt::format("(ts DIV {}) * {}", b, b)
                                             : fmt::format("(ts / {}) * {}", b, b);
    std::string s =
        fmt::format("SELECT {} AS bucket, module, severity, COUNT(*) FROM events", expr) +
        EventWhere(tenant_id, q, p) + " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    std::vector<EventCount> out;
    Select(sql, s, p, "isii", [&](const Row& r) {
      EventCount c;
      c.bucket = FromMicros(r.I(0));
      c.module = r.S(1);
      c.severity = static_cast<int>(r.I(2));
      c.count = r.I(3);
      out.push_back(std::move(c));
    });
    return out;
  });
}

Result<int64_t> SociStore::DeleteEventsBefore(const std::string& tenant_id, TimePoint cutoff,
                                              int batch) {
  batch = std::clamp(batch, 1, 1'000'000);
  long long c = Micros(cutoff);
  if (d_ == Dialect::kPostgres) return DeletePostgres(tenant_id, c, batch);
  return Run("delete events", true, [&](soci::session& sql) -> Result<int64_t> {
    Params p;
    std::string q =
        d_ == Dialect::kSqlite
            ? fmt::format(
                  "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE "
                  "tenant_id = {} AND ts < {} LIMIT {})",
                  p.S(tenant_id), p.I(c), batch)
            : fmt::format("DELETE FROM events WHERE tenant_id = {} AND ts < {} LIMIT {}",
                          p.S(tenant_id), p.I(c), batch);
    return static_cast<int64_t>(Exec(sql, q, p));
  });
}

// PostgreSQL: events are range-partitioned by day. Partitions wholly before the cutoff that hold
// rows of no other tenant are dropped whole; elsewhere rows go in batches.
Result<int64_t> SociStore::DeletePostgres(const std::string& tenant_id, long long cutoff,
                                          int batch) {
  std::vector<std::pair<long long, std::string>> parts;
  {
    auto r = Run("list event partitions", false, [&](soci::session& sql) -> Status {
      Params p;
      Select(sql,
             "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE "
             "i.inhparent = 'events'::regclass",
             p, "s", [&](const Row& r) {
               std::string name = r.S(0);
               if (auto day = PartitionDay(name)) parts.emplace_back(*day, name);
             });
      return Status::Ok();
    });
    if (!r.ok()) return r;
  }
  std::sort(parts.begin(), parts.end());
  for (const auto& [day, name] : parts) {
    long long lo = day * kMicrosPerDay, hi = (day + 1) * kMicrosPerDay;
    if (lo >= cutoff) break;
    if (hi <= cutoff) {
      // Wholly before the cutoff: drop it when no other tenant has rows in it.
      auto probe = [&](soci::session& sql) -> std::pair<bool, bool> {
        Params a, b, m;
        bool mine = SelectInt(sql,
                              fmt::format("SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE tenant_id "
                                          "= {} LIMIT 1) x",
                                          name, m.S(tenant_id)),
                              m, 0) > 0;
        bool others = SelectInt(sql,
                                fmt::format("SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE "
                                            "tenant_id < {} LIMIT 1) x",
                                            name, a.S(tenant_id)),
                                a, 0) > 0 ||
                      SelectInt(sql,
                                fmt::format("SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE "
                                            "tenant_id > {} LIMIT 1) x",
                                            name, b.S(tenant_id)),
                                b, 0) > 0;
        return {mine, others};
      };
      auto dropped = Run("drop event partition", true, [&](soci::session& sql) -> Result<int64_t> {
        auto [mine, others] = probe(sql);
        if (!mine || others) return int64_t{-1};
        Params cnt;
        long long n = SelectInt(sql, fmt::format("SELECT COUNT(*) FROM {}", name), cnt, 0);
        sql << "SET LOCAL lock_timeout = '5s'";
        sql << "LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE";
        sql << fmt::format("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", name);
        auto [mine2, others2] = probe(sql);
        if (others2) return int64_t{-1};
        (void)mine2;
        sql << fmt::format("DROP TABLE {}", name);
        return static_cast<int64_t>(n);
      });
      if (!dropped.has_value()) return dropped;
      if (*dropped >= 0) {
        std::lock_guard lock(partitions_mu_);
        known_partitions_.erase(day);
        return *dropped;
      }
    }
    auto n = Run("delete events", true, [&](soci::session& sql) -> Result<int64_t> {
      Params p;
      return static_cast<int64_t>(
          Exec(sql,
               fmt::format("DELETE FROM {0} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {0} WHERE "
                           "tenant_id = {1} AND ts < {2} LIMIT {3}))",
                           name, p.S(tenant_id), p.I(cutoff), batch),
               p));
    });
    if (!n.has_value() || *n > 0) return n;
  }
  return int64_t{0};
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSociStore(const StoreUrl& url) {
  auto store = std::make_unique<SociStore>(url);
  WARD_RETURN_IF_ERROR(store->Ping());
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& url) {
  WARD_ASSIGN_OR_RETURN(StoreUrl parsed, ParseStoreUrl(url));
  return OpenSociStore(parsed);
}

Status RunAdminSql(const std::string& url, const std::vector<std::string>& statements) {
  WARD_ASSIGN_OR_RETURN(StoreUrl parsed, ParseStoreUrl(url));
  parsed.pool_size = 1;
  SessionPool pool(parsed);
  WARD_ASSIGN_OR_RETURN(auto session, pool.Connect());
  for (const auto& s : statements) {
    try {
      *session << s;
    } catch (const std::exception& e) {
      return Classify(parsed.dialect, e, session.get()).status.WithContext(s);
    }
  }
  return Status::Ok();
}

}  // namespace ward::manager

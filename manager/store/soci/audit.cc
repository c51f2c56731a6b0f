// The audit trail: appended, read in time order with keyset pagination.
#include <fmt/format.h>

#include <algorithm>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

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

}  // namespace

Status SociStore::AppendAudit(const AuditEntry& e) {
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

Result<std::vector<AuditEntry>> SociStore::QueryAudit(
    const std::string& tenant_id, std::optional<std::pair<TimePoint, std::string>> after,
    int limit) {
  AuditQuery q;
  q.after = std::move(after);
  q.limit = limit;
  return SearchAudit(tenant_id, q);
}

Result<std::vector<AuditEntry>> SociStore::SearchAudit(const std::string& tenant_id,
                                                       const AuditQuery& q) {
  const int limit = std::clamp(q.limit, 1, 10000);
  return Run("query audit", false, [&](soci::session& sql) -> Result<std::vector<AuditEntry>> {
    Params p;
    std::string s =
        fmt::format("SELECT {} FROM audit WHERE tenant_id = {}", kAuditCols, p.S(tenant_id));
    if (q.actor) s += fmt::format(" AND actor = {}", p.S(*q.actor));
    if (q.method) s += fmt::format(" AND method = {}", p.S(*q.method));
    if (q.path && !q.path->empty()) {
      const std::string t = NoNul(*q.path);
      switch (d_) {
        case Dialect::kSqlite:
          s += fmt::format(" AND instr(path, {}) > 0", p.S(t));
          break;
        case Dialect::kPostgres:
          s += fmt::format(" AND strpos(path, {}) > 0", p.S(t));
          break;
        case Dialect::kMysql:
          s += fmt::format(" AND LOCATE({}, path) > 0", p.S(t));
          break;
      }
    }
    if (q.status_min) s += fmt::format(" AND status >= {}", p.I(*q.status_min));
    if (q.status_max) s += fmt::format(" AND status <= {}", p.I(*q.status_max));
    if (q.from) s += fmt::format(" AND at >= {}", p.I(Micros(*q.from)));
    if (q.to) s += fmt::format(" AND at < {}", p.I(Micros(*q.to)));
    if (q.after) {
      const long long at = Micros(q.after->first);
      const char* cmp = q.descending ? "<" : ">";
      s += fmt::format(" AND at {}= {} AND (at {} {} OR id {} {})", cmp, p.I(at), cmp, p.I(at), cmp,
                       p.S(q.after->second));
    }
    s += q.descending ? " ORDER BY at DESC, id DESC" : " ORDER BY at, id";
    s += fmt::format(" LIMIT {}", limit);
    std::vector<AuditEntry> out;
    Select(sql, s, p, kAuditSig, [&](const Row& r) { out.push_back(AuditFrom(r)); });
    return out;
  });
}

}  // namespace ward::manager::soci_backend

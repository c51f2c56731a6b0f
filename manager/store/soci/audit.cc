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

}  // namespace ward::manager::soci_backend

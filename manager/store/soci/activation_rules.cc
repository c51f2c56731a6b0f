// Activation rules: one JSON document per tenant (docs/deployment.md).
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

Result<nlohmann::json> SociStore::GetActivationRules(const std::string& tenant_id) {
  return Run("get activation rules", false, [&](soci::session& sql) -> Result<nlohmann::json> {
    Params p;
    nlohmann::json rules = nlohmann::json::array();
    Select(
        sql,
        fmt::format("SELECT document FROM activation_rules WHERE tenant_id = {}", p.S(tenant_id)),
        p, "s", [&](const Row& r) { rules = ParseJson(r.S(0), nlohmann::json::array()); });
    return rules;
  });
}

Status SociStore::SetActivationRules(const std::string& tenant_id, const nlohmann::json& rules,
                                     TimePoint now) {
  return RunStatus("set activation rules", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, tenant_id, true).status());
    Params d;
    Exec(sql, fmt::format("DELETE FROM activation_rules WHERE tenant_id = {}", d.S(tenant_id)), d);
    Params i;
    Exec(sql,
         fmt::format("INSERT INTO activation_rules (tenant_id, document, updated_at) VALUES "
                     "({}, {}, {})",
                     i.S(tenant_id), i.S(DumpJson(rules)), i.I(Micros(now))),
         i);
    return Status::Ok();
  });
}

}  // namespace ward::manager::soci_backend

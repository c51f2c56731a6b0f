// Tenants (and CreateTenantWithKey: a tenant with its first API key in one transaction).
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

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

}  // namespace

Status SociStore::CreateTenant(const Tenant& t) {
  WARD_RETURN_IF_ERROR(CheckTenant(t));
  return RunStatus("create tenant", true, [&](soci::session& sql) { return InsertTenant(sql, t); });
}

Status SociStore::CreateTenantWithKey(const Tenant& t, const ApiKey& first_key) {
  WARD_RETURN_IF_ERROR(CheckTenant(t));
  WARD_RETURN_IF_ERROR(CheckApiKey(first_key));
  if (first_key.tenant_id != t.id) {
    return InvalidArgument("api_key.tenant_id differs from tenant.id");
  }
  return RunStatus("create tenant with key", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(InsertTenant(sql, t));
    return InsertApiKey(sql, first_key);
  });
}

Result<Tenant> SociStore::GetTenant(const std::string& id) {
  return Run("get tenant", false, [&](soci::session& sql) { return GetTenantIn(sql, id, false); });
}

Result<std::vector<Tenant>> SociStore::ListTenants() {
  return Run("list tenants", false, [&](soci::session& sql) -> Result<std::vector<Tenant>> {
    std::vector<Tenant> out;
    Params p;
    Select(sql, fmt::format("SELECT {} FROM tenants ORDER BY created_at, id", kTenantCols), p,
           kTenantSig, [&](const Row& r) { out.push_back(TenantFrom(r)); });
    return out;
  });
}

Status SociStore::UpdateTenant(const Tenant& t) {
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

Status SociStore::DeleteTenant(const std::string& id) {
  return RunStatus("delete tenant", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, id, true).status());
    for (const char* table : {"events",
                              "audit",
                              "commands",
                              "agents",
                              "activation_tokens",
                              "policies",
                              "api_keys",
                              "sessions",
                              "users",
                              "policy_versions",
                              "alerts",
                              "alert_events",
                              "ip_lists",
                              "reports",
                              "report_schedules",
                              "event_rollup",
                              "event_rollup_values",
                              "ingest_seq",
                              "siem_forwarders",
                              "alert_rules",
                              "alert_channels",
                              "alert_notifications",
                              "alert_deliveries",
                              "activation_rules",
                              "ips_matches",
                              "agent_groups",
                              "agent_group_members",
                              "report_mails",
                              "agent_upgrade_rollouts",
                              "agent_upgrade_states",
                              "egress_feeds"}) {
      Params p;
      Exec(sql, fmt::format("DELETE FROM {} WHERE tenant_id = {}", table, p.S(id)), p);
    }
    Params p;
    Exec(sql, fmt::format("DELETE FROM tenants WHERE id = {}", p.S(id)), p);
    return Status::Ok();
  });
}

Status SociStore::CheckTenant(const Tenant& t) {
  WARD_RETURN_IF_ERROR(CheckId("tenant.id", t.id));
  return CheckLen("tenant.name", t.name, kNameMax);
}

Status SociStore::InsertTenant(soci::session& sql, const Tenant& t) {
  Params p;
  std::string q =
      fmt::format("INSERT INTO tenants ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {})", kTenantCols,
                  p.S(t.id), p.S(t.name), p.I(t.primary), p.I(t.disabled),
                  p.I(t.settings.event_retention_days), p.I(t.settings.heartbeat_interval_s),
                  p.I(t.settings.inactive_agent_cleanup_days), p.I(Micros(t.created_at)));
  Exec(sql, q, p);
  return Status::Ok();
}

Result<Tenant> SociStore::GetTenantIn(soci::session& sql, const std::string& id, bool lock) {
  Params p;
  std::optional<Tenant> out;
  Select(sql,
         fmt::format("SELECT {} FROM tenants WHERE id = {}{}", kTenantCols, p.S(id),
                     lock ? ForUpdate() : ""),
         p, kTenantSig, [&](const Row& r) { out = TenantFrom(r); });
  if (!out) return NotFound("no such tenant");
  return *out;
}

}  // namespace ward::manager::soci_backend

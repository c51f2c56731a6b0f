// Policies: versioned documents; not deleted while agents or tokens use them.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

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

}  // namespace

Status SociStore::CreatePolicy(const Policy& pol) {
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
    InsertPolicyVersion(sql, pol);
    return Status::Ok();
  });
}

Result<Policy> SociStore::GetPolicy(const std::string& tenant_id, const std::string& id) {
  return Run("get policy", false,
             [&](soci::session& sql) { return GetPolicyIn(sql, tenant_id, id, false); });
}

Result<std::vector<Policy>> SociStore::ListPolicies(const std::string& tenant_id) {
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

Result<Policy> SociStore::UpdatePolicy(const std::string& tenant_id, const std::string& id,
                                       const std::string& name, const nlohmann::json& document,
                                       TimePoint now) {
  WARD_RETURN_IF_ERROR(CheckLen("policy.name", name, kNameMax));
  return Run("update policy", true, [&](soci::session& sql) -> Result<Policy> {
    WARD_ASSIGN_OR_RETURN(Policy pol, GetPolicyIn(sql, tenant_id, id, true));
    Params p;
    Exec(sql,
         fmt::format("UPDATE policies SET name = {}, document = {}, version = version + 1, "
                     "updated_at = {} WHERE tenant_id = {} AND id = {}",
                     p.S(name), p.S(DumpJson(document)), p.I(Micros(now)), p.S(tenant_id), p.S(id)),
         p);
    WARD_ASSIGN_OR_RETURN(Policy updated, GetPolicyIn(sql, tenant_id, id, false));
    InsertPolicyVersion(sql, updated);
    return updated;
  });
}

Status SociStore::DeletePolicy(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete policy", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetPolicyIn(sql, tenant_id, id, true).status());
    Params a;
    long long agents =
        SelectInt(sql,
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
    Params g;
    long long groups = SelectInt(sql,
                                 fmt::format("SELECT COUNT(*) FROM agent_groups WHERE "
                                             "tenant_id = {} AND policy_id = {}",
                                             g.S(tenant_id), g.S(id)),
                                 g, 0);
    if (groups > 0) {
      return FailedPrecondition(fmt::format("policy is in use by {} agent group(s)", groups));
    }
    Params v;
    Exec(sql,
         fmt::format("DELETE FROM policy_versions WHERE tenant_id = {} AND policy_id = {}",
                     v.S(tenant_id), v.S(id)),
         v);
    Params p;
    Exec(sql,
         fmt::format("DELETE FROM policies WHERE tenant_id = {} AND id = {}", p.S(tenant_id),
                     p.S(id)),
         p);
    return Status::Ok();
  });
}

void SociStore::InsertPolicyVersion(soci::session& sql, const Policy& pol) {
  Params p;
  Exec(sql,
       fmt::format("INSERT INTO policy_versions (tenant_id, policy_id, version, name, document, "
                   "saved_at) VALUES ({}, {}, {}, {}, {}, {})",
                   p.S(pol.tenant_id), p.S(pol.id), p.I(pol.version), p.S(pol.name),
                   p.S(DumpJson(pol.document)), p.I(Micros(pol.updated_at))),
       p);
}

namespace {

constexpr const char* kVersionCols = "tenant_id, policy_id, version, name, document, saved_at";
constexpr const char* kVersionSig = "ssissi";
PolicyVersion VersionFrom(const Row& r) {
  PolicyVersion v;
  v.tenant_id = r.S(0);
  v.policy_id = r.S(1);
  v.version = static_cast<int>(r.I(2));
  v.name = r.S(3);
  v.document = ParseJson(r.S(4), json::object());
  v.saved_at = FromMicros(r.I(5));
  return v;
}

}  // namespace

Result<std::vector<PolicyVersion>> SociStore::ListPolicyVersions(const std::string& tenant_id,
                                                                 const std::string& policy_id) {
  return Run("list policy versions", false,
             [&](soci::session& sql) -> Result<std::vector<PolicyVersion>> {
               WARD_RETURN_IF_ERROR(GetPolicyIn(sql, tenant_id, policy_id, false).status());
               Params p;
               std::vector<PolicyVersion> out;
               Select(sql,
                      fmt::format("SELECT {} FROM policy_versions WHERE tenant_id = {} AND "
                                  "policy_id = {} ORDER BY version",
                                  kVersionCols, p.S(tenant_id), p.S(policy_id)),
                      p, kVersionSig, [&](const Row& r) { out.push_back(VersionFrom(r)); });
               return out;
             });
}

Result<PolicyVersion> SociStore::GetPolicyVersion(const std::string& tenant_id,
                                                  const std::string& policy_id, int version) {
  return Run("get policy version", false, [&](soci::session& sql) -> Result<PolicyVersion> {
    Params p;
    std::optional<PolicyVersion> out;
    Select(sql,
           fmt::format("SELECT {} FROM policy_versions WHERE tenant_id = {} AND policy_id = {} "
                       "AND version = {}",
                       kVersionCols, p.S(tenant_id), p.S(policy_id), p.I(version)),
           p, kVersionSig, [&](const Row& r) { out = VersionFrom(r); });
    if (!out) return NotFound("no such policy version");
    return *out;
  });
}

Result<Policy> SociStore::GetPolicyIn(soci::session& sql, const std::string& tenant_id,
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

}  // namespace ward::manager::soci_backend

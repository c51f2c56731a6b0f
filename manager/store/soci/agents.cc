// Agents: activation, heartbeats, policy assignment, offline marking and cleanup.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

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

}  // namespace

Status SociStore::CreateAgent(const Agent& a) {
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
        kAgentCols, p.S(a.id), p.S(a.tenant_id), p.S(a.hostname), p.S(a.machine_id), p.S(a.version),
        p.S(a.credential_hash), p.OptS(a.policy_id), p.S(DumpJson(a.status)),
        p.I(a.applied_policy_version), p.I(a.online), p.OptI(seen), p.I(Micros(a.created_at)));
    Exec(sql, q, p);
    return Status::Ok();
  });
}

Result<Agent> SociStore::FindAgentByCredentialHash(const std::string& credential_hash) {
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

Result<Agent> SociStore::GetAgent(const std::string& tenant_id, const std::string& id) {
  return Run("get agent", false,
             [&](soci::session& sql) { return GetAgentIn(sql, tenant_id, id, false); });
}

Result<std::vector<Agent>> SociStore::ListAgents(const std::string& tenant_id,
                                                 const AgentFilter& filter) {
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

Result<bool> SociStore::RecordHeartbeat(const Agent& a) {
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

Status SociStore::AssignPolicy(const std::string& tenant_id, const std::string& agent_id,
                               const std::optional<std::string>& policy_id) {
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

Status SociStore::DeleteAgent(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete agent", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", tenant_id, id, "agent"));
    Params c;
    Exec(sql,
         fmt::format("DELETE FROM commands WHERE tenant_id = {} AND agent_id = {}", c.S(tenant_id),
                     c.S(id)),
         c);
    Params g;
    Exec(sql,
         fmt::format("DELETE FROM agent_group_members WHERE tenant_id = {} AND agent_id = {}",
                     g.S(tenant_id), g.S(id)),
         g);
    Params p;
    Exec(
        sql,
        fmt::format("DELETE FROM agents WHERE tenant_id = {} AND id = {}", p.S(tenant_id), p.S(id)),
        p);
    return Status::Ok();
  });
}

Result<std::vector<Agent>> SociStore::MarkOffline(TimePoint now) {
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

Result<int> SociStore::DeleteInactiveAgents(const std::string& tenant_id, TimePoint cutoff) {
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
      Params g;
      Exec(sql,
           fmt::format("DELETE FROM agent_group_members WHERE tenant_id = {} AND agent_id = {}",
                       g.S(tenant_id), g.S(id)),
           g);
      Params d;
      Exec(sql,
           fmt::format("DELETE FROM agents WHERE tenant_id = {} AND id = {}", d.S(tenant_id),
                       d.S(id)),
           d);
    }
    return static_cast<int>(ids.size());
  });
}

Result<Agent> SociStore::GetAgentIn(soci::session& sql, const std::string& tenant_id,
                                    const std::string& id, bool lock) {
  Params p;
  std::optional<Agent> out;
  Select(sql,
         fmt::format("SELECT {} FROM agents WHERE tenant_id = {} AND id = {}{}", kAgentCols,
                     p.S(tenant_id), p.S(id), lock ? ForUpdate() : ""),
         p, kAgentSig, [&](const Row& r) { out = AgentFrom(r); });
  if (!out) return NotFound("no such agent");
  return *out;
}

}  // namespace ward::manager::soci_backend

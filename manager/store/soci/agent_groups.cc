// Agent groups (issue #18, docs/deployment.md "Agent groups"): a tenant's named groups, each
// agent in at most one (agent_group_members is keyed by the agent), a group's policy handed to
// its members in the transaction that sets it.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr size_t kDescriptionMax = 1024;

// Columns of agent_groups with the member count (a correlated subquery: every backend).
constexpr const char* kGroupSelect =
    "SELECT g.tenant_id, g.id, g.name, g.description, g.policy_id, g.created_at, g.updated_at, "
    "(SELECT COUNT(*) FROM agent_group_members m WHERE m.tenant_id = g.tenant_id AND "
    "m.group_id = g.id) FROM agent_groups g";
constexpr const char* kGroupSig = "sssssiii";

AgentGroup GroupFrom(const Row& r) {
  AgentGroup g;
  g.tenant_id = r.S(0);
  g.id = r.S(1);
  g.name = r.S(2);
  g.description = r.S(3);
  g.policy_id = r.OptS(4);
  g.created_at = FromMicros(r.I(5));
  g.updated_at = FromMicros(r.I(6));
  g.members = r.I(7);
  return g;
}

Status CheckGroup(const AgentGroup& g) {
  WARD_RETURN_IF_ERROR(CheckId("agent_group.id", g.id));
  WARD_RETURN_IF_ERROR(CheckId("agent_group.tenant_id", g.tenant_id));
  if (g.name.empty()) return InvalidArgument("agent_group.name: must not be empty");
  WARD_RETURN_IF_ERROR(CheckLen("agent_group.name", g.name, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen("agent_group.description", g.description, kDescriptionMax));
  if (g.policy_id) WARD_RETURN_IF_ERROR(CheckId("agent_group.policy_id", *g.policy_id));
  return Status::Ok();
}

std::optional<AgentGroup> GroupIn(soci::session& sql, const std::string& tenant_id,
                                  const std::string& id, std::string_view lock) {
  Params p;
  std::optional<AgentGroup> out;
  // The lock applies to agent_groups only: the count is a subquery.
  Select(sql,
         fmt::format("{} WHERE g.tenant_id = {} AND g.id = {}{}", kGroupSelect, p.S(tenant_id),
                     p.S(id), lock),
         p, kGroupSig, [&](const Row& r) { out = GroupFrom(r); });
  return out;
}

// A failed tenant lookup as seen by a group call: a group of no tenant is no group.
Status GroupLookup(const Status& s) {
  return s.code() == StatusCode::kNotFound ? NotFound("no such agent group") : s;
}

}  // namespace

Status SociStore::CreateAgentGroup(const AgentGroup& g) {
  WARD_RETURN_IF_ERROR(CheckGroup(g));
  return RunStatus("create agent group", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, g.tenant_id, false).status());
    if (g.policy_id) {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "policies", g.tenant_id, *g.policy_id, "policy"));
    }
    Params p;
    Exec(sql,
         fmt::format("INSERT INTO agent_groups (tenant_id, id, name, description, policy_id, "
                     "created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
                     p.S(g.tenant_id), p.S(g.id), p.S(g.name), p.S(g.description),
                     p.OptS(g.policy_id), p.I(Micros(g.created_at)), p.I(Micros(g.updated_at))),
         p);
    return Status::Ok();
  });
}

Result<AgentGroup> SociStore::GetAgentGroup(const std::string& tenant_id, const std::string& id) {
  return Run("get agent group", false, [&](soci::session& sql) -> Result<AgentGroup> {
    auto g = GroupIn(sql, tenant_id, id, "");
    if (!g) return NotFound("no such agent group");
    return *g;
  });
}

Result<std::vector<AgentGroup>> SociStore::ListAgentGroups(const std::string& tenant_id) {
  return Run("list agent groups", false,
             [&](soci::session& sql) -> Result<std::vector<AgentGroup>> {
               Params p;
               std::vector<AgentGroup> out;
               Select(sql,
                      fmt::format("{} WHERE g.tenant_id = {} ORDER BY g.name, g.id", kGroupSelect,
                                  p.S(tenant_id)),
                      p, kGroupSig, [&](const Row& r) { out.push_back(GroupFrom(r)); });
               return out;
             });
}

Result<int64_t> SociStore::UpdateAgentGroup(const AgentGroup& g, bool assign_policy) {
  WARD_RETURN_IF_ERROR(CheckGroup(g));
  return Run("update agent group", true, [&](soci::session& sql) -> Result<int64_t> {
    // Membership and group-policy changes of a tenant take its row lock first, so a member
    // that moves while its old group's policy changes never ends with the wrong policy (the
    // member set the UPDATE below reads is the one committed before it). They are rare, operator
    // actions; heartbeats and ingestion never take this lock.
    if (auto t = GetTenantIn(sql, g.tenant_id, true); !t) return GroupLookup(t.error());
    if (!GroupIn(sql, g.tenant_id, g.id, ForUpdate())) return NotFound("no such agent group");
    if (g.policy_id) {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "policies", g.tenant_id, *g.policy_id, "policy"));
    }
    Params p;
    Exec(sql,
         fmt::format("UPDATE agent_groups SET name = {}, description = {}, policy_id = {}, "
                     "updated_at = {} WHERE tenant_id = {} AND id = {}",
                     p.S(g.name), p.S(g.description), p.OptS(g.policy_id),
                     p.I(Micros(g.updated_at)), p.S(g.tenant_id), p.S(g.id)),
         p);
    if (!assign_policy || !g.policy_id) return int64_t{0};
    // Members whose policy differs get the group's (a subquery on another table: MySQL too).
    Params u;
    long long changed = Exec(
        sql,
        fmt::format("UPDATE agents SET policy_id = {} WHERE tenant_id = {} AND (policy_id IS NULL "
                    "OR policy_id <> {}) AND id IN (SELECT agent_id FROM agent_group_members "
                    "WHERE tenant_id = {} AND group_id = {})",
                    u.S(*g.policy_id), u.S(g.tenant_id), u.S(*g.policy_id), u.S(g.tenant_id),
                    u.S(g.id)),
        u);
    return static_cast<int64_t>(changed);
  });
}

Status SociStore::DeleteAgentGroup(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete agent group", true, [&](soci::session& sql) -> Status {
    if (auto t = GetTenantIn(sql, tenant_id, true); !t) return GroupLookup(t.error());
    Params p;
    long long n = Exec(sql,
                       fmt::format("DELETE FROM agent_groups WHERE tenant_id = {} AND id = {}",
                                   p.S(tenant_id), p.S(id)),
                       p);
    if (n == 0) return NotFound("no such agent group");
    Params m;
    Exec(sql,
         fmt::format("DELETE FROM agent_group_members WHERE tenant_id = {} AND group_id = {}",
                     m.S(tenant_id), m.S(id)),
         m);
    return Status::Ok();
  });
}

Status SociStore::SetAgentGroup(const std::string& tenant_id, const std::string& agent_id,
                                const std::optional<std::string>& group_id, bool apply_policy,
                                TimePoint now) {
  return RunStatus("set agent group", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, tenant_id, true).status());  // see UpdateAgentGroup
    WARD_RETURN_IF_ERROR(GetAgentIn(sql, tenant_id, agent_id, true).status());
    std::optional<AgentGroup> group;
    if (group_id) {
      group = GroupIn(sql, tenant_id, *group_id, ForUpdate());
      if (!group) return NotFound("no such agent group");
    }
    Params d;
    Exec(sql,
         fmt::format("DELETE FROM agent_group_members WHERE tenant_id = {} AND agent_id = {}",
                     d.S(tenant_id), d.S(agent_id)),
         d);
    if (!group) return Status::Ok();
    Params i;
    Exec(sql,
         fmt::format("INSERT INTO agent_group_members (tenant_id, agent_id, group_id, joined_at) "
                     "VALUES ({}, {}, {}, {})",
                     i.S(tenant_id), i.S(agent_id), i.S(group->id), i.I(Micros(now))),
         i);
    if (apply_policy && group->policy_id) {
      Params u;
      Exec(sql,
           fmt::format("UPDATE agents SET policy_id = {} WHERE tenant_id = {} AND id = {}",
                       u.S(*group->policy_id), u.S(tenant_id), u.S(agent_id)),
           u);
    }
    return Status::Ok();
  });
}

Result<std::optional<std::string>> SociStore::AgentGroupOf(const std::string& tenant_id,
                                                           const std::string& agent_id) {
  return Run("get agent's group", false,
             [&](soci::session& sql) -> Result<std::optional<std::string>> {
               WARD_RETURN_IF_ERROR(RequireRow(sql, "agents", tenant_id, agent_id, "agent"));
               Params p;
               std::optional<std::string> out;
               Select(sql,
                      fmt::format("SELECT group_id FROM agent_group_members WHERE tenant_id = {} "
                                  "AND agent_id = {}",
                                  p.S(tenant_id), p.S(agent_id)),
                      p, "s", [&](const Row& r) { out = r.S(0); });
               return out;
             });
}

Result<std::map<std::string, std::string>> SociStore::ListAgentGroupMembers(
    const std::string& tenant_id) {
  return Run("list agent group members", false,
             [&](soci::session& sql) -> Result<std::map<std::string, std::string>> {
               Params p;
               std::map<std::string, std::string> out;
               Select(sql,
                      fmt::format("SELECT agent_id, group_id FROM agent_group_members WHERE "
                                  "tenant_id = {}",
                                  p.S(tenant_id)),
                      p, "ss", [&](const Row& r) { out[r.S(0)] = r.S(1); });
               return out;
             });
}

}  // namespace ward::manager::soci_backend

// Agent upgrades (issue #18, s9-upgrade; docs/updates.md "Agent upgrades"): rollouts of a target
// agent version per agent group or policy, and each agent's progress. Replacing rows is a DELETE
// and an INSERT in one transaction (the same SQL on SQLite, PostgreSQL and MySQL/MariaDB).
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kRolloutSelect =
    "SELECT tenant_id, scope, scope_id, target_version, first_wave_percent, timeout_s, "
    "created_at, second_wave_at, stopped_reason FROM agent_upgrade_rollouts";
constexpr const char* kRolloutSig = "ssssiiiis";

constexpr size_t kErrorMax = 2048;

UpgradeRollout RolloutFrom(const Row& r) {
  UpgradeRollout o;
  o.tenant_id = r.S(0);
  o.scope = r.S(1);
  o.scope_id = r.S(2);
  o.target_version = r.S(3);
  o.first_wave_percent = static_cast<int>(r.I(4));
  o.timeout_s = r.I(5);
  o.created_at = FromMicros(r.I(6));
  if (auto v = r.OptI(7)) o.second_wave_at = FromMicros(*v);
  o.stopped_reason = r.OptS(8);
  return o;
}

Status CheckScope(const std::string& scope) {
  if (scope != "group" && scope != "policy") {
    return InvalidArgument("upgrade.scope: expected \"group\" or \"policy\"");
  }
  return Status::Ok();
}

Status CheckRollout(const UpgradeRollout& r) {
  WARD_RETURN_IF_ERROR(CheckId("upgrade.tenant_id", r.tenant_id));
  WARD_RETURN_IF_ERROR(CheckScope(r.scope));
  WARD_RETURN_IF_ERROR(CheckId("upgrade.scope_id", r.scope_id));
  WARD_RETURN_IF_ERROR(CheckId("upgrade.target_version", r.target_version));
  if (r.first_wave_percent < 1 || r.first_wave_percent > 100) {
    return InvalidArgument("upgrade.first_wave_percent: expected 1 to 100");
  }
  if (r.timeout_s < 1) return InvalidArgument("upgrade.timeout_s: expected at least 1");
  if (r.stopped_reason) {
    WARD_RETURN_IF_ERROR(CheckLen("upgrade.stopped_reason", *r.stopped_reason, kErrorMax));
  }
  return Status::Ok();
}

std::optional<long long> OptMicros(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return Micros(*t);
}

}  // namespace

Status SociStore::PutUpgradeRollout(const UpgradeRollout& r) {
  WARD_RETURN_IF_ERROR(CheckRollout(r));
  return RunStatus("put upgrade rollout", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, r.tenant_id, false).status());
    if (r.scope == "group") {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "agent_groups", r.tenant_id, r.scope_id, "agent group"));
    } else {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "policies", r.tenant_id, r.scope_id, "policy"));
    }
    Params d;
    Exec(sql,
         fmt::format("DELETE FROM agent_upgrade_rollouts WHERE tenant_id = {} AND scope = {} AND "
                     "scope_id = {}",
                     d.S(r.tenant_id), d.S(r.scope), d.S(r.scope_id)),
         d);
    Params p;
    Exec(sql,
         fmt::format("INSERT INTO agent_upgrade_rollouts (tenant_id, scope, scope_id, "
                     "target_version, first_wave_percent, timeout_s, created_at, second_wave_at, "
                     "stopped_reason) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
                     p.S(r.tenant_id), p.S(r.scope), p.S(r.scope_id), p.S(r.target_version),
                     p.I(r.first_wave_percent), p.I(r.timeout_s), p.I(Micros(r.created_at)),
                     p.OptI(OptMicros(r.second_wave_at)), p.OptS(r.stopped_reason)),
         p);
    return Status::Ok();
  });
}

Result<UpgradeRollout> SociStore::GetUpgradeRollout(const std::string& tenant_id,
                                                    const std::string& scope,
                                                    const std::string& scope_id) {
  return Run("get upgrade rollout", false, [&](soci::session& sql) -> Result<UpgradeRollout> {
    Params p;
    std::optional<UpgradeRollout> out;
    Select(sql,
           fmt::format("{} WHERE tenant_id = {} AND scope = {} AND scope_id = {}", kRolloutSelect,
                       p.S(tenant_id), p.S(scope), p.S(scope_id)),
           p, kRolloutSig, [&](const Row& r) { out = RolloutFrom(r); });
    if (!out) return NotFound("no upgrade rollout");
    return *out;
  });
}

Result<std::vector<UpgradeRollout>> SociStore::ListUpgradeRollouts(const std::string& tenant_id) {
  return Run("list upgrade rollouts", false,
             [&](soci::session& sql) -> Result<std::vector<UpgradeRollout>> {
               Params p;
               std::vector<UpgradeRollout> out;
               Select(sql,
                      fmt::format("{} WHERE tenant_id = {} ORDER BY scope, scope_id",
                                  kRolloutSelect, p.S(tenant_id)),
                      p, kRolloutSig, [&](const Row& r) { out.push_back(RolloutFrom(r)); });
               return out;
             });
}

Status SociStore::DeleteUpgradeRollout(const std::string& tenant_id, const std::string& scope,
                                       const std::string& scope_id) {
  return RunStatus("delete upgrade rollout", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(sql,
                       fmt::format("DELETE FROM agent_upgrade_rollouts WHERE tenant_id = {} AND "
                                   "scope = {} AND scope_id = {}",
                                   p.S(tenant_id), p.S(scope), p.S(scope_id)),
                       p);
    if (n == 0) return NotFound("no upgrade rollout");
    Params s;
    Exec(sql,
         fmt::format("DELETE FROM agent_upgrade_states WHERE tenant_id = {} AND scope = {} AND "
                     "scope_id = {}",
                     s.S(tenant_id), s.S(scope), s.S(scope_id)),
         s);
    return Status::Ok();
  });
}

Status SociStore::UpdateUpgradeRolloutProgress(const UpgradeRollout& r) {
  WARD_RETURN_IF_ERROR(CheckRollout(r));
  return RunStatus("update upgrade rollout", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(
        sql,
        fmt::format("UPDATE agent_upgrade_rollouts SET second_wave_at = {}, stopped_reason = {} "
                    "WHERE tenant_id = {} AND scope = {} AND scope_id = {} AND created_at = {}",
                    p.OptI(OptMicros(r.second_wave_at)), p.OptS(r.stopped_reason), p.S(r.tenant_id),
                    p.S(r.scope), p.S(r.scope_id), p.I(Micros(r.created_at))),
        p);
    if (n == 0) return NotFound("no upgrade rollout of that generation");
    return Status::Ok();
  });
}

Status SociStore::PutAgentUpgradeStates(const std::string& tenant_id,
                                        const std::vector<AgentUpgradeState>& states) {
  for (const auto& s : states) {
    if (s.tenant_id != tenant_id) return InvalidArgument("upgrade state: another tenant's");
    WARD_RETURN_IF_ERROR(CheckId("upgrade_state.agent_id", s.agent_id));
    WARD_RETURN_IF_ERROR(CheckScope(s.scope));
    WARD_RETURN_IF_ERROR(CheckId("upgrade_state.scope_id", s.scope_id));
    WARD_RETURN_IF_ERROR(CheckId("upgrade_state.target_version", s.target_version));
    WARD_RETURN_IF_ERROR(CheckId("upgrade_state.state", s.state));
    if (s.error) WARD_RETURN_IF_ERROR(CheckLen("upgrade_state.error", *s.error, kErrorMax));
  }
  if (states.empty()) return Status::Ok();
  return RunStatus("put agent upgrade states", true, [&](soci::session& sql) -> Status {
    for (const auto& s : states) {
      Params d;
      Exec(sql,
           fmt::format("DELETE FROM agent_upgrade_states WHERE tenant_id = {} AND agent_id = {}",
                       d.S(tenant_id), d.S(s.agent_id)),
           d);
      Params p;
      Exec(sql,
           fmt::format("INSERT INTO agent_upgrade_states (tenant_id, agent_id, scope, scope_id, "
                       "generation, target_version, state, wave, offered_at, updated_at, error) "
                       "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                       p.S(tenant_id), p.S(s.agent_id), p.S(s.scope), p.S(s.scope_id),
                       p.I(Micros(s.generation)), p.S(s.target_version), p.S(s.state), p.I(s.wave),
                       p.OptI(OptMicros(s.offered_at)), p.I(Micros(s.updated_at)), p.OptS(s.error)),
           p);
    }
    return Status::Ok();
  });
}

Result<std::vector<AgentUpgradeState>> SociStore::ListAgentUpgradeStates(
    const std::string& tenant_id, const std::string& scope, const std::string& scope_id) {
  return Run("list agent upgrade states", false,
             [&](soci::session& sql) -> Result<std::vector<AgentUpgradeState>> {
               Params p;
               std::vector<AgentUpgradeState> out;
               Select(sql,
                      fmt::format("SELECT tenant_id, agent_id, scope, scope_id, generation, "
                                  "target_version, state, wave, offered_at, updated_at, error "
                                  "FROM agent_upgrade_states WHERE tenant_id = {} AND scope = {} "
                                  "AND scope_id = {} ORDER BY agent_id",
                                  p.S(tenant_id), p.S(scope), p.S(scope_id)),
                      p, "ssssissiiis", [&](const Row& r) {
                        AgentUpgradeState s;
                        s.tenant_id = r.S(0);
                        s.agent_id = r.S(1);
                        s.scope = r.S(2);
                        s.scope_id = r.S(3);
                        s.generation = FromMicros(r.I(4));
                        s.target_version = r.S(5);
                        s.state = r.S(6);
                        s.wave = static_cast<int>(r.I(7));
                        if (auto v = r.OptI(8)) s.offered_at = FromMicros(*v);
                        s.updated_at = FromMicros(r.I(9));
                        s.error = r.OptS(10);
                        out.push_back(std::move(s));
                      });
               return out;
             });
}

}  // namespace ward::manager::soci_backend

#include "manager/services/agent_upgrades.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "common/log.h"
#include "manager/api/views.h"

namespace ward::manager {
namespace {

bool Terminal(const std::string& s) { return s == "done" || s == "failed" || s == "timed-out"; }

bool SameState(const AgentUpgradeState& a, const AgentUpgradeState& b) {
  return a.state == b.state && a.wave == b.wave && a.offered_at == b.offered_at &&
         a.error == b.error && a.generation == b.generation &&
         a.target_version == b.target_version && a.scope == b.scope && a.scope_id == b.scope_id;
}

std::string StrOf(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

RolloutPlan PlanRollout(const UpgradeRollout& rollout, std::vector<Agent> members,
                        const std::vector<AgentUpgradeState>& stored, TimePoint now,
                        const std::string& offered_to) {
  RolloutPlan plan;
  plan.rollout = rollout;
  std::sort(members.begin(), members.end(),
            [](const Agent& a, const Agent& b) { return a.id < b.id; });
  std::map<std::string, const AgentUpgradeState*> previous;
  for (const auto& s : stored) {
    if (s.generation == rollout.created_at && s.target_version == rollout.target_version &&
        s.scope == rollout.scope && s.scope_id == rollout.scope_id) {
      previous[s.agent_id] = &s;
    }
  }
  const size_t n = members.size();
  const size_t first =
      n == 0
          ? 0
          : std::max<size_t>(1, (n * static_cast<size_t>(rollout.first_wave_percent) + 99) / 100);
  const std::string& target = rollout.target_version;
  for (size_t i = 0; i < n; ++i) {
    const Agent& a = members[i];
    auto it = previous.find(a.id);
    AgentUpgradeState s;
    if (it != previous.end()) {
      s = *it->second;
    } else {
      s.tenant_id = rollout.tenant_id;
      s.agent_id = a.id;
      s.scope = rollout.scope;
      s.scope_id = rollout.scope_id;
      s.generation = rollout.created_at;
      s.target_version = target;
      s.state = "pending";
      s.updated_at = now;
    }
    // An agent keeps the wave it was offered in; others follow the membership as it is now.
    if (!s.offered_at) s.wave = i < first ? 1 : 2;
    const AgentUpgradeState before = s;
    const nlohmann::json report =
        a.status.is_object() && a.status.contains("upgrade") && a.status["upgrade"].is_object()
            ? a.status["upgrade"]
            : nlohmann::json::object();
    const bool reports_target = StrOf(report, "version") == target;
    if (a.version == target) {
      s.state = "done";
      s.error.reset();
    } else if (s.state == "failed" || s.state == "timed-out") {
      // Stays until a new generation.
    } else if (s.offered_at && reports_target && StrOf(report, "state") == "failed") {
      s.state = "failed";
      s.error = StrOf(report, "error").substr(0, 1024);
    } else if (s.offered_at && now - *s.offered_at > std::chrono::seconds(rollout.timeout_s)) {
      s.state = "timed-out";
      s.error = fmt::format("not back with {} within {} s of the offer (reports {})", target,
                            rollout.timeout_s, a.version.empty() ? "nothing" : a.version);
    } else if (s.offered_at && reports_target &&
               (StrOf(report, "state") == "downloading" ||
                StrOf(report, "state") == "installing")) {
      s.state = StrOf(report, "state");
      s.error.reset();
      if (auto e = StrOf(report, "error"); !e.empty()) s.error = e.substr(0, 1024);
    }
    if (s.state != before.state) {
      s.updated_at = now;
      if (Terminal(s.state)) plan.reported.push_back(s);
    }
    plan.states.push_back(std::move(s));
  }
  // A failure or a timeout stops the rollout.
  if (!plan.rollout.stopped_reason) {
    for (const auto& s : plan.states) {
      if (s.state == "failed" || s.state == "timed-out") {
        plan.rollout.stopped_reason =
            fmt::format("agent {} {}: {}", s.agent_id, s.state, s.error.value_or(""));
        plan.rollout_changed = true;
        break;
      }
    }
  }
  // Wave 2 once every wave-1 agent is done.
  if (!plan.rollout.second_wave_at && !plan.rollout.stopped_reason && n > 0) {
    bool healthy = std::all_of(plan.states.begin(), plan.states.end(),
                               [](const auto& s) { return s.wave != 1 || s.state == "done"; });
    if (healthy) {
      plan.rollout.second_wave_at = now;
      plan.rollout_changed = true;
    }
  }
  for (auto& s : plan.states) {
    const bool in_wave = s.wave == 1 || plan.rollout.second_wave_at.has_value();
    if (!plan.rollout.stopped_reason && in_wave && !Terminal(s.state)) {
      plan.offer.insert(s.agent_id);
      if (s.agent_id == offered_to && !s.offered_at) {
        s.offered_at = now;
        s.updated_at = now;
      }
    }
    auto it = previous.find(s.agent_id);
    if (it == previous.end() || !SameState(*it->second, s)) plan.changed.push_back(s);
  }
  return plan;
}

Result<std::optional<UpgradeRollout>> RolloutForAgent(Store& store, const Agent& agent) {
  // One query on every heartbeat of a tenant without rollouts (the usual case).
  WARD_ASSIGN_OR_RETURN(auto rollouts, store.ListUpgradeRollouts(agent.tenant_id));
  if (rollouts.empty()) return std::optional<UpgradeRollout>();
  auto find = [&](std::string_view scope, const std::string& id) -> std::optional<UpgradeRollout> {
    for (const auto& r : rollouts) {
      if (r.scope == scope && r.scope_id == id) return r;
    }
    return std::nullopt;
  };
  WARD_ASSIGN_OR_RETURN(auto group, store.AgentGroupOf(agent.tenant_id, agent.id));
  if (group) {
    if (auto r = find("group", *group)) return r;
  }
  if (agent.policy_id) return find("policy", *agent.policy_id);
  return std::optional<UpgradeRollout>();
}

namespace {

// The agents of the rollout's scope (a policy's rollout leaves out agents whose group has one).
Result<std::vector<Agent>> RolloutMembers(Store& store, const UpgradeRollout& rollout) {
  std::vector<Agent> members;
  if (rollout.scope == "group") {
    WARD_ASSIGN_OR_RETURN(auto in_groups, store.ListAgentGroupMembers(rollout.tenant_id));
    WARD_ASSIGN_OR_RETURN(auto all, store.ListAgents(rollout.tenant_id, AgentFilter{}));
    for (auto& a : all) {
      auto g = in_groups.find(a.id);
      if (g != in_groups.end() && g->second == rollout.scope_id) members.push_back(std::move(a));
    }
  } else {
    AgentFilter f;
    f.policy_id = rollout.scope_id;
    WARD_ASSIGN_OR_RETURN(members, store.ListAgents(rollout.tenant_id, f));
    WARD_ASSIGN_OR_RETURN(auto in_groups, store.ListAgentGroupMembers(rollout.tenant_id));
    WARD_ASSIGN_OR_RETURN(auto rollouts, store.ListUpgradeRollouts(rollout.tenant_id));
    std::erase_if(members, [&](const Agent& a) {
      auto g = in_groups.find(a.id);
      if (g == in_groups.end()) return false;
      return std::any_of(rollouts.begin(), rollouts.end(), [&](const UpgradeRollout& r) {
        return r.scope == "group" && r.scope_id == g->second;
      });
    });
  }
  return members;
}

}  // namespace

Result<RolloutPlan> PreviewRollout(Store& store, const UpgradeRollout& rollout, TimePoint now) {
  WARD_ASSIGN_OR_RETURN(std::vector<Agent> members, RolloutMembers(store, rollout));
  WARD_ASSIGN_OR_RETURN(auto stored, store.ListAgentUpgradeStates(rollout.tenant_id, rollout.scope,
                                                                  rollout.scope_id));
  return PlanRollout(rollout, std::move(members), stored, now);
}

Result<RolloutPlan> EvaluateRollout(Store& store, const UpgradeRollout& rollout, TimePoint now,
                                    const Agent* self, const std::string& offered_to) {
  WARD_ASSIGN_OR_RETURN(std::vector<Agent> members, RolloutMembers(store, rollout));
  if (self != nullptr) {
    for (auto& a : members) {
      if (a.id == self->id) a = *self;
    }
  }
  WARD_ASSIGN_OR_RETURN(auto stored, store.ListAgentUpgradeStates(rollout.tenant_id, rollout.scope,
                                                                  rollout.scope_id));
  RolloutPlan plan = PlanRollout(rollout, members, stored, now, offered_to);
  WARD_RETURN_IF_ERROR(store.PutAgentUpgradeStates(rollout.tenant_id, plan.changed));
  if (plan.rollout_changed) {
    Status s = store.UpdateUpgradeRolloutProgress(plan.rollout);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    if (plan.rollout.stopped_reason && !rollout.stopped_reason) {
      spdlog::warn("agent upgrade to {} of {} {} stopped: {}", rollout.target_version,
                   rollout.scope, rollout.scope_id, *plan.rollout.stopped_reason);
    }
  }
  if (!plan.reported.empty()) {
    std::vector<StoredEvent> events;
    for (const auto& s : plan.reported) {
      auto a = std::find_if(members.begin(), members.end(),
                            [&](const Agent& m) { return m.id == s.agent_id; });
      if (a == members.end()) continue;
      const bool done = s.state == "done";
      StoredEvent e = ManagerAgentEvent(*a,
                                        done                     ? "agent_upgraded"
                                        : s.state == "timed-out" ? "agent_upgrade_timed_out"
                                                                 : "agent_upgrade_failed",
                                        done ? 1 : 3, now);
      e.doc["ward"]["upgrade"] = {{"version", s.target_version},
                                  {"scope", s.scope},
                                  {"scope_id", s.scope_id},
                                  {"wave", s.wave}};
      if (s.error) e.doc["error"] = {{"message", *s.error}};
      events.push_back(std::move(e));
    }
    auto r = store.InsertEvents(events);
    if (!r) spdlog::error("agent upgrade events not stored: {}", r.error().ToString());
  }
  return plan;
}

Result<int> RunUpgradeRollouts(Store& store, const Clock& clock) {
  WARD_ASSIGN_OR_RETURN(auto tenants, store.ListTenants());
  int reported = 0;
  for (const auto& t : tenants) {
    WARD_ASSIGN_OR_RETURN(auto rollouts, store.ListUpgradeRollouts(t.id));
    for (const auto& r : rollouts) {
      if (r.stopped_reason) continue;
      auto plan = EvaluateRollout(store, r, clock.Now());
      if (!plan) {
        spdlog::error("agent upgrade rollout {} {}: {}", r.scope, r.scope_id,
                      plan.error().ToString());
        continue;
      }
      reported += static_cast<int>(plan->reported.size());
    }
  }
  return reported;
}

}  // namespace ward::manager

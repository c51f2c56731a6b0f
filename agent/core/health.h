// Module health (issue #12): a state, the reasons it is not ok, and counters — what an operator
// (and a console's computers page) needs per module. A module reports it by also implementing
// HealthReporter; the managed agent puts each running module's report into the heartbeat
// (`status.modules[].health`, docs/agent-protocol.md) and the manager exposes it per agent
// (`report` in GET /api/v1/agents/{id}, docs/api.md). Every degraded reason is also logged and
// reported as an event by the module when it happens; the health says it is still so.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ward::agent {

enum class HealthState { kOk, kDegraded, kFailed };

inline std::string_view HealthStateName(HealthState s) {
  switch (s) {
    case HealthState::kOk:
      return "ok";
    case HealthState::kDegraded:
      return "degraded";
    case HealthState::kFailed:
      return "failed";
  }
  return "ok";
}

struct ModuleHealth {
  HealthState state = HealthState::kOk;
  std::vector<std::string> reasons;  // why not ok, one sentence each
  nlohmann::json counters = nlohmann::json::object();

  void Degrade(std::string reason) {
    if (state == HealthState::kOk) state = HealthState::kDegraded;
    reasons.push_back(std::move(reason));
  }
  void Fail(std::string reason) {
    state = HealthState::kFailed;
    reasons.push_back(std::move(reason));
  }
  nlohmann::json ToJson() const {
    return {{"state", HealthStateName(state)}, {"reasons", reasons}, {"counters", counters}};
  }
};

// Implemented by a Module that reports its health. Thread-safe: called from the agent's channel
// thread while the module runs.
class HealthReporter {
 public:
  virtual ~HealthReporter() = default;
  virtual ModuleHealth Health() const = 0;
};

}  // namespace ward::agent

// Agent upgrade rollouts (issue #18; docs/updates.md "Agent upgrades"): which agents of a
// rollout (a target ward-agent version for an agent group or a policy, manager/store/store.h
// UpgradeRollout) are offered the package now, and each one's state.
//
// Waves: the members sorted by agent id; the first ceil(N * first_wave_percent / 100) (at least
// one) are wave 1, the rest wave 2. Wave 2 is offered once every wave-1 agent is back with the
// target version. An agent is
//   done       when it reports the target version (its heartbeat's status.version),
//   failed     when it reports status.upgrade {"state": "failed", "version": target} (a refused
//              signature or hash, or a failed dpkg),
//   timed-out  when it was offered the package longer than timeout_s ago and is not done,
//   downloading / installing as it reports, pending otherwise.
// A failed or timed-out agent stops the rollout (stopped_reason): nobody is offered the package
// any more until an operator puts the rollout again (a new generation; every agent starts afresh).
// Thread-safety: pure functions; EvaluateRollout calls the store (safe from many threads).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "manager/store/store.h"

namespace ward::manager {

struct RolloutPlan {
  UpgradeRollout rollout;                   // with second_wave_at / stopped_reason as they now are
  bool rollout_changed = false;             // progress to store
  std::vector<AgentUpgradeState> states;    // every member's, by agent id
  std::vector<AgentUpgradeState> changed;   // to store
  std::vector<AgentUpgradeState> reported;  // newly done, failed or timed-out: one event each
  std::set<std::string> offer;              // agent ids the package is offered to now
};

// `members`: the agents of the rollout's scope (any order); `stored`: their stored states (any
// generation; others are ignored). Marks `offered_to` as offered at `now` when the plan offers
// it the package (the heartbeat that carries the offer).
RolloutPlan PlanRollout(const UpgradeRollout& rollout, std::vector<Agent> members,
                        const std::vector<AgentUpgradeState>& stored, TimePoint now,
                        const std::string& offered_to = "");

// Loads the members of `rollout`'s scope and their states, plans, stores what changed and an
// event per reported agent (event.module manager: agent_upgraded (1), agent_upgrade_failed (3),
// agent_upgrade_timed_out (3), with ward.upgrade.version and error.message). `self` replaces the
// stored row of the heartbeating agent (its new version and status), `offered_to` as above.
Result<RolloutPlan> EvaluateRollout(Store& store, const UpgradeRollout& rollout, TimePoint now,
                                    const Agent* self = nullptr,
                                    const std::string& offered_to = "");

// The plan as it is now, nothing stored (GET .../upgrade).
Result<RolloutPlan> PreviewRollout(Store& store, const UpgradeRollout& rollout, TimePoint now);

// The rollout that applies to an agent: its group's, else its policy's; nullopt when none.
Result<std::optional<UpgradeRollout>> RolloutForAgent(Store& store, const Agent& agent);

// One pass over every tenant's rollouts (timeouts of agents that never came back). Returns how
// many agents were reported.
Result<int> RunUpgradeRollouts(Store& store, const Clock& clock);

}  // namespace ward::manager

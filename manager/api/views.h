// JSON views of stored objects as the API shows them. Secrets and their hashes never appear.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "manager/store/store.h"

namespace ward::manager {

nlohmann::json TimeJson(const std::optional<TimePoint>& t);  // RFC 3339 string or null
nlohmann::json SettingsJson(const TenantSettings& s);
nlohmann::json TenantJson(const Tenant& t);
nlohmann::json ApiKeyJson(const ApiKey& k);
// A console user, never the password hash.
nlohmann::json UserJson(const User& u);
nlohmann::json ActivationTokenJson(const ActivationToken& t);
nlohmann::json AgentJson(const Agent& a);
nlohmann::json PolicyJson(const Policy& p);
nlohmann::json CommandJson(const Command& c);
nlohmann::json AuditJson(const AuditEntry& e);
// The policy as delivered to agents: {"id", "version", "document"}.
nlohmann::json AgentPolicyJson(const Policy& p);
std::string_view CommandStateName(CommandState s);

// An event the manager itself raises about an agent (agent_offline, agent_online), stored in
// the agent's tenant like any event: event.module "manager".
StoredEvent ManagerAgentEvent(const Agent& agent, std::string_view action, int severity,
                              TimePoint now);

}  // namespace ward::manager

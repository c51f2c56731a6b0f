#include "manager/api/views.h"

#include "common/clock.h"
#include "common/event.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

nlohmann::json TimeJson(const std::optional<TimePoint>& t) {
  if (!t) return nullptr;
  return FormatTimestamp(*t);
}

nlohmann::json SettingsJson(const TenantSettings& s) {
  return {{"event_retention_days", s.event_retention_days},
          {"heartbeat_interval_s", s.heartbeat_interval_s},
          {"inactive_agent_cleanup_days", s.inactive_agent_cleanup_days}};
}

nlohmann::json TenantJson(const Tenant& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"primary", t.primary},
          {"disabled", t.disabled},
          {"settings", SettingsJson(t.settings)},
          {"created_at", TimeJson(t.created_at)}};
}

nlohmann::json ApiKeyJson(const ApiKey& k) {
  return {{"id", k.id},
          {"name", k.name},
          {"role", RoleName(k.role)},
          {"expires_at", TimeJson(k.expires_at)},
          {"revoked", k.revoked},
          {"created_at", TimeJson(k.created_at)}};
}

nlohmann::json UserJson(const User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"role", RoleName(u.role)},
          {"language", u.language},
          {"time_zone", u.time_zone},
          {"totp_enabled", u.totp_enabled},
          {"created_at", TimeJson(u.created_at)}};
}

nlohmann::json ActivationTokenJson(const ActivationToken& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"policy_id", t.policy_id ? nlohmann::json(*t.policy_id) : nlohmann::json(nullptr)},
          {"expires_at", TimeJson(t.expires_at)},
          {"max_uses", t.max_uses ? nlohmann::json(*t.max_uses) : nlohmann::json(nullptr)},
          {"uses", t.uses},
          {"revoked", t.revoked},
          {"created_at", TimeJson(t.created_at)}};
}

nlohmann::json AgentJson(const Agent& a) {
  return {{"id", a.id},
          {"hostname", a.hostname},
          {"machine_id", a.machine_id},
          {"version", a.version},
          {"policy_id", a.policy_id ? nlohmann::json(*a.policy_id) : nlohmann::json(nullptr)},
          {"applied_policy_version", a.applied_policy_version},
          {"status", a.online ? "online" : "offline"},
          {"last_seen", TimeJson(a.last_seen)},
          {"report", a.status},
          {"created_at", TimeJson(a.created_at)}};
}

nlohmann::json PolicyJson(const Policy& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"version", p.version},
          {"document", p.document},
          {"created_at", TimeJson(p.created_at)},
          {"updated_at", TimeJson(p.updated_at)}};
}

nlohmann::json AgentPolicyJson(const Policy& p) {
  return {{"id", p.id}, {"version", p.version}, {"document", p.document}};
}

std::string_view CommandStateName(CommandState s) {
  switch (s) {
    case CommandState::kQueued:
      return "queued";
    case CommandState::kDelivered:
      return "delivered";
    case CommandState::kCompleted:
      return "completed";
    case CommandState::kFailed:
      return "failed";
  }
  return "queued";
}

nlohmann::json CommandJson(const Command& c) {
  return {{"id", c.id},
          {"agent_id", c.agent_id},
          {"name", c.name},
          {"args", c.args},
          {"state", CommandStateName(c.state)},
          {"result", c.result},
          {"created_at", TimeJson(c.created_at)}};
}

nlohmann::json AuditJson(const AuditEntry& e) {
  return {{"id", e.id},         {"actor", e.actor},   {"method", e.method},  {"path", e.path},
          {"status", e.status}, {"detail", e.detail}, {"at", TimeJson(e.at)}};
}

StoredEvent ManagerAgentEvent(const Agent& agent, std::string_view action, int severity,
                              TimePoint now) {
  StoredEvent e;
  e.id = NewEventId(now);
  e.tenant_id = agent.tenant_id;
  e.agent_id = agent.id;
  e.timestamp = now;
  e.module = "manager";
  e.action = std::string(action);
  e.severity = severity;
  e.doc = {{"@timestamp", FormatTimestamp(now)},
           {"event",
            {{"id", e.id},
             {"kind", "event"},
             {"module", "manager"},
             {"type", "change"},
             {"action", action},
             {"severity", severity}}},
           {"agent", {{"id", agent.id}, {"name", agent.hostname}}},
           {"host", {{"name", agent.hostname}}}};
  if (agent.last_seen) e.doc["agent"]["last_seen"] = FormatTimestamp(*agent.last_seen);
  return e;
}

}  // namespace ward::manager

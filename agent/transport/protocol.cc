#include "agent/transport/protocol.h"

#include <fmt/format.h>

namespace ward::agent::transport {
namespace {

constexpr size_t kMaxCommands = 1000;

Result<nlohmann::json> ParseObject(std::string_view body, std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(fmt::format("{}: not JSON", what));
  if (!j.is_object()) return InvalidArgument(fmt::format("{}: not a JSON object", what));
  return j;
}

Result<std::string> GetString(const nlohmann::json& j, std::string_view key, std::string_view what,
                              bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return InvalidArgument(fmt::format("{}: {}: missing", what, key));
    return std::string();
  }
  if (!it->is_string()) return InvalidArgument(fmt::format("{}: {}: not a string", what, key));
  return it->get<std::string>();
}

Result<int64_t> GetInt(const nlohmann::json& j, std::string_view key, std::string_view what,
                       int64_t fallback, int64_t min, int64_t max) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    return InvalidArgument(fmt::format("{}: {}: not an integer", what, key));
  }
  int64_t v = it->is_number_unsigned()
                  ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), INT64_MAX))
                  : it->get<int64_t>();
  if (v < min || v > max) {
    return InvalidArgument(
        fmt::format("{}: {}: {} is out of range [{}, {}]", what, key, v, min, max));
  }
  return v;
}

}  // namespace

Result<ManagedPolicy> ParseManagedPolicy(const nlohmann::json& j, std::string_view where) {
  if (!j.is_object()) return InvalidArgument(fmt::format("{}: not an object", where));
  ManagedPolicy p;
  WARD_ASSIGN_OR_RETURN(p.id, GetString(j, "id", where, false));
  WARD_ASSIGN_OR_RETURN(p.version, GetInt(j, "version", where, 0, 0, INT64_MAX));
  auto doc = j.find("document");
  if (doc == j.end() || !doc->is_object()) {
    return InvalidArgument(fmt::format("{}: document: missing or not an object", where));
  }
  p.document = *doc;
  return p;
}

nlohmann::json ManagedPolicyToJson(const ManagedPolicy& p) {
  return {{"id", p.id}, {"version", p.version}, {"document", p.document}};
}

Result<ActivateReply> ParseActivateReply(std::string_view body) {
  constexpr std::string_view kWhat = "activation reply";
  WARD_ASSIGN_OR_RETURN(auto j, ParseObject(body, kWhat));
  ActivateReply r;
  WARD_ASSIGN_OR_RETURN(r.agent_id, GetString(j, "agent_id", kWhat, true));
  WARD_ASSIGN_OR_RETURN(r.credential, GetString(j, "credential", kWhat, true));
  WARD_ASSIGN_OR_RETURN(r.tenant_id, GetString(j, "tenant_id", kWhat, false));
  if (r.agent_id.empty() || r.credential.empty()) {
    return InvalidArgument("activation reply: agent_id and credential must not be empty");
  }
  if (r.credential.size() > 4096 || r.agent_id.size() > 256) {
    return InvalidArgument("activation reply: agent_id or credential too long");
  }
  WARD_ASSIGN_OR_RETURN(int64_t hb, GetInt(j, "heartbeat_interval_s", kWhat, 60, 1, 86400));
  r.heartbeat_interval_s = static_cast<int>(hb);
  if (auto it = j.find("policy"); it != j.end() && !it->is_null()) {
    WARD_ASSIGN_OR_RETURN(r.policy, ParseManagedPolicy(*it, "activation reply: policy"));
  }
  return r;
}

Result<HeartbeatReply> ParseHeartbeatReply(std::string_view body) {
  constexpr std::string_view kWhat = "heartbeat reply";
  WARD_ASSIGN_OR_RETURN(auto j, ParseObject(body, kWhat));
  HeartbeatReply r;
  WARD_ASSIGN_OR_RETURN(int64_t hb, GetInt(j, "heartbeat_interval_s", kWhat, 60, 1, 86400));
  r.heartbeat_interval_s = static_cast<int>(hb);
  if (auto it = j.find("policy"); it != j.end()) {
    r.has_policy = true;
    if (!it->is_null()) {
      WARD_ASSIGN_OR_RETURN(r.policy, ParseManagedPolicy(*it, "heartbeat reply: policy"));
    }
  }
  if (auto it = j.find("updates"); it != j.end() && it->is_object()) r.updates = *it;
  if (auto it = j.find("commands"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("heartbeat reply: commands: not an array");
    if (it->size() > kMaxCommands) return InvalidArgument("heartbeat reply: commands: too many");
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& c = (*it)[i];
      std::string where = fmt::format("heartbeat reply: commands[{}]", i);
      if (!c.is_object()) return InvalidArgument(fmt::format("{}: not an object", where));
      Command cmd;
      WARD_ASSIGN_OR_RETURN(cmd.id, GetString(c, "id", where, true));
      WARD_ASSIGN_OR_RETURN(cmd.name, GetString(c, "name", where, true));
      auto args = c.find("args");
      if (args == c.end() || args->is_null()) {
        cmd.args = nlohmann::json::object();
      } else if (!args->is_object()) {
        return InvalidArgument(fmt::format("{}: args: not an object", where));
      } else {
        cmd.args = *args;
      }
      r.commands.push_back(std::move(cmd));
    }
  }
  return r;
}

Result<EventsReply> ParseEventsReply(std::string_view body) {
  constexpr std::string_view kWhat = "events reply";
  WARD_ASSIGN_OR_RETURN(auto j, ParseObject(body, kWhat));
  EventsReply r;
  WARD_ASSIGN_OR_RETURN(r.accepted, GetInt(j, "accepted", kWhat, 0, 0, 1 << 20));
  WARD_ASSIGN_OR_RETURN(r.duplicates, GetInt(j, "duplicates", kWhat, 0, 0, 1 << 20));
  if (auto it = j.find("rejected"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("events reply: rejected: not an array");
    r.rejected = static_cast<int64_t>(it->size());
    if (!it->empty() && (*it)[0].is_object()) {
      const auto& f = (*it)[0];
      auto line = f.find("line");
      auto err = f.find("error");
      r.first_rejection = fmt::format(
          "line {}: {}", line != f.end() && line->is_number_integer() ? line->get<int64_t>() : -1,
          err != f.end() && err->is_string() ? err->get<std::string>().substr(0, 300) : "?");
    }
  }
  return r;
}

std::string ErrorText(int status, std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    auto e = j.find("error");
    if (e != j.end() && e->is_object()) {
      auto code = e->find("code");
      auto msg = e->find("message");
      return fmt::format("{} {}: {}", status,
                         code != e->end() && code->is_string() ? code->get<std::string>() : "?",
                         msg != e->end() && msg->is_string() ? msg->get<std::string>() : "");
    }
  }
  return fmt::format("{}: {}", status, body.substr(0, 200));
}

}  // namespace ward::agent::transport

// The agent's side of docs/agent-protocol.md: request bodies it builds and the replies it parses.
// Replies come from the network and are treated as hostile: every parser checks types and sizes
// and returns an error naming the field, never throws.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::agent::transport {

// A policy as the manager sends it.
struct ManagedPolicy {
  std::string id;
  int64_t version = 0;
  nlohmann::json document;  // an object
};

struct ActivateReply {
  std::string agent_id;
  std::string credential;
  std::string tenant_id;
  int heartbeat_interval_s = 60;
  std::optional<ManagedPolicy> policy;  // absent when the token carries none
};

struct Command {
  std::string id;
  std::string name;
  nlohmann::json args;  // an object
};

struct HeartbeatReply {
  int heartbeat_interval_s = 60;
  bool has_policy = false;              // the key was present
  std::optional<ManagedPolicy> policy;  // null when unassigned
  std::vector<Command> commands;
  nlohmann::json updates;  // the "updates" object as sent (agent/updates/sync.h parses it); null
};

struct EventsReply {
  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t rejected = 0;
  std::string first_rejection;  // "line 7: event.id: missing"
};

Result<ActivateReply> ParseActivateReply(std::string_view body);
Result<HeartbeatReply> ParseHeartbeatReply(std::string_view body);
Result<EventsReply> ParseEventsReply(std::string_view body);
Result<ManagedPolicy> ParseManagedPolicy(const nlohmann::json& j, std::string_view where);
nlohmann::json ManagedPolicyToJson(const ManagedPolicy& p);
// "<code>: <message>" from an error body, or the body's first 200 bytes.
std::string ErrorText(int status, std::string_view body);

}  // namespace ward::agent::transport

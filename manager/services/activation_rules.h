// Activation rules (Deep Security's event-based tasks, docs/deployment.md): an ordered list per
// tenant; at activation the first rule whose every condition matches the facts the agent
// reports assigns its policy (over the activation token's). Conditions: host name and OS as
// shell globs (fnmatch, case-insensitive), an IP range (CIDR, v4 or v6) holding one of the
// host's addresses, cloud tags (each named tag present and matching its glob).
//
// Pure functions; the store keeps the rules as the JSON document the API was given.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ward::manager {

// What an agent says about its host at activation.
struct HostFacts {
  std::string hostname;
  std::string os;
  std::vector<std::string> ips;             // the host's addresses (else the request's source)
  std::map<std::string, std::string> tags;  // cloud instance tags, where the agent has them
};

struct ActivationRule {
  std::string name;
  std::optional<std::string> hostname;      // glob
  std::optional<std::string> os;            // glob
  std::optional<std::string> ip;            // CIDR ("10.0.0.0/8", "2001:db8::/32", or one address)
  std::map<std::string, std::string> tags;  // tag name -> glob
  // At least one of the two (issue #18, agent groups): the agent joins the group, and gets the
  // rule's policy, else the group's (if it has one), else the token's.
  std::optional<std::string> policy_id;
  std::optional<std::string> group_id;
};

// Parses and checks {"rules": [...]}-style arrays: each rule an object {"name", "match":
// {"hostname"?, "os"?, "ip"?, "tags"?}, "policy_id"?, "group_id"?} (at least one of the two ids),
// with at least one condition, at most 100
// rules. kInvalidArgument naming the element ("rules[2].match.ip: ...").
Result<std::vector<ActivationRule>> ParseActivationRules(const nlohmann::json& rules);

// The first rule that matches `facts`, or nullptr.
const ActivationRule* FirstMatchingRule(const std::vector<ActivationRule>& rules,
                                        const HostFacts& facts);

// Whether `address` (dotted or IPv6 text) is inside `cidr`; false for malformed input.
bool InCidr(const std::string& address, const std::string& cidr);

}  // namespace ward::manager

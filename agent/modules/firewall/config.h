// The `firewall` policy section (docs/firewall.md, docs/policy.md): stateful host firewall rules,
// a default per direction, detect/prevent, named IP lists, the "commit confirmed" timeout and
// active response. Parsed and validated without side effects; part of ward::firewall_policy,
// which links no engine (the manager validates policies with it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_node.h"
#include "common/status.h"

namespace ward::agent::firewall {

enum class Mode { kDetect, kPrevent };
enum class Direction { kInbound, kOutbound };
enum class Protocol { kAny, kTcp, kUdp, kIcmp, kIcmpv6 };
// kLog: allowed and reported.
enum class Action { kAllow, kDeny, kLog };

std::string_view ModeName(Mode m);
std::string_view DirectionName(Direction d);
std::string_view ProtocolName(Protocol p);
std::string_view ActionName(Action a);

// An address or network, v4 or v6, normalised ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32").
struct Cidr {
  bool v6 = false;
  uint8_t addr[16] = {};  // network byte order; the first 4 bytes for v4
  int prefix = 0;         // 0..32 or 0..128
  std::string ToString() const;
  bool Contains(const Cidr& host) const;  // `host` of the same family, any prefix
  bool operator==(const Cidr& o) const;
};
// "10.1.2.0/24", "10.1.2.3" (a host), "2001:db8::/32", "::1". Host bits must be zero.
Result<Cidr> ParseCidr(std::string_view text);

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
};

struct Rule {
  std::string id;  // [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, unique in the policy
  Direction direction = Direction::kInbound;
  Protocol protocol = Protocol::kAny;
  std::vector<PortRange> local_ports;   // empty = any; tcp/udp only
  std::vector<PortRange> remote_ports;  // empty = any; tcp/udp only
  // Remote addresses: the CIDRs written in the rule plus those of the named lists it uses.
  // Empty = any address.
  std::vector<Cidr> remote;
  std::vector<std::string> remote_lists;  // the list names, as written (for the docs/events)
  std::vector<std::string> interfaces;    // empty = any
  Action action = Action::kDeny;
};

// Active response (docs/firewall.md): events that block their source address for a while.
struct Trigger {
  std::string id;
  std::string module;                     // "loginspect" or "ips"
  std::vector<std::string> rule_ids;      // loginspect/ips rule.id values; empty = any
  std::string event_action;               // event.action must be this ("blocked"); "" = any
  int64_t min_level = 0;                  // loginspect: rule.level at least this (0 = any)
  int64_t min_anomaly_score = 0;          // ips: ips.anomaly_score at least this (0 = any)
  int64_t count = 1;                      // this many matching events from one source ...
  std::chrono::milliseconds within{0};    // ... within this window (0 = count must be 1)
  std::chrono::milliseconds duration{0};  // 0 = the section's duration
};

struct ActiveResponse {
  bool enabled = false;
  std::chrono::milliseconds duration = std::chrono::minutes(10);
  int64_t max_blocked = 1000;
  std::vector<Cidr> never_block;  // beside the manager and the current SSH peers
  std::vector<Trigger> triggers;
};

struct FirewallConfig {
  Mode mode = Mode::kPrevent;
  Action default_inbound = Action::kAllow;
  Action default_outbound = Action::kAllow;
  bool allow_loopback = true;      // traffic on `lo` accepted before the rules
  int log_group = 7000;            // NFLOG group of the log statements
  int64_t events_per_second = 20;  // per rule; the rest is counted and reported
  std::chrono::milliseconds confirm_timeout = std::chrono::minutes(2);  // 0 = off
  std::vector<Rule> rules;
  ActiveResponse active_response;
};

Result<FirewallConfig> ParseFirewallConfig(const ConfigNode& section);

}  // namespace ward::agent::firewall

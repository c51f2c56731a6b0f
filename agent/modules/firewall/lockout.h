// Lock-out protection (docs/firewall.md, "Safety"): the connections a new rule set must not cut
// — the agent's manager channel and the SSH sessions open now — and the check that refuses a rule
// set that would, naming the rule. A pure evaluation of the rules against each connection's first
// packet (direction, protocol, addresses, ports, interface), in the order nftables walks them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/firewall/config.h"
#include "common/status.h"

namespace ward::agent::firewall {

// A connection that must survive a policy change, seen as its first packet from this host.
struct Endpoint {
  std::string what;  // "the manager channel", "the SSH session from 192.0.2.7"
  Direction direction = Direction::kOutbound;
  Protocol protocol = Protocol::kTcp;
  Cidr remote;              // a host address
  uint16_t local_port = 0;  // 0 = unknown (matches no rule that names local ports)
  uint16_t remote_port = 0;
  std::string interface;  // "" = not known
};

// FailedPrecondition "rule <id> would cut <what> (...)" for the first endpoint the rule set would
// deny (prevent mode only: detect denies nothing). A rule that names interfaces when the
// endpoint's is not known is skipped: the commit-confirmed timer catches what this cannot see.
Status CheckLockout(const FirewallConfig& config, const std::vector<Endpoint>& endpoints);

// The established inbound TCP sessions to local port `port` (22: SSH), from /proc/net/tcp and
// /proc/net/tcp6 under `proc_net` ("/proc/net" in production).
std::vector<Endpoint> InboundSessions(const std::string& proc_net, uint16_t port);

// The manager channel of a URL ("https://host:port/..."; the proxy's when the agent uses one):
// the host resolved to its addresses, the port (443 by default). Empty when the URL is empty or
// the host cannot be resolved.
std::vector<Endpoint> ManagerEndpoints(std::string_view url);

}  // namespace ward::agent::firewall

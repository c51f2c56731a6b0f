// The nftables rule set the firewall installs (docs/firewall.md), as text for libnftables: a pure
// function of the policy and of the addresses active response blocks, unit-tested. The text is
// one transaction: it creates Ward's table, sets and base chains if missing and replaces their
// contents, so a policy change replaces every rule at once (no packet sees an empty or half-built
// chain) and whatever a killed agent left is replaced too.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/firewall/config.h"

namespace ward::agent::firewall {

inline constexpr std::string_view kTable = "ward";  // `table inet ward`
// Before iptables' filter chains (priority 0), where the IPS's NFQUEUE rules are: what the
// firewall drops is never queued (docs/net.md, "firewall → ips → egress").
inline constexpr int kPriority = -10;

// One address active response blocks, with the time it has left.
struct BlockedEntry {
  Cidr address;  // a host (/32 or /128)
  std::chrono::seconds left{0};
};

// The log prefix of a rule's log statement: "ward:<kind>:<rule id>"; kind d = denied,
// w = would be denied (detect mode), l = logged (allowed).
enum class LogKind { kDenied, kWouldDeny, kLogged };
std::string LogPrefix(LogKind kind, std::string_view rule_id);

// `stale_sets`: the address sets the installed rule set has (its `rule_sets` when it was
// rendered); those the new one lacks are deleted in the same transaction. `rule_sets`, when
// given, receives the names of the new rule set's address sets ("r0_4", "r0_6", ...).
std::string RenderRuleset(const FirewallConfig& config, const std::vector<BlockedEntry>& blocked,
                          const std::vector<std::string>& stale_sets = {},
                          std::vector<std::string>* rule_sets = nullptr);

// The text that removes Ward's table (also when it does not exist).
std::string RenderRemoval();

}  // namespace ward::agent::firewall

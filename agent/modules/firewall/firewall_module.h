// The `firewall` module (docs/firewall.md): a stateful host firewall in nftables (Ward's own
// `table inet ward`), replaced atomically on every policy change and removed on stop; lock-out
// protection and "commit confirmed"; events for denied/logged connections from NFLOG, rate-limited
// per rule; active response (blocking an event's source address for a while).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "agent/core/command.h"
#include "agent/core/module.h"
#include "agent/modules/firewall/schema.h"

namespace ward::agent::firewall {

std::unique_ptr<Module> Create(const ModuleContext& ctx);
// The handlers of the commands Schema() declares (firewall.blocked_list, firewall.unblock).
std::span<const CommandHandler> Handlers();

// The crash cleanup of an agent whose policy no longer enables the firewall: removes the table a
// killed agent left (`table inet ward`), if there is one. A running firewall module replaces it in
// its own first transaction instead. Unavailable when nftables cannot be used.
Status RemoveLeftoverTable();

// What the commands and tests reach in a running firewall module. Thread-safe.
class FirewallControl {
 public:
  virtual ~FirewallControl() = default;
  // [{address, trigger, blocked_at, expires}] of the addresses active response blocks.
  virtual nlohmann::json BlockedAddresses() const = 0;
  // NotFound when `address` is not blocked.
  virtual Status Unblock(const std::string& address) = 0;
  // Every blocked address; returns them.
  virtual std::vector<std::string> UnblockAll() = 0;
  // {rule id: {packets, bytes}} read back from the kernel's counters.
  virtual Result<nlohmann::json> RuleCounters() = 0;
};

}  // namespace ward::agent::firewall

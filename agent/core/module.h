// Module: a unit of protection (integrity, autoheal, antimalware, ips, ...), and what it may
// touch. Nothing registers itself: agent/modules/builtin.cc holds the one list of modules.
#pragma once

#include <filesystem>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "agent/core/change_ledger.h"
#include "agent/core/event_bus.h"
#include "agent/core/module_schema.h"
#include "common/clock.h"
#include "common/config_node.h"
#include "common/event_sink.h"
#include "common/file_system.h"
#include "common/status.h"

namespace ward::net {
class ChainManager;  // agent/net/chain_manager.h
}  // namespace ward::net

namespace ward::agent {

// What a module may touch; owned by the host and outliving every module.
struct ModuleContext {
  EventSink& events;  // thread-safe, never blocks
  FileSystem& fs;     // the real one in production, a fake or faulty one in tests
  const Clock& clock;
  std::filesystem::path state_dir;
  EventBus* bus = nullptr;         // every event, in process; null in some tests and commands
  ChangeLedger* ledger = nullptr;  // modules announcing their own changes; may be null
  // Ward's iptables chains, one owner for every module (agent/net); null in tests and commands
  // (a module that needs it then makes its own).
  net::ChainManager* chains = nullptr;
  // The URL the agent reaches its manager at (its proxy's when it uses one); "" when standalone.
  // The firewall never cuts it (docs/firewall.md, "Safety").
  std::string manager_url = {};
};

// Configure() runs before Run() and again on every policy update, possibly while Run()
// executes. A failed Configure() leaves the previous policy in force. `document` is the whole
// policy, for the rare module whose section depends on another's (autoheal needs integrity's).
class Module {
 public:
  virtual ~Module() = default;
  virtual std::string_view Name() const = 0;
  virtual Status Configure(const PolicySection& section, const ConfigNode& document) = 0;
  virtual void Run(std::stop_token stop) = 0;  // returns soon after stop is requested
};

// A module as the agent runs it: its schema (name, validate, enabled, commands) and its runtime.
struct ModuleSpec : ModuleSchema {
  std::unique_ptr<Module> (*create)(const ModuleContext& ctx);
};

}  // namespace ward::agent

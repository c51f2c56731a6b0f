// ManagedAgent: what `ward-agent run` adds in managed mode (docs/transport.md): the identity
// (activating first from `agent.manager` when the agent has none, re-activating when the state
// dir was cloned to another machine), the durable spool the event queue writes into, the policy
// (cached on disk: a restart without the manager runs the last one), and the Channel that sends
// events and heartbeats, applies pushed policies with ModuleHost::Apply and runs commands.
// Thread-safety: Open/Attach/Start/Stop/Reload from the agent's main thread; the channel's hooks
// serialise every ModuleHost call with one mutex.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "agent/core/command.h"
#include "agent/core/event_queue.h"
#include "agent/core/module_host.h"
#include "agent/core/policy.h"
#include "agent/transport/channel.h"
#include "agent/transport/spool.h"
#include "agent/transport/spool_output.h"
#include "agent/updates/sync.h"
#include "agent/updates/upgrade.h"

namespace ward::agent::transport {

class ManagedAgent {
 public:
  // bootstrap: the local config's `agent.manager`, or nullptr (then the agent must have been
  // activated). handlers: the modules' command handlers (agent/modules/builtin.h). Fails when
  // there is no identity and no way to get one.
  static Result<std::unique_ptr<ManagedAgent>> Open(const std::filesystem::path& state_dir,
                                                    const ManagerSettings* bootstrap,
                                                    std::span<const ModuleSpec> specs,
                                                    std::span<const CommandHandler> handlers,
                                                    const Clock& clock);
  ~ManagedAgent();

  // The policy to start with: the cached one, or an empty one (no module) when none came yet.
  const Policy& policy() const { return policy_; }
  const Identity& identity() const { return identity_; }

  // The Output the event queue writes into (the spool). The agent keeps a pointer to it for
  // CloseSpoolOutput(); the event queue owning it must outlive that call.
  std::unique_ptr<Output> MakeSpoolOutput();
  // At shutdown, once the event queue has stopped: writes (or counts as dropped) the events the
  // spool output still holds in memory because the disk refused them.
  void CloseSpoolOutput();
  // Connects to the running pieces and starts the channel.
  void Start(ModuleHost& host, EventSink& events);
  // Stops the channel (before the modules stop, so no policy is applied meanwhile). Events
  // emitted afterwards still go into the spool and are sent at the next start.
  void Stop();
  // SIGHUP / `policy.reload`: applies the cached policy again.
  Status Reload();

  Spool& spool() { return *spool_; }
  Channel* channel() { return channel_.get(); }

  // The command table (agent/core/command.h): every command a manager may queue
  // (agent/modules/schemas.h AllCommands) with what runs it here — the agent's own handler
  // (policy.reload) or the handler of the module that declares it. A command without a handler
  // answers "unsupported"; agent/modules/builtin_test.cc checks there is none.
  struct CommandRoute {
    const CommandSpec* spec;
    std::string_view module;  // empty: the agent's own
    CommandFn run = nullptr;  // a module's handler
    Result<nlohmann::json> (ManagedAgent::*own)(const nlohmann::json& args) = nullptr;
  };
  static std::vector<CommandRoute> CommandTable(std::span<const ModuleSpec> specs,
                                                std::span<const CommandHandler> handlers);

 private:
  ManagedAgent() = default;
  Status ApplyPolicy(const ManagedPolicy& p, bool from_cache);
  nlohmann::json RunCommand(const Command& cmd);
  Result<nlohmann::json> RunModuleCommand(const CommandRoute& route, const nlohmann::json& args);
  Result<nlohmann::json> ReloadCommand(const nlohmann::json& args);
  nlohmann::json StatusDoc() const;
  // Update bundles (docs/updates.md): fetches what the policy in force, or the one arriving,
  // refers to; ReloadKind reconfigures the running modules whose section names managed:<kind>.
  void ApplyUpdates(const nlohmann::json& offer, const nlohmann::json& incoming_policy,
                    const updates::PostFn& post);
  Status ReloadKind(std::string_view kind);

  std::filesystem::path state_dir_;
  std::vector<ModuleSpec> specs_;
  std::vector<CommandRoute> commands_;
  const Clock* clock_ = nullptr;
  Identity identity_;
  std::string token_;
  std::unique_ptr<Spool> spool_;
  Policy policy_;
  int64_t policy_version_ = 0;
  std::string policy_id_;      // of the policy in force ("" = none)
  nlohmann::json policy_doc_;  // the document of policy_ (guarded by host_mu_)
  std::unique_ptr<updates::UpdateSync> updates_;
  std::unique_ptr<updates::AgentUpgrade> upgrade_;  // agent upgrades (docs/updates.md)
  mutable std::mutex host_mu_;                      // guards host_ calls and policy_
  ModuleHost* host_ = nullptr;
  EventSink* events_ = nullptr;
  std::unique_ptr<Channel> channel_;
  std::atomic<Channel*> wake_{nullptr};  // read by the event queue's dispatch thread
  SpoolOutput* spool_output_ = nullptr;
};

}  // namespace ward::agent::transport

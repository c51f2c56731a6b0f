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

#include "agent/core/event_queue.h"
#include "agent/core/module_host.h"
#include "agent/core/policy.h"
#include "agent/transport/channel.h"
#include "agent/transport/spool.h"
#include "agent/transport/spool_output.h"

namespace ward::agent::transport {

class ManagedAgent {
 public:
  // bootstrap: the local config's `agent.manager`, or nullptr (then the agent must have been
  // activated). Fails when there is no identity and no way to get one.
  static Result<std::unique_ptr<ManagedAgent>> Open(const std::filesystem::path& state_dir,
                                                    const ManagerSettings* bootstrap,
                                                    std::span<const ModuleSpec> specs,
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

 private:
  ManagedAgent() = default;
  Status ApplyPolicy(const ManagedPolicy& p, bool from_cache);
  nlohmann::json RunCommand(const Command& cmd);
  nlohmann::json StatusDoc() const;

  std::filesystem::path state_dir_;
  std::vector<ModuleSpec> specs_;
  const Clock* clock_ = nullptr;
  Identity identity_;
  std::string token_;
  std::unique_ptr<Spool> spool_;
  Policy policy_;
  int64_t policy_version_ = 0;
  mutable std::mutex host_mu_;  // guards host_ calls and policy_
  ModuleHost* host_ = nullptr;
  EventSink* events_ = nullptr;
  std::unique_ptr<Channel> channel_;
  std::atomic<Channel*> wake_{nullptr};  // read by the event queue's dispatch thread
  SpoolOutput* spool_output_ = nullptr;
};

}  // namespace ward::agent::transport

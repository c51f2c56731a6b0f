// Channel: a managed agent's link to the manager once activated. Two threads:
//  - the sender takes the oldest events from the Spool in batches (≤ 500 events, ≤ 8 MiB of JSON)
//    and POSTs them as gzip NDJSON to /agent/v1/events, one batch in flight, so events arrive in
//    spool order; a batch leaves the spool only after the manager's 200. It sends as soon as
//    500 events wait, otherwise at most one second after the previous batch. Failures back off
//    (0.5 s doubling to 5 s) and the batch is sent again, unchanged, so nothing is lost.
//  - the heartbeat POSTs status every heartbeat_interval (± 10% jitter) and hands a changed
//    policy and commands to the hooks; command results go up in the next heartbeat (sent one
//    second later rather than a whole interval).
// A `409 identity_conflict` (the state dir was copied to another machine) re-activates with
// clone_of and carries on with the new identity.
// Thread-safety: Start/Stop/Wake from any one thread; hooks run on the heartbeat thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "agent/transport/https_client.h"
#include "agent/transport/identity.h"
#include "agent/transport/protocol.h"
#include "agent/transport/spool.h"
#include "common/clock.h"
#include "common/event_sink.h"

namespace ward::agent::transport {

struct ChannelHooks {
  // {"modules": [...], "policy_version": N, "hostname": "..."} merged into the status.
  std::function<nlohmann::json()> status;
  // Applies a policy from the manager; an error keeps the previous one in force.
  std::function<Status(const ManagedPolicy&)> apply_policy;
  // Runs a command; returns {"status": "ok"|"error"|"unsupported", "output": {...}}.
  std::function<nlohmann::json(const Command&)> run_command;
  // The reply's "updates" (docs/updates.md), before its policy is applied: `incoming_policy` is
  // that policy's document (null when none comes), `post` calls the manager on this thread's
  // connection and returns (status, body).
  std::function<void(const nlohmann::json& updates, const nlohmann::json& incoming_policy,
                     const std::function<Result<std::pair<int, std::string>>(
                         std::string_view path, std::string body)>& post)>
      apply_updates;
};

struct ChannelOptions {
  std::filesystem::path state_dir;
  std::string token;  // for re-activation of a clone, when the config has one
  size_t batch_events = 500;
  size_t batch_bytes = 8 << 20;
  std::chrono::milliseconds batch_interval{1000};
};

struct ChannelCounters {
  std::atomic<uint64_t> events_sent{0};
  std::atomic<uint64_t> events_duplicate{0};
  std::atomic<uint64_t> events_rejected{0};
  std::atomic<uint64_t> batches_failed{0};
  std::atomic<uint64_t> heartbeats_sent{0};
  std::atomic<uint64_t> heartbeats_failed{0};
  std::atomic<uint64_t> proxy_errors{0};
  std::atomic<uint64_t> reactivations{0};
};

class Channel {
 public:
  Channel(Identity identity, ChannelOptions options, Spool& spool, EventSink& events,
          const Clock& clock, ChannelHooks hooks);
  ~Channel();

  void Start();
  void Stop();
  // New events are in the spool.
  void Wake();
  // Sends a heartbeat now (e.g. after SIGHUP).
  void HeartbeatSoon();

  const ChannelCounters& counters() const { return counters_; }
  Identity identity() const;
  int64_t policy_version() const { return policy_version_.load(); }
  void set_policy_version(int64_t v) { policy_version_ = v; }
  // The id of the policy in force (reported as status.policy_id, so the manager also notices a
  // switch to another policy that has the same version number, e.g. a new agent group's).
  void set_policy_id(std::string id) {
    std::lock_guard lock(hb_mu_);
    policy_id_ = std::move(id);
  }

  // The status document of the next heartbeat (exposed for tests).
  nlohmann::json BuildStatus();

 private:
  void SenderLoop(std::stop_token stop);
  void HeartbeatLoop(std::stop_token stop);
  // Sends one batch; false when it failed (the caller backs off).
  bool SendBatch(HttpsClient& client, uint64_t generation);
  bool Heartbeat(HttpsClient& client, uint64_t generation);
  Result<std::unique_ptr<HttpsClient>> MakeClient();
  // A loop's client: dropped when the identity changed (re-activation), made when missing. False,
  // after logging `what` and waiting the longest back-off, when none can be made.
  bool EnsureClient(std::stop_token& stop, std::unique_ptr<HttpsClient>& client,
                    uint64_t& generation, std::string_view what, bool heartbeat);
  // After a 409: re-activates as a clone; true on success.
  bool Reactivate(uint64_t seen_generation);
  // proxy_fault: the proxy refused or failed (rather than the manager).
  void NoteFailure(bool proxy_fault, const Status& s, std::atomic<bool>& failing,
                   std::string_view what);
  void NoteSuccess(std::atomic<bool>& failing, std::string_view what);
  // Waits until stop, wake, or the deadline.
  void WaitFor(std::stop_token& stop, std::chrono::milliseconds d, bool heartbeat);

  mutable std::mutex id_mu_;
  Identity identity_;
  uint64_t identity_generation_ = 0;
  std::mutex reactivate_mu_;
  ChannelOptions options_;
  Spool& spool_;
  EventSink& events_;
  const Clock& clock_;
  ChannelHooks hooks_;
  ChannelCounters counters_;
  std::atomic<int64_t> policy_version_{0};

  std::mutex mu_;
  std::condition_variable_any cv_;
  bool wake_sender_ = false;
  bool wake_heartbeat_ = false;

  std::mutex hb_mu_;  // heartbeat thread state below
  std::optional<nlohmann::json> policy_error_;
  int64_t failed_version_ = -1;
  std::string policy_id_;  // "" = none or unknown
  std::string failed_id_;
  nlohmann::json command_results_ = nlohmann::json::array();
  std::atomic<int> heartbeat_interval_s_{60};
  std::atomic<bool> sender_failing_{false};
  std::chrono::milliseconds retry_after_{0};  // sender thread only
  std::atomic<bool> heartbeat_failing_{false};

  std::jthread sender_;
  std::jthread heartbeat_;
};

}  // namespace ward::agent::transport

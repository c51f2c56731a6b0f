// Notifier: drains the notification outbox (issue 19, docs/alerts.md "Delivery"). Each round
// claims due notifications in the store (a claim per row, with a lease: several manager nodes
// share the outbox and a node that dies mid-delivery loses its claim when the lease ends),
// sends each to its channel, and settles it: sent, retried with exponential back-off (base *
// 2^(attempt-1), at most `max_backoff`, ±20 % jitter), or given up after `give_up_after` (or at
// once for a permanent failure such as a webhook's 404). Every attempt is in the alert's
// delivery log. When a channel's run of failures reaches `failing_threshold`, one event
// `manager` / `alert_channel_failing` (severity 3) is stored in the tenant, which raises a
// built-in alert; `alert_channel_recovered` (severity 1) follows its next success.
//
// Delivery runs on the notifier's own threads, never on a request's: a slow or dead endpoint
// delays only its own notifications (each attempt is bounded by the sender's timeout).
// Thread-safety: Start/Stop/Wake from any thread; RunOnce from one thread at a time per worker.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "manager/alerting/senders.h"
#include "manager/auth/secret_box.h"
#include "manager/store/store.h"

namespace ward::manager::alerting {

struct NotifierOptions {
  int workers = 2;                           // threads claiming and sending
  int claim_batch = 4;                       // notifications per claim
  std::chrono::seconds lease{120};           // a claim's lifetime (> the senders' timeout)
  std::chrono::milliseconds idle_poll{500};  // how often an idle worker looks at the outbox
  std::chrono::seconds base_backoff{5};
  std::chrono::seconds max_backoff{3600};
  std::chrono::seconds give_up_after{24 * 3600};  // from the notification's creation
  int failing_threshold = 5;
  std::chrono::milliseconds send_timeout{15000};
};

// Secrets in a channel's config (webhook "secret", email "password") are sealed with the
// manager's key when there is one: these seal/open them (values not starting with "sb1:" are
// used as they are).
nlohmann::json SealChannelSecrets(const nlohmann::json& config, const SecretBox* box);
Result<nlohmann::json> OpenChannelSecrets(const nlohmann::json& config, const SecretBox* box);
// The configuration as the API shows it: secrets replaced by "secret_set": true/false.
nlohmann::json RedactChannelConfig(const nlohmann::json& config);

// The retry delay after failed attempt number `attempt` (1, 2, ...): base * 2^(attempt-1), at
// most `max`, ±20 % jitter, at least 1 s. Shared by the notifier and the report e-mail outbox
// (manager/reports/mailer.h).
std::chrono::seconds RetryBackoff(int attempt, std::chrono::seconds base, std::chrono::seconds max);

class Notifier {
 public:
  // `senders` by channel kind ("webhook", "email"); `box` may be null.
  Notifier(Store& store, const Clock& clock, NotifierOptions options, std::string node_id,
           std::map<std::string, std::unique_ptr<Sender>> senders,
           std::shared_ptr<const SecretBox> box);
  ~Notifier();

  void Start();
  void Stop();  // waits for the attempts in flight; idempotent
  void Wake();  // an alert was just queued: look now

  // One round of one worker: claims, sends, settles. Returns how many notifications it
  // settled (sent, retried or given up). Public for tests.
  int RunOnce();

  // The default senders: webhook and email.
  static std::map<std::string, std::unique_ptr<Sender>> DefaultSenders(
      std::chrono::milliseconds timeout);

 private:
  void Deliver(const Notification& n);
  std::chrono::seconds Backoff(int attempt) const;
  void ChannelEvent(const AlertChannel& ch, std::string_view action, int severity,
                    const std::string& detail);

  Store& store_;
  const Clock& clock_;
  NotifierOptions options_;
  std::string node_id_;
  std::map<std::string, std::unique_ptr<Sender>> senders_;
  std::shared_ptr<const SecretBox> box_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t wakes_ = 0;
};

}  // namespace ward::manager::alerting

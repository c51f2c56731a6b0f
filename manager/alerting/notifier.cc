#include "manager/alerting/notifier.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

#include "common/event.h"
#include "manager/alerting/rules.h"

namespace ward::manager::alerting {

using json = nlohmann::json;

namespace {

constexpr const char* kSecretKeys[] = {"secret", "password"};

std::string NewDeliveryId(TimePoint now) { return NewEventId(now); }

}  // namespace

json SealChannelSecrets(const json& config, const SecretBox* box) {
  json out = config;
  if (box == nullptr || !out.is_object()) return out;
  for (const char* k : kSecretKeys) {
    auto it = out.find(k);
    if (it != out.end() && it->is_string() && !SecretBox::IsSealed(it->get<std::string>())) {
      *it = box->Seal(it->get<std::string>());
    }
  }
  return out;
}

Result<json> OpenChannelSecrets(const json& config, const SecretBox* box) {
  json out = config;
  if (!out.is_object()) return out;
  for (const char* k : kSecretKeys) {
    auto it = out.find(k);
    if (it == out.end() || !it->is_string() || !SecretBox::IsSealed(it->get<std::string>())) {
      continue;
    }
    if (box == nullptr) return FailedPrecondition(fmt::format("{}: sealed, no manager key", k));
    auto plain = box->Open(it->get<std::string>());
    if (!plain) return plain.error().WithContext(k);
    *it = *plain;
  }
  return out;
}

json RedactChannelConfig(const json& config) {
  json out = config;
  if (!out.is_object()) return out;
  for (const char* k : kSecretKeys) {
    auto it = out.find(k);
    if (it == out.end()) continue;
    bool set = it->is_string() && !it->get<std::string>().empty();
    out.erase(it);
    out[fmt::format("{}_set", k)] = set;
  }
  return out;
}

Notifier::Notifier(Store& store, const Clock& clock, NotifierOptions options, std::string node_id,
                   std::map<std::string, std::unique_ptr<Sender>> senders,
                   std::shared_ptr<const SecretBox> box)
    : store_(store),
      clock_(clock),
      options_(options),
      node_id_(std::move(node_id)),
      senders_(std::move(senders)),
      box_(std::move(box)) {}

Notifier::~Notifier() { Stop(); }

std::map<std::string, std::unique_ptr<Sender>> Notifier::DefaultSenders(
    std::chrono::milliseconds timeout) {
  std::map<std::string, std::unique_ptr<Sender>> s;
  s["webhook"] = MakeWebhookSender(timeout);
  s["email"] = MakeEmailSender(timeout);
  s["syslog"] = MakeSyslogSender(timeout);
  return s;
}

void Notifier::Start() {
  std::lock_guard lock(mu_);
  if (!threads_.empty()) return;
  stop_ = false;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    threads_.emplace_back([this] {
      std::unique_lock lock(mu_);
      while (!stop_) {
        lock.unlock();
        int n = RunOnce();
        lock.lock();
        if (stop_) break;
        if (n > 0) continue;  // more may be due
        uint64_t seen = wakes_;
        cv_.wait_for(lock, options_.idle_poll, [&] { return stop_ || wakes_ != seen; });
      }
    });
  }
}

void Notifier::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

void Notifier::Wake() {
  {
    std::lock_guard lock(mu_);
    ++wakes_;
  }
  cv_.notify_all();
}

std::chrono::seconds Notifier::Backoff(int attempt) const {
  return RetryBackoff(attempt, options_.base_backoff, options_.max_backoff);
}

std::chrono::seconds RetryBackoff(int attempt, std::chrono::seconds base_s,
                                  std::chrono::seconds max) {
  const double base = static_cast<double>(base_s.count());
  double s = base * std::pow(2.0, std::min(std::max(attempt, 1) - 1, 30));
  s = std::min(s, static_cast<double>(max.count()));
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(s * jitter(rng))));
}

int Notifier::RunOnce() {
  auto claimed =
      store_.ClaimNotifications(node_id_, clock_.Now(), options_.lease, options_.claim_batch);
  if (!claimed) {
    spdlog::warn("notifications: claim failed: {}", claimed.error().ToString());
    return 0;
  }
  for (const Notification& n : *claimed) Deliver(n);
  return static_cast<int>(claimed->size());
}

void Notifier::Deliver(const Notification& n) {
  auto alert = store_.GetAlert(n.tenant_id, n.alert_id);
  auto channel = store_.GetAlertChannel(n.tenant_id, n.channel_id);
  if (!alert || !channel) {
    // Deleted meanwhile (a deleted channel's pending rows go with it), or the database is away:
    // the claim runs out and the row is looked at again.
    spdlog::warn("notification {}: {}", n.id,
                 (!alert ? alert.error() : channel.error()).ToString());
    return;
  }
  AlertMessage m;
  m.delivery_id = n.id;
  m.alert = *alert;
  m.rule_id = n.rule_id;
  if (auto t = store_.GetTenant(n.tenant_id)) m.tenant_name = t->name;
  if (auto a = store_.GetAgent(n.tenant_id, alert->agent_id)) m.hostname = a->hostname;
  m.rule_name = n.rule_id;
  for (const EffectiveRule& d : BuiltinDefaults()) {
    if (d.id == n.rule_id) m.rule_name = d.name;
  }
  if (!IsBuiltinId(n.rule_id)) {
    if (auto r = store_.GetAlertRule(n.tenant_id, n.rule_id)) m.rule_name = r->name;
  }

  const TimePoint start = clock_.Now();
  const auto steady = std::chrono::steady_clock::now();
  m.sent_at = start;
  SendResult sent;
  auto config = OpenChannelSecrets(channel->config, box_.get());
  auto sender = senders_.find(channel->kind);
  if (!channel->enabled) {
    sent = {false, true, "channel disabled"};
  } else if (!config) {
    sent = {false, true, config.error().ToString()};
  } else if (sender == senders_.end()) {
    sent = {false, true, fmt::format("no sender for channel kind {}", channel->kind)};
  } else {
    sent = sender->second->Send(*config, m);
  }
  DeliveryOutcome out;
  out.attempt.id = NewDeliveryId(start);
  out.attempt.tenant_id = n.tenant_id;
  out.attempt.notification_id = n.id;
  out.attempt.alert_id = n.alert_id;
  out.attempt.channel_id = n.channel_id;
  out.attempt.attempt = n.attempts + 1;
  out.attempt.at = start;
  out.attempt.ok = sent.ok;
  out.attempt.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - steady)
                                .count();
  out.attempt.detail = sent.detail;
  if (!sent.ok && !sent.permanent && start - n.created_at < options_.give_up_after) {
    out.retry_at = start + Backoff(out.attempt.attempt);
  }
  auto after = store_.CompleteNotification(node_id_, n, out);
  if (!after) {
    spdlog::warn("notification {}: not settled: {}", n.id, after.error().ToString());
    return;
  }
  if (sent.ok) {
    spdlog::debug("notification {} of alert {} sent to channel {}: {}", n.id, n.alert_id,
                  n.channel_id, sent.detail);
    if (channel->consecutive_failures >= options_.failing_threshold) {
      ChannelEvent(*after, "alert_channel_recovered", 1, sent.detail);
    }
  } else {
    spdlog::warn("notification {} of alert {} to channel {} ({}) failed (attempt {}{}): {}", n.id,
                 n.alert_id, channel->name, channel->kind, out.attempt.attempt,
                 out.retry_at ? "" : ", given up", sent.detail);
    if (after->consecutive_failures == options_.failing_threshold) {
      ChannelEvent(*after, "alert_channel_failing", 3, sent.detail);
    }
  }
}

void Notifier::ChannelEvent(const AlertChannel& ch, std::string_view action, int severity,
                            const std::string& detail) {
  const TimePoint now = clock_.Now();
  StoredEvent e;
  e.id = NewEventId(now);
  e.tenant_id = ch.tenant_id;
  e.agent_id = "manager";
  e.timestamp = now;
  e.module = "manager";
  e.action = std::string(action);
  e.severity = severity;
  e.doc = {{"@timestamp", FormatTimestamp(now)},
           {"event",
            {{"id", e.id},
             {"kind", "event"},
             {"module", "manager"},
             {"type", "change"},
             {"action", action},
             {"severity", severity}}},
           {"message", fmt::format("alert channel {} ({}): {} consecutive failures; last: {}",
                                   ch.name, ch.kind, ch.consecutive_failures, detail)},
           {"ward",
            {{"alert_channel",
              {{"id", ch.id},
               {"name", ch.name},
               {"kind", ch.kind},
               {"failures", ch.consecutive_failures},
               {"last_error", detail}}}}}};
  if (action == "alert_channel_recovered") {
    e.doc["message"] = fmt::format("alert channel {} ({}) delivers again", ch.name, ch.kind);
  }
  std::vector<AlertSignal> signals;
  auto rules = store_.ListAlertRules(ch.tenant_id);
  auto channels = store_.ListAlertChannels(ch.tenant_id);
  if (rules && channels) {
    signals = SignalsFor(
        {e}, "", CompileTenantRules(*rules, *channels), [now] { return NewEventId(now); }, now);
  }
  auto r = store_.InsertEventsWithAlerts({e}, signals, std::chrono::hours(1));
  if (!r) {
    spdlog::error("{} event for channel {} not stored: {}", action, ch.id, r.error().ToString());
  }
  spdlog::warn("alert channel {} ({}) of tenant {}: {}", ch.name, ch.id, ch.tenant_id, action);
}

}  // namespace ward::manager::alerting

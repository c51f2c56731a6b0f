#include "agent/transport/channel.h"

#include <fmt/format.h>

#include <charconv>
#include <random>

#include "agent/transport/activation.h"
#include "agent/version.h"
#include "common/log.h"

namespace ward::agent::transport {
namespace {

constexpr std::chrono::milliseconds kMinBackoff{500};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

std::chrono::milliseconds RetryAfter(const std::string& header,
                                     std::chrono::milliseconds fallback) {
  int s = 0;
  auto [p, ec] = std::from_chars(header.data(), header.data() + header.size(), s);
  if (ec != std::errc() || p != header.data() + header.size() || s < 0) return fallback;
  return std::chrono::milliseconds(std::min(s, 60) * 1000);
}

}  // namespace

Channel::Channel(Identity identity, ChannelOptions options, Spool& spool, EventSink& events,
                 const Clock& clock, ChannelHooks hooks)
    : identity_(std::move(identity)),
      options_(std::move(options)),
      spool_(spool),
      events_(events),
      clock_(clock),
      hooks_(std::move(hooks)) {
  heartbeat_interval_s_ = identity_.heartbeat_interval_s;
}

Channel::~Channel() { Stop(); }

void Channel::Start() {
  sender_ = std::jthread([this](std::stop_token st) { SenderLoop(st); });
  heartbeat_ = std::jthread([this](std::stop_token st) { HeartbeatLoop(st); });
}

void Channel::Stop() {
  sender_.request_stop();
  heartbeat_.request_stop();
  cv_.notify_all();
  if (sender_.joinable()) sender_.join();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void Channel::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_sender_ = true;
  }
  cv_.notify_all();
}

void Channel::HeartbeatSoon() {
  {
    std::lock_guard lock(mu_);
    wake_heartbeat_ = true;
  }
  cv_.notify_all();
}

Identity Channel::identity() const {
  std::lock_guard lock(id_mu_);
  return identity_;
}

void Channel::WaitFor(std::stop_token& stop, std::chrono::milliseconds d, bool heartbeat) {
  std::unique_lock lock(mu_);
  bool& flag = heartbeat ? wake_heartbeat_ : wake_sender_;
  cv_.wait_for(lock, stop, d, [&] { return flag; });
  flag = false;
}

Result<std::unique_ptr<HttpsClient>> Channel::MakeClient() {
  Identity id = identity();
  ClientOptions co;
  co.manager_url = id.manager_url;
  co.proxy_url = id.proxy.empty() ? ProxyFromEnvironment() : id.proxy;
  co.fingerprint = id.fingerprint;
  return HttpsClient::Create(co);
}

bool Channel::Reactivate(uint64_t seen_generation) {
  std::lock_guard guard(reactivate_mu_);
  {
    std::lock_guard lock(id_mu_);
    if (identity_generation_ != seen_generation) return true;  // the other thread did it
  }
  Identity old = identity();
  ActivationOptions ao;
  ao.manager_url = old.manager_url;
  ao.token = options_.token;
  ao.proxy = old.proxy;
  ao.fingerprint = old.fingerprint;
  ao.clone_of = old.credential;
  ao.state_dir = options_.state_dir;
  auto a = Activate(ao);
  if (!a) {
    spdlog::error("re-activation after identity conflict failed: {}", a.error().ToString());
    return false;
  }
  ++counters_.reactivations;
  Event e = Event::Make(clock_, "ward", "change", "agent_reactivated", Severity::kMedium);
  e.Set("message", fmt::format("this host's machine id changed (cloned state dir): re-activated "
                               "as agent {} (was {})",
                               a->identity.agent_id, old.agent_id));
  events_.Emit(std::move(e));
  std::lock_guard lock(id_mu_);
  identity_ = a->identity;
  ++identity_generation_;
  return true;
}

void Channel::NoteFailure(bool proxy_fault, const Status& s, std::atomic<bool>& failing,
                          std::string_view what) {
  if (failing.exchange(true)) {
    spdlog::debug("{}: still failing: {}", what, s.ToString());
    return;
  }
  spdlog::warn("{}: {}", what, s.ToString());
  Event e = Event::Make(clock_, "ward", "error",
                        proxy_fault ? "proxy_error" : "manager_unreachable", Severity::kMedium);
  e.Set("message", fmt::format("{} failed; events are kept in the spool and sent when the "
                               "manager is reachable again",
                               what));
  e.Set("error.message", s.message());
  events_.Emit(std::move(e));
}

void Channel::NoteSuccess(std::atomic<bool>& failing, std::string_view what) {
  if (failing.exchange(false)) {
    spdlog::info("{}: the manager is reachable again", what);
    Event e = Event::Make(clock_, "ward", "info", "manager_reachable", Severity::kInfo);
    e.Set("message", fmt::format("{}: the manager is reachable again", what));
    events_.Emit(std::move(e));
  }
}

bool Channel::SendBatch(HttpsClient& client, uint64_t generation) {
  auto batch = spool_.Peek(options_.batch_events, options_.batch_bytes);
  if (!batch) {
    spdlog::error("event spool: {}", batch.error().ToString());
    return false;
  }
  if (batch->empty()) return true;
  std::string body;
  for (const auto& e : *batch) {
    body += e.json;
    body += '\n';
  }
  std::string credential = identity().credential;
  uint64_t proxy_before = client.proxy_errors();
  auto reply = client.Post("/agent/v1/events", body, "application/x-ndjson", true, credential);
  uint64_t proxy_faults = client.proxy_errors() - proxy_before;
  counters_.proxy_errors += proxy_faults;
  if (!reply) {
    ++counters_.batches_failed;
    NoteFailure(proxy_faults > 0, reply.error(), sender_failing_, "sending events");
    return false;
  }
  if (reply->status == 200) {
    NoteSuccess(sender_failing_, "sending events");
    Status s = spool_.Ack(batch->front().seq, batch->back().seq);
    if (!s.ok()) {
      spdlog::error("event spool: ack: {}", s.ToString());
      return false;
    }
    auto parsed = ParseEventsReply(reply->body);
    if (!parsed) {
      spdlog::warn("events stored by the manager, but its reply is malformed: {}",
                   parsed.error().ToString());
      counters_.events_sent += batch->size();
      return true;
    }
    counters_.events_sent += static_cast<uint64_t>(parsed->accepted);
    counters_.events_duplicate += static_cast<uint64_t>(parsed->duplicates);
    if (parsed->rejected > 0) {
      counters_.events_rejected += static_cast<uint64_t>(parsed->rejected);
      spdlog::warn("the manager rejected {} event(s) (first: {}); they are dropped",
                   parsed->rejected, parsed->first_rejection);
    }
    return true;
  }
  ++counters_.batches_failed;
  retry_after_ = RetryAfter(reply->retry_after, std::chrono::milliseconds(0));
  if (reply->status == 409) {
    Reactivate(generation);
    return false;
  }
  if (reply->status == 413 && options_.batch_events > 1) {
    options_.batch_events = std::max<size_t>(1, options_.batch_events / 2);
    options_.batch_bytes = std::max<size_t>(64 << 10, options_.batch_bytes / 2);
  }
  NoteFailure(
      false,
      Unavailable(fmt::format("POST /agent/v1/events: {}", ErrorText(reply->status, reply->body))),
      sender_failing_, "sending events");
  return false;
}

void Channel::SenderLoop(std::stop_token stop) {
  std::unique_ptr<HttpsClient> client;
  uint64_t generation = ~0ull;
  auto backoff = kMinBackoff;
  auto last_send = std::chrono::steady_clock::now() - options_.batch_interval;
  while (!stop.stop_requested()) {
    SpoolStats st = spool_.Stats();
    if (st.depth == 0) {
      WaitFor(stop, std::chrono::seconds(1), false);
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    if (st.depth < options_.batch_events && now - last_send < options_.batch_interval) {
      WaitFor(stop,
              std::chrono::duration_cast<std::chrono::milliseconds>(options_.batch_interval -
                                                                    (now - last_send)) +
                  std::chrono::milliseconds(1),
              false);
      continue;
    }
    if (!EnsureClient(stop, client, generation, "sending events", false)) continue;
    last_send = std::chrono::steady_clock::now();
    if (SendBatch(*client, generation)) {
      backoff = kMinBackoff;
      continue;
    }
    // Wait without being woken by new events: they would only make us retry sooner.
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, std::max(backoff, retry_after_), [] { return false; });
    retry_after_ = std::chrono::milliseconds(0);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

nlohmann::json Channel::BuildStatus() {
  nlohmann::json s = hooks_.status ? hooks_.status() : nlohmann::json::object();
  s["version"] = std::string(kVersion);
  if (!s.contains("hostname")) s["hostname"] = LocalHostName();
  s["policy_version"] = policy_version_.load();
  if (!s.contains("modules")) s["modules"] = nlohmann::json::array();
  SpoolStats st = spool_.Stats();
  s["spool"] = {{"depth", st.depth},       {"bytes", st.bytes},
                {"dropped", st.dropped},   {"max_bytes", spool_.max_bytes()},
                {"unstored", st.unstored}, {"healthy", st.write_error.empty()}};
  if (!st.write_error.empty()) s["spool"]["write_error"] = st.write_error;
  s["spool_dropped"] = st.dropped;
  s["counters"] = {{"events_sent", counters_.events_sent.load()},
                   {"events_duplicate", counters_.events_duplicate.load()},
                   {"events_rejected", counters_.events_rejected.load()},
                   {"batches_failed", counters_.batches_failed.load()},
                   {"heartbeats_failed", counters_.heartbeats_failed.load()},
                   {"proxy_errors", counters_.proxy_errors.load()},
                   {"reactivations", counters_.reactivations.load()}};
  std::lock_guard lock(hb_mu_);
  if (!policy_id_.empty()) s["policy_id"] = policy_id_;
  if (policy_error_) s["policy_error"] = *policy_error_;
  return s;
}

bool Channel::Heartbeat(HttpsClient& client, uint64_t generation) {
  nlohmann::json results;
  {
    std::lock_guard lock(hb_mu_);
    results = command_results_;
  }
  nlohmann::json req = {
      {"machine_id", MachineId()}, {"status", BuildStatus()}, {"command_results", results}};
  uint64_t proxy_before = client.proxy_errors();
  auto reply = client.Post("/agent/v1/heartbeat", req.dump(), "application/json", false,
                           identity().credential);
  uint64_t proxy_faults = client.proxy_errors() - proxy_before;
  counters_.proxy_errors += proxy_faults;
  if (!reply) {
    ++counters_.heartbeats_failed;
    NoteFailure(proxy_faults > 0, reply.error(), heartbeat_failing_, "heartbeat");
    return false;
  }
  if (reply->status == 409) {
    ++counters_.heartbeats_failed;
    Reactivate(generation);
    return false;
  }
  if (reply->status != 200) {
    ++counters_.heartbeats_failed;
    NoteFailure(false,
                Unavailable(fmt::format("POST /agent/v1/heartbeat: {}",
                                        ErrorText(reply->status, reply->body))),
                heartbeat_failing_, "heartbeat");
    return false;
  }
  NoteSuccess(heartbeat_failing_, "heartbeat");
  ++counters_.heartbeats_sent;
  {
    std::lock_guard lock(hb_mu_);
    // The results went up; drop exactly those (new ones may not have been added: same thread).
    command_results_ = nlohmann::json::array();
  }
  auto parsed = ParseHeartbeatReply(reply->body);
  if (!parsed) {
    spdlog::warn("heartbeat: {}", parsed.error().ToString());
    return true;
  }
  heartbeat_interval_s_ = parsed->heartbeat_interval_s;
  if (!parsed->updates.is_null() && hooks_.apply_updates) {
    const std::string credential = identity().credential;
    auto post = [&](std::string_view path,
                    std::string body) -> Result<std::pair<int, std::string>> {
      auto r = client.Post(path, body, "application/json", false, credential);
      if (!r) return r.error();
      return std::make_pair(r->status, std::move(r->body));
    };
    hooks_.apply_updates(parsed->updates,
                         parsed->policy ? parsed->policy->document : nlohmann::json(), post);
  }
  if (parsed->has_policy && !parsed->policy) {
    spdlog::warn("the manager assigns this agent no policy; the last one stays in force");
  }
  bool changed = false;
  if (parsed->policy) {
    // Another version, or another policy (same version number, other id): apply, unless it is
    // the one that just failed.
    std::lock_guard lock(hb_mu_);
    const ManagedPolicy& p = *parsed->policy;
    bool other = p.version != policy_version_.load() || (!p.id.empty() && p.id != policy_id_);
    bool failed = p.version == failed_version_ && p.id == failed_id_;
    changed = other && !failed;
  }
  if (changed) {
    const ManagedPolicy& p = *parsed->policy;
    Status s = hooks_.apply_policy ? hooks_.apply_policy(p) : Status::Ok();
    std::lock_guard lock(hb_mu_);
    if (s.ok()) {
      policy_version_ = p.version;
      policy_id_ = p.id;
      policy_error_.reset();
      failed_version_ = -1;
      failed_id_.clear();
      Status cached = SaveCachedPolicy(options_.state_dir, p);
      if (!cached.ok()) spdlog::error("policy cache: {}", cached.ToString());
    } else {
      failed_version_ = p.version;
      failed_id_ = p.id;
      policy_error_ = nlohmann::json{{"version", p.version}, {"message", s.ToString()}};
    }
  }
  if (changed) {
    std::lock_guard lock(mu_);
    wake_heartbeat_ = true;  // report the outcome soon
  }
  bool ran = false;
  for (const auto& cmd : parsed->commands) {
    nlohmann::json r = hooks_.run_command
                           ? hooks_.run_command(cmd)
                           : nlohmann::json{{"status", "unsupported"}, {"output", nullptr}};
    r["id"] = cmd.id;
    std::lock_guard lock(hb_mu_);
    command_results_.push_back(std::move(r));
    ran = true;
  }
  if (ran) {
    std::lock_guard lock(mu_);
    wake_heartbeat_ = true;
  }
  return true;
}

bool Channel::EnsureClient(std::stop_token& stop, std::unique_ptr<HttpsClient>& client,
                           uint64_t& generation, std::string_view what, bool heartbeat) {
  {
    std::lock_guard lock(id_mu_);
    if (generation != identity_generation_) client.reset();
    generation = identity_generation_;
  }
  if (client) return true;
  auto c = MakeClient();
  if (!c) {
    spdlog::error("{}: {}", what, c.error().ToString());
    WaitFor(stop, kMaxBackoff, heartbeat);
    return false;
  }
  client = std::move(*c);
  return true;
}

void Channel::HeartbeatLoop(std::stop_token stop) {
  std::unique_ptr<HttpsClient> client;
  uint64_t generation = ~0ull;
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = kMinBackoff;
  while (!stop.stop_requested()) {
    if (!EnsureClient(stop, client, generation, "heartbeat", true)) continue;
    bool ok = Heartbeat(*client, generation);
    bool soon = false;
    {
      std::lock_guard lock(mu_);
      soon = wake_heartbeat_;
      wake_heartbeat_ = false;
    }
    std::chrono::milliseconds wait;
    if (!ok) {
      wait = backoff;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(heartbeat_interval_s_ * 1000));
      backoff = std::max(backoff, kMinBackoff);
    } else if (soon) {
      backoff = kMinBackoff;
      wait = std::chrono::milliseconds(1000);
    } else {
      backoff = kMinBackoff;
      std::uniform_real_distribution<double> jitter(0.9, 1.1);
      wait = std::chrono::milliseconds(
          static_cast<int64_t>(heartbeat_interval_s_ * 1000.0 * jitter(rng)));
    }
    WaitFor(stop, wait, true);
  }
}

}  // namespace ward::agent::transport

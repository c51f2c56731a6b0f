#include "manager/siem/forwarding.h"

#include <fmt/format.h>

#include <future>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "manager/siem/format.h"

namespace ward::manager::siem {

namespace {

using json = nlohmann::json;

SyslogTarget TargetOf(const SiemForwarder& f, std::chrono::milliseconds timeout) {
  SyslogTarget t;
  SyslogTransport tr = SyslogTransport::kTcp;
  ParseSyslogTransport(f.transport, tr);
  t.transport = tr;
  t.host = f.host;
  t.port = static_cast<uint16_t>(f.port);
  t.timeout = timeout;
  t.ca_pem = f.ca_pem;
  t.server_name = f.server_name;
  t.verify = f.tls_verify;
  return t;
}

bool CursorAtOrBefore(const SiemCursor& a, const SiemCursor& b) {
  return a.pos < b.pos || (a.pos == b.pos && a.id <= b.id);
}

}  // namespace

std::string SiemSyslogMessage(const SiemForwarder& f, const StoredEvent& e) {
  json doc = e.doc_text.empty() ? e.doc : json::parse(e.doc_text, nullptr, false);
  if (doc.is_discarded()) doc = json::object();
  SyslogHeader h;
  h.facility = f.facility;
  h.severity = SyslogSeverityFor(e.severity);
  h.timestamp = e.timestamp;
  auto host = doc.find("host");
  if (host != doc.end() && host->is_object()) {
    auto name = host->find("name");
    if (name != host->end() && name->is_string()) h.hostname = name->get<std::string>();
  }
  if (h.hostname.empty()) h.hostname = e.agent_id;
  h.msgid = e.module;
  SiemFormat format = SiemFormat::kCef;
  ParseSiemFormat(f.format, format);
  std::string body;
  AppendSiemMessage(body, format, doc);
  std::string out;
  out.reserve(body.size() + 96);
  AppendRfc5424(out, h, body);
  return out;
}

void AppendSiemSyslogMessage(std::string& out, const SiemForwarder& f, const StoredEvent& e,
                             SiemFormatter& formatter, std::string& scratch) {
  if (e.doc_text.empty()) {
    out += SiemSyslogMessage(f, e);
    return;
  }
  formatter.Parse(e.doc_text);
  SyslogHeader h;
  h.facility = f.facility;
  h.severity = SyslogSeverityFor(e.severity);
  h.timestamp = e.timestamp;
  h.hostname = formatter.HostName();
  if (h.hostname.empty()) h.hostname = e.agent_id;
  h.msgid = e.module;
  SiemFormat format = SiemFormat::kCef;
  ParseSiemFormat(f.format, format);
  scratch.clear();
  formatter.Append(scratch, format);
  AppendRfc5424(out, h, scratch);
}

ForwarderPump::ForwarderPump(Store& store, const Clock& clock, SiemForwarder forwarder,
                             ForwardingOptions options)
    : store_(store), clock_(clock), f_(std::move(forwarder)), options_(options) {}

Status ForwarderPump::Fail(Status s) {
  sender_.reset();
  suspect_ = true;
  Status rec = store_.RecordSiemError(f_.tenant_id, f_.id, s.message(), clock_.Now());
  if (!rec.ok()) spdlog::warn("siem forwarder {}: recording its error: {}", f_.id, rec.ToString());
  return s;
}

Result<int> ForwarderPump::Step() {
  if (suspect_) {
    // Start (or restart after a failure) from the database's view: the cursor, and a batch that
    // was in flight when the last sender stopped.
    pending_.clear();
    WARD_ASSIGN_OR_RETURN(SiemForwarder now, store_.GetSiemForwarder(f_.tenant_id, f_.id));
    f_.cursor = now.cursor;
    f_.in_flight = now.in_flight;
  }
  // The batch: read by the previous Step (its in-flight mark is recorded already) or now.
  std::vector<SiemEvent> events = std::move(pending_);
  pending_.clear();
  const bool begun = !events.empty();
  if (!begun) {
    WARD_ASSIGN_OR_RETURN(events, store_.ReadSiemEvents(f_.tenant_id, f_.cursor, options_.batch));
  }
  if (events.empty()) return 0;
  const SiemCursor from = f_.cursor;
  const SiemCursor to = events.back().at;
  int64_t resent = 0;
  if (suspect_ && f_.in_flight != SiemCursor{}) {
    for (const auto& e : events) {
      if (CursorAtOrBefore(e.at, f_.in_flight)) ++resent;
    }
  }
  if (!sender_) {
    auto s = SyslogSender::Connect(TargetOf(f_, options_.send_timeout));
    if (!s.has_value()) return Fail(s.error());
    sender_ = std::move(s).value();
  }
  if (!begun) {
    Status st = store_.BeginSiemBatch(f_.tenant_id, f_.id, from, to);
    if (!st.ok()) return st;
  }
  f_.in_flight = to;
  suspect_ = true;  // until the cursor moved past this batch
  // The next batch is read on another thread while this one is formatted and sent, and before
  // the cursor moves, so that the move and the next in-flight mark are one write transaction (on
  // SQLite each write queues behind ingestion's group commits).
  std::future<Result<std::vector<SiemEvent>>> next_read =
      std::async(std::launch::async,
                 [this, to] { return store_.ReadSiemEvents(f_.tenant_id, to, options_.batch); });
  // Messages are formatted straight from the stored text and, on TCP/TLS, streamed in pieces of
  // 256 KiB while the rest is formatted (the receiver works meanwhile).
  constexpr size_t kChunk = 256 * 1024;
  const bool datagrams = sender_->target().transport == SyslogTransport::kUdp;
  std::vector<std::string> messages;
  std::string framed, message, scratch;
  int64_t count = 0;
  int64_t skipped = 0;
  Status sent = Status::Ok();
  for (const auto& e : events) {
    if (e.event.severity < f_.min_severity) {
      ++skipped;
      continue;
    }
    message.clear();
    AppendSiemSyslogMessage(message, f_, e.event, formatter_, scratch);
    ++count;
    if (datagrams) {
      messages.push_back(message);
      continue;
    }
    fmt::format_to(std::back_inserter(framed), "{} ", message.size());
    framed += message;
    if (framed.size() >= kChunk) {
      sent = sender_->SendFramed(framed);
      if (!sent.ok()) return Fail(sent);
      framed.clear();
    }
  }
  if (datagrams) {
    sent = sender_->Send(messages);
  } else if (!framed.empty()) {
    sent = sender_->SendFramed(framed);
  }
  if (sent.ok()) sent = sender_->WaitAcknowledged();
  auto next = next_read.get();
  if (!sent.ok()) return Fail(sent);
  SiemCursor next_to;
  if (next.has_value() && !next->empty()) next_to = next->back().at;
  const TimePoint now = clock_.Now();
  Status moved =
      next_to == SiemCursor{}
          ? store_.AdvanceSiemCursor(f_.tenant_id, f_.id, from, to, count, skipped, resent, now)
          : store_.AdvanceSiemCursorAndBegin(f_.tenant_id, f_.id, from, to, count, skipped, resent,
                                             now, next_to);
  if (!moved.ok()) return moved;
  f_.cursor = to;
  f_.in_flight = next_to;
  f_.sent += count;
  suspect_ = false;
  if (next_to != SiemCursor{}) pending_ = std::move(*next);
  return static_cast<int>(events.size());
}

struct SiemForwarding::Worker {
  SiemForwarder config;
  std::thread thread;
  bool done = false;  // guarded by SiemForwarding::mu_
};

SiemForwarding::SiemForwarding(Store& store, const Clock& clock, ForwardingOptions options,
                               std::string node_id)
    : store_(store), clock_(clock), options_(options), node_id_(std::move(node_id)) {}

SiemForwarding::~SiemForwarding() { Stop(); }

void SiemForwarding::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void SiemForwarding::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& [id, w] : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  workers_.clear();
}

bool SiemForwarding::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_; });
  return !stop_;
}

void SiemForwarding::Loop() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      // Reap workers that ended (lease lost, configuration changed, forwarder deleted).
      for (auto it = workers_.begin(); it != workers_.end();) {
        if (it->second->done) {
          it->second->thread.join();
          it = workers_.erase(it);
        } else {
          ++it;
        }
      }
    }
    auto all = store_.ListAllSiemForwarders();
    if (!all.has_value()) {
      spdlog::warn("siem forwarding: {}", all.error().ToString());
    } else {
      for (const auto& f : *all) {
        if (!f.enabled) continue;
        {
          std::lock_guard lock(mu_);
          if (workers_.count(f.id) != 0) continue;
        }
        auto got =
            store_.TryAcquireLease("siem:" + f.id, node_id_, clock_.Now(), options_.lease_ttl);
        if (!got.has_value() || !*got) continue;
        spdlog::info("siem forwarder {} ({} of tenant {}): node {} forwards it", f.id, f.name,
                     f.tenant_id, node_id_);
        auto w = std::make_unique<Worker>();
        w->config = f;
        Worker* raw = w.get();
        std::lock_guard lock(mu_);
        workers_[f.id] = std::move(w);
        raw->thread = std::thread([this, raw] { RunWorker(raw); });
      }
    }
    if (!Sleep(options_.refresh)) return;
  }
}

void SiemForwarding::RunWorker(Worker* w) {
  const SiemForwarder& f = w->config;
  const std::string lease = "siem:" + f.id;
  ForwarderPump pump(store_, clock_, f, options_);
  auto last_renew = std::chrono::steady_clock::now();
  auto last_check = last_renew;
  std::chrono::milliseconds backoff = options_.retry_min;
  bool keep = true;
  while (keep) {
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_renew >= options_.lease_ttl / 3) {
      auto got = store_.TryAcquireLease(lease, node_id_, clock_.Now(), options_.lease_ttl);
      if (got.has_value() && !*got) {
        spdlog::info("siem forwarder {}: node {} lost the lease", f.id, node_id_);
        break;
      }
      if (got.has_value()) last_renew = now;
    }
    if (now - last_check >= options_.refresh) {
      last_check = now;
      auto current = store_.GetSiemForwarder(f.tenant_id, f.id);
      if (!current.has_value() && current.error().code() == StatusCode::kNotFound) break;
      if (current.has_value() && (!current->enabled || current->updated_at != f.updated_at)) {
        break;  // the loop starts it again with the new configuration
      }
    }
    auto n = pump.Step();
    if (!n.has_value()) {
      if (n.error().code() == StatusCode::kFailedPrecondition) {
        spdlog::warn("siem forwarder {}: {}", f.id, n.error().ToString());
        break;
      }
      spdlog::warn("siem forwarder {} ({}:{}): {}; retrying in {} ms", f.id, f.host, f.port,
                   n.error().ToString(), backoff.count());
      keep = Sleep(backoff);
      backoff = std::min(backoff * 2, options_.retry_max);
      continue;
    }
    backoff = options_.retry_min;
    if (*n == 0) keep = Sleep(options_.idle_poll);
  }
  Status released = store_.ReleaseLease(lease, node_id_);
  if (!released.ok())
    spdlog::warn("siem forwarder {}: release lease: {}", f.id, released.ToString());
  std::lock_guard lock(mu_);
  w->done = true;
}

}  // namespace ward::manager::siem

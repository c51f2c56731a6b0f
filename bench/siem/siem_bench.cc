// SIEM forwarding throughput (bench/siem/README.md): one forwarder over TCP to a receiver given on
// the command line, draining a backlog of N stored events while ingestion stores more at the same
// time through the store's event path (InsertEventsWithAlerts, as /agent/v1/events does).
// Prints one JSON line: events forwarded, seconds, events/s, and what ingestion stored meanwhile.
// Optionally writes the RFC 5424 messages of the first events to a file (the anchor's input).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>

#include "common/clock.h"
#include "manager/siem/forwarding.h"
#include "manager/store/store.h"

using namespace ward;
using namespace ward::manager;

namespace {

const TimePoint kT0 = TimePoint(std::chrono::microseconds(1'789'948'800'000'000LL));

StoredEvent MakeEvent(const std::string& tenant, const std::string& id, int i) {
  StoredEvent e;
  e.id = id;
  e.tenant_id = tenant;
  e.agent_id = fmt::format("agent-{}", i % 50);
  e.timestamp = kT0 + std::chrono::milliseconds(i);
  e.module = i % 3 == 0 ? "ips" : "integrity";
  e.action = i % 3 == 0 ? "detected" : "modified";
  e.severity = i % 3 == 0 ? 1 : 2;  // below "severe": no alert signals, as most real events
  e.path = fmt::format("/var/www/html/page-{}.php", i % 1000);
  e.doc = {{"@timestamp", "2026-09-21T00:00:00.000Z"},
           {"event", {{"id", id}, {"module", e.module}, {"action", e.action}, {"severity", 2}}},
           {"host", {{"name", fmt::format("web-{:02d}", i % 50)}}},
           {"agent", {{"id", e.agent_id}, {"version", "1.0.0"}}},
           {"file", {{"path", e.path}, {"hash", {{"sha256", std::string(64, 'a')}}}}},
           {"source", {{"ip", "203.0.113.7"}, {"port", 41000 + i % 1000}}},
           {"url", {{"original", "/index.php?id=1%27%20OR%201=1"}}},
           {"rule", {{"id", {"942100", "949110"}}}}};
  e.doc_text = e.doc.dump();
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  std::string db, host = "127.0.0.1", format = "cef", anchor_file, wait_file;
  int port = 0, events = 200'000, ingest_rate = 5'000, batch = siem::ForwardingOptions{}.batch;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--db") db = v;
    if (k == "--port") port = std::atoi(v.c_str());
    if (k == "--events") events = std::atoi(v.c_str());
    if (k == "--ingest-rate") ingest_rate = std::atoi(v.c_str());
    if (k == "--batch") batch = std::atoi(v.c_str());
    if (k == "--format") format = v;
    if (k == "--anchor-file") anchor_file = v;
    if (k == "--wait-file") wait_file = v;
  }
  if (db.empty() || port == 0) {
    std::cerr << "usage: siem_bench --db URL --port P [--events N] [--ingest-rate EV/S] "
                 "[--batch N] [--format cef|leef|json] [--anchor-file F]\n";
    return 2;
  }
  auto opened = Store::Open(db);
  if (!opened.has_value()) {
    std::cerr << opened.error().ToString() << "\n";
    return 1;
  }
  auto store = std::move(opened).value();
  if (Status s = store->Migrate(); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  Tenant t;
  t.id = "bench-tenant";
  t.name = "bench";
  t.created_at = kT0;
  (void)store->CreateTenant(t);
  // The backlog: N events stored before the forwarder starts (a receiver that was down).
  for (int i = 0; i < events; i += 1000) {
    std::vector<StoredEvent> b;
    for (int k = i; k < std::min(events, i + 1000); ++k) {
      b.push_back(MakeEvent(t.id, fmt::format("backlog-{:09d}", k), k));
    }
    auto r = store->InsertEvents(b);
    if (!r.has_value()) {
      std::cerr << r.error().ToString() << "\n";
      return 1;
    }
  }
  SiemForwarder f;
  f.id = "bench-forwarder";
  f.tenant_id = t.id;
  f.name = "bench";
  f.transport = "tcp";
  f.host = host;
  f.port = port;
  f.format = format;
  f.created_at = f.updated_at = kT0;
  if (Status s = store->CreateSiemForwarder(f); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  if (!anchor_file.empty()) {
    // The same messages for the anchor (logger reads one message per line).
    std::ofstream out(anchor_file);
    for (int i = 0; i < events; ++i) {
      out << siem::SiemSyslogMessage(f, MakeEvent(t.id, fmt::format("backlog-{:09d}", i), i))
          << "\n";
    }
  }
  // Ingestion at the same time: batches of 500 at `ingest_rate` events/s.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> ingested{0};
  std::thread ingest([&] {
    if (ingest_rate <= 0) return;
    auto next = std::chrono::steady_clock::now();
    const auto every = std::chrono::microseconds(500LL * 1'000'000 / ingest_rate);
    for (int n = 0; !stop; ++n) {
      std::vector<StoredEvent> b;
      for (int k = 0; k < 500; ++k) {
        b.push_back(MakeEvent(t.id, fmt::format("live-{:09d}", n * 500 + k), k));
      }
      auto r = store->InsertEventsWithAlerts(b, {}, std::chrono::hours(1));
      if (r.has_value()) ingested += r->accepted;
      next += every;
      std::this_thread::sleep_until(next);
    }
  });
  RealClock clock;
  siem::ForwardingOptions o;
  o.batch = batch;
  siem::ForwarderPump pump(*store, clock, f, o);
  const auto start = std::chrono::steady_clock::now();
  int64_t forwarded = 0;
  while (forwarded < events) {
    auto n = pump.Step();
    if (!n.has_value()) {
      std::cerr << n.error().ToString() << "\n";
      stop = true;
      ingest.join();
      return 1;
    }
    forwarded += *n;
    if (*n == 0) break;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Until the receiver wrote them all (its file has `events` lines).
  double to_receiver = 0;
  if (!wait_file.empty()) {
    for (;;) {
      std::ifstream in(wait_file);
      int64_t lines =
          std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
      if (lines >= events) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    to_receiver = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  stop = true;
  ingest.join();
  std::cout << fmt::format(
                   "{{\"forwarded\":{},\"seconds\":{:.3f},\"events_per_s\":{:.0f},"
                   "\"seconds_to_receiver_file\":{:.3f},\"events_per_s_to_file\":{:.0f},"
                   "\"ingested_meanwhile\":{},\"ingest_events_per_s\":{:.0f},\"format\":\"{}\"}}",
                   forwarded, secs, forwarded / secs, to_receiver,
                   to_receiver > 0 ? forwarded / to_receiver : 0.0, ingested.load(),
                   ingested.load() / secs, format)
            << std::endl;
  return 0;
}

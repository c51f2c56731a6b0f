// HTTP ingest benchmark: realistic agent event batches (500 events, gzip NDJSON) posted by many
// simulated agents through the same endpoint agents use (POST /agent/v1/events, real HTTPS to an
// in-process manager on a loopback port), while a query thread runs "last hour, one agent, one
// module" through GET /api/v1/events. The anchor, in the same run on the same events, is the
// store alone (Store::InsertEvents of the already-parsed batches, no HTTP/TLS/gzip/JSON): the
// ratio is what the HTTP layer costs.
//
//   http_ingest [--db URL] [--agents 50] [--batches 200] [--threads 4] [--query-interval-ms 100]
// Default database: a fresh SQLite file under /tmp. Prints one JSON line of results.
#include <fmt/format.h>
#include <httplib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/event.h"
#include "manager/api/event_batch.h"
#include "manager/api/manager_api.h"
#include "manager/api/server.h"
#include "manager/auth/secrets.h"
#include "manager/services/bootstrap.h"
#include "manager/services/tls.h"
#include "manager/store/store.h"

namespace {

using namespace ward;
using namespace ward::manager;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

std::string Gzip(const std::string& in) {
  httplib::detail::gzip_compressor c;
  std::string out;
  c.compress(in.data(), in.size(), true, [&](const char* d, size_t n) {
    out.append(d, n);
    return true;
  });
  return out;
}

// One batch of 500 realistic events: integrity changes, antimalware detections, WAF hits.
// Timestamps increase through the run (as a real agent's do: events are sent shortly after they
// happen), spread over the hour before `now`; batch b of `batches` covers its slice of it.
std::string MakeBatch(std::mt19937_64& rng, TimePoint now, int batch_no, int batches) {
  static const char* kModules[] = {"integrity",   "integrity", "integrity",
                                   "antimalware", "ips",       "loginspect"};
  static const char* kActions[] = {"modified", "created", "deleted",
                                   "detected", "blocked", "matched"};
  std::string out;
  for (int i = 0; i < 500; ++i) {
    int m = static_cast<int>(rng() % 6);
    const int64_t span_us = 3'600'000'000LL;
    const int64_t k = static_cast<int64_t>(batch_no) * 500 + i;
    auto t = now - std::chrono::microseconds(span_us) +
             std::chrono::microseconds(span_us * k / (static_cast<int64_t>(batches) * 500));
    json e = {
        {"@timestamp", FormatTimestamp(t)},
        {"event",
         {{"id", NewEventId(t)},
          {"kind", "event"},
          {"module", kModules[m]},
          {"type", "change"},
          {"action", kActions[m]},
          {"severity", static_cast<int>(rng() % 5)}}},
        {"host", {{"name", "web-01"}}},
        {"file",
         {{"path", fmt::format("/var/www/site{}/page-{}-{}.php", rng() % 20, batch_no, i)},
          {"hash",
           {{"sha256", fmt::format("{:016x}{:016x}{:016x}{:016x}", rng(), rng(), rng(), rng())}}},
          {"size", static_cast<int>(rng() % 100000)}}}};
    if (m >= 3) e["rule"] = {{"id", std::to_string(900000 + rng() % 1000)}, {"name", "rule"}};
    out += e.dump();
    out += '\n';
  }
  return out;
}

// CPU seconds (user + system) this process has used so far: the manager's share of the work (the
// PostgreSQL/MariaDB servers are other processes and not included).
double ProcessCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

int Run(int argc, char** argv) {
  std::string db;
  int agents = 50, batches = 200, threads = 4, query_interval_ms = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--db")
      db = argv[i + 1];
    else if (a == "--agents")
      agents = std::stoi(argv[i + 1]);
    else if (a == "--batches")
      batches = std::stoi(argv[i + 1]);
    else if (a == "--threads")
      threads = std::stoi(argv[i + 1]);
    else if (a == "--query-interval-ms")
      query_interval_ms = std::stoi(argv[i + 1]);
  }
  std::filesystem::path tmp =
      std::filesystem::temp_directory_path() / fmt::format("ward-http-bench-{}", ::getpid());
  std::filesystem::create_directories(tmp);
  if (db.empty()) db = "sqlite:" + (tmp / "bench.db").string();
  auto store_r = Store::Open(db);
  if (!store_r) {
    fmt::print(stderr, "open {}: {}\n", db, store_r.error().ToString());
    return 2;
  }
  auto& store = **store_r;
  auto boot = InitPrimaryTenant(store, SystemClock(), "bench");
  if (!boot) {
    fmt::print(stderr, "init: {}\n", boot.error().ToString());
    return 2;
  }
  auto tls = EnsureSelfSignedCertificate(tmp, "bench");
  ApiOptions opt;
  opt.key_rate_per_minute = opt.tenant_rate_per_minute = opt.agent_rate_per_minute = 0;
  ManagerApi api(store, SystemClock(), opt);
  auto server = HttpsServer::Create(api, tls->cert.string(), tls->key.string(), threads + 2);
  int port = *(*server)->Start("127.0.0.1", 0);
  auto client = [&] {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    c->enable_server_certificate_verification(false);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);  // as the server; without it each request waits for a delayed ACK
    c->set_read_timeout(120, 0);
    return c;
  };
  // Agents, activated through the API.
  auto admin = client();
  httplib::Headers auth = {{"Authorization", "Bearer " + boot->api_key}};
  auto tok = admin->Post("/api/v1/activation-tokens", auth, "{}", "application/json");
  std::string token = json::parse(tok->body)["token"];
  std::vector<std::pair<std::string, std::string>> creds;  // id, credential
  for (int i = 0; i < agents; ++i) {
    json body = {{"token", token},
                 {"hostname", fmt::format("web-{:02}", i)},
                 {"machine_id", fmt::format("m-{}", i)}};
    auto r = admin->Post("/agent/v1/activate", body.dump(), "application/json");
    auto j = json::parse(r->body);
    creds.emplace_back(j["agent_id"], j["credential"]);
  }
  // The work: the same batches for the anchor (a second tenant) and for HTTP.
  std::mt19937_64 rng(42);
  auto now = SystemClock().Now();
  std::vector<std::string> bodies, gz;
  for (int b = 0; b < batches; ++b) {
    bodies.push_back(MakeBatch(rng, now, b, batches));
    gz.push_back(Gzip(bodies.back()));
  }
  size_t wire = 0, raw = 0;
  for (int b = 0; b < batches; ++b) wire += gz[b].size(), raw += bodies[b].size();

  // Anchor: the store alone.
  Tenant anchor_t;
  anchor_t.id = NewId();
  anchor_t.name = "anchor";
  anchor_t.created_at = now;
  (void)store.CreateTenant(anchor_t);
  std::vector<std::vector<StoredEvent>> parsed;
  for (int b = 0; b < batches; ++b) {
    parsed.push_back(ParseEventBatch(bodies[b], {anchor_t.id, "anchor-agent", "anchor"}).events);
  }
  auto a0 = Clock::now();
  double acpu0 = ProcessCpu();
  {
    std::atomic<int> next{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        for (int b; (b = next++) < batches;) (void)store.InsertEvents(parsed[b]);
      });
    }
    for (auto& t : ts) t.join();
  }
  double anchor_s = std::chrono::duration<double>(Clock::now() - a0).count();
  double anchor_cpu = ProcessCpu() - acpu0;

  // HTTP ingest with a concurrent query thread.
  std::atomic<bool> done{false};
  std::vector<double> query_ms;
  std::thread querier([&] {
    auto c = client();
    std::string path = fmt::format("/api/v1/events?from={}&agent={}&module=integrity&limit=100",
                                   FormatTimestamp(now - std::chrono::hours(1)), creds[0].first);
    while (!done) {
      auto q0 = Clock::now();
      auto r = c->Get(path, auth);
      if (r && r->status == 200) {
        query_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - q0).count());
      }
      // A dashboard's pace (the store benchmark's too), not a second load generator.
      std::this_thread::sleep_until(q0 + std::chrono::milliseconds(query_interval_ms));
    }
  });
  std::mutex mu;
  std::vector<double> batch_ms;
  std::atomic<int> next{0}, accepted{0}, failed{0};
  auto h0 = Clock::now();
  double hcpu0 = ProcessCpu();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      auto c = client();
      for (int b; (b = next++) < batches;) {
        const auto& cred = creds[static_cast<size_t>(b) % creds.size()];
        httplib::Headers h = {{"Authorization", "Bearer " + cred.second},
                              {"Content-Encoding", "gzip"}};
        auto b0 = Clock::now();
        auto r = c->Post("/agent/v1/events", h, gz[b], "application/x-ndjson");
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - b0).count();
        if (!r || r->status != 200) {
          ++failed;
          continue;
        }
        accepted += json::parse(r->body)["accepted"].get<int>();
        std::lock_guard l(mu);
        batch_ms.push_back(ms);
      }
    });
  }
  for (auto& t : ts) t.join();
  double http_s = std::chrono::duration<double>(Clock::now() - h0).count();
  double http_cpu = ProcessCpu() - hcpu0;
  done = true;
  querier.join();
  (*server)->Stop();
  double events = 500.0 * batches;
  json out = {{"db", db.substr(0, db.find(':'))},
              {"agents", agents},
              {"batches", batches},
              {"events", static_cast<int64_t>(events)},
              {"client_threads", threads},
              {"query_interval_ms", query_interval_ms},
              {"accepted", accepted.load()},
              {"failed_batches", failed.load()},
              {"http_events_per_s", events / http_s},
              {"batch_p50_ms", Percentile(batch_ms, 0.5)},
              {"batch_p99_ms", Percentile(batch_ms, 0.99)},
              {"queries", query_ms.size()},
              {"query_p50_ms", Percentile(query_ms, 0.5)},
              {"query_p99_ms", Percentile(query_ms, 0.99)},
              {"anchor_store_events_per_s", events / anchor_s},
              {"ratio_http_to_store", anchor_s / http_s},
              {"http_process_cpu_us_per_event", http_cpu * 1e6 / events},
              {"anchor_process_cpu_us_per_event", anchor_cpu * 1e6 / events},
              {"gzip_ratio", static_cast<double>(raw) / static_cast<double>(wire)}};
  fmt::print("{}\n", out.dump());
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }

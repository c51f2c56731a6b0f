// Fills a manager database for the console benchmark (bench/console/README.md): `--agents`
// agents with a heartbeat status and `--events` events spread over the last `--days` days, into
// the primary tenant that `ward-manager init` made, through the store's bulk path
// (Store::InsertEvents in batches, as the agent API does), not one HTTP call per event.
//
//   console_bench_fill --db sqlite:/tmp/ward.db --events 1000000 --agents 2000
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/xorshift.h"
#include "common/clock.h"
#include "common/event.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace {

using json = nlohmann::json;

struct Options {
  std::string db;
  int64_t events = 100'000;
  int agents = 50;
  int days = 7;
  int batch = 5000;
};

using bench::Rng;

const char* kDirs[] = {"/etc", "/usr/bin", "/var/www/html", "/srv/app/current",
                       "/home/deploy/.ssh"};
const char* kNames[] = {"passwd",     "index.php", "config.yaml",  "authorized_keys",
                        "nginx.conf", "app.jar",   "wp-login.php", "style.css"};
struct Rule {
  const char* id;
  const char* name;
};
const Rule kRules[] = {{"942100", "SQL Injection Attack Detected via libinjection"},
                       {"941100", "XSS Attack Detected via libinjection"},
                       {"920350", "Host header is a numeric IP address"},
                       {"930120", "OS File Access Attempt"},
                       {"913100", "Found User-Agent associated with security scanner"},
                       {"949110", "Inbound Anomaly Score Exceeded"}};

StoredEvent MakeEvent(Rng& r, const std::string& tenant, const std::vector<std::string>& agents,
                      TimePoint ts) {
  StoredEvent e;
  e.tenant_id = tenant;
  // A skewed fleet: a few noisy hosts, a long tail.
  size_t a = r.Below(4) == 0 ? static_cast<size_t>(r.Below(10)) % agents.size()
                             : static_cast<size_t>(r.Below(static_cast<int>(agents.size())));
  e.agent_id = agents[a];
  e.timestamp = ts;
  e.id = NewEventId(ts);
  int kind = r.Below(100);
  json doc = {{"@timestamp", FormatTimestamp(ts)},
              {"agent", {{"id", e.agent_id}, {"name", fmt::format("web-{:04d}", a)}}},
              {"host", {{"name", fmt::format("web-{:04d}", a)}}}};
  if (kind < 55) {
    const Rule& rule = kRules[std::min(r.Below(6), r.Below(6))];
    e.module = "ips";
    e.action = r.Below(5) == 0 ? "blocked" : "detected";
    e.severity = 3;
    e.rule = fmt::format("{} {}", rule.id, rule.name);
    e.path = fmt::format("/search?q={:08x}", r.Next() & 0xffffffff);
    doc["rule"] = {{"id", rule.id}, {"name", rule.name}};
    doc["url"] = {{"original", e.path}};
    doc["source"] = {{"ip", fmt::format("203.0.113.{}", r.Below(254) + 1)}};
  } else {
    e.path = fmt::format("{}/{}", kDirs[r.Below(5)], kNames[std::min(r.Below(8), r.Below(8))]);
    doc["file"] = {{"path", e.path}, {"hash", {{"sha256", fmt::format("{:016x}", r.Next())}}}};
    if (kind < 90) {
      e.module = "integrity";
      e.action = r.Below(3) == 0 ? "created" : "modified";
      e.severity = 2;
    } else if (kind < 96) {
      e.module = "autoheal";
      e.action = "restored";
      e.severity = 2;
    } else {
      e.module = "antimalware";
      e.action = "quarantine";
      e.severity = 3;
    }
  }
  doc["event"] = {{"id", e.id},
                  {"kind", "event"},
                  {"module", e.module},
                  {"action", e.action},
                  {"severity", e.severity}};
  doc["message"] = fmt::format("{} {} {}", e.module, e.action, e.path);
  e.doc_text = doc.dump();
  return e;
}

int Run(const Options& o) {
  auto store = Store::Open(o.db);
  if (!store) {
    fmt::print(stderr, "open {}: {}\n", o.db, store.error().ToString());
    return 1;
  }
  Store& s = **store;
  if (Status st = s.Migrate(); !st.ok()) {
    fmt::print(stderr, "migrate: {}\n", st.ToString());
    return 1;
  }
  auto tenants = s.ListTenants();
  if (!tenants) {
    fmt::print(stderr, "tenants: {}\n", tenants.error().ToString());
    return 1;
  }
  std::string tenant;
  for (const auto& t : *tenants) {
    if (t.primary) tenant = t.id;
  }
  if (tenant.empty()) {
    fmt::print(stderr, "no primary tenant: run `ward-manager init` first\n");
    return 1;
  }
  const TimePoint now = std::chrono::system_clock::now();
  Rng r;
  std::vector<std::string> agents;
  for (int i = 0; i < o.agents; ++i) {
    Agent a;
    a.id = NewEventId(now);
    a.tenant_id = tenant;
    a.hostname = fmt::format("web-{:04d}", i);
    a.machine_id = fmt::format("bench-machine-{:06d}", i);
    a.version = "0.1.0";
    a.credential_hash =
        fmt::format("{:016x}{:016x}{:016x}{:016x}", r.Next(), r.Next(), r.Next(), r.Next());
    a.online = i % 50 != 0;
    a.last_seen = now - std::chrono::seconds(i % 50 == 0 ? 7200 : 30);
    a.status = {{"version", "0.1.0"},
                {"hostname", a.hostname},
                {"modules",
                 {{{"name", "integrity"}, {"state", "running"}},
                  {{"name", "ips"}, {"state", i % 97 == 0 ? "degraded" : "running"}}}}};
    a.created_at = now - std::chrono::hours(24 * 30);
    if (Status st = s.CreateAgent(a); !st.ok()) {
      fmt::print(stderr, "agent {}: {}\n", i, st.ToString());
      return 1;
    }
    agents.push_back(a.id);
  }
  const auto span =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::hours(24) * o.days);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<StoredEvent> batch;
  batch.reserve(static_cast<size_t>(o.batch));
  int64_t done = 0;
  for (int64_t i = 0; i < o.events; ++i) {
    // Oldest first, evenly spread, as agents would send them.
    auto ts =
        now - span + std::chrono::microseconds(span.count() * i / std::max<int64_t>(1, o.events));
    batch.push_back(
        MakeEvent(r, tenant, agents, std::chrono::time_point_cast<TimePoint::duration>(ts)));
    if (static_cast<int>(batch.size()) == o.batch || i + 1 == o.events) {
      auto res = s.InsertEvents(batch);
      if (!res) {
        fmt::print(stderr, "insert: {}\n", res.error().ToString());
        return 1;
      }
      done += res->accepted;
      batch.clear();
      if ((i + 1) % 1'000'000 < o.batch) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        fmt::print(stderr, "{} events, {:.0f}/s\n", done, static_cast<double>(done) / secs);
      }
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("{{\"tenant\": \"{}\", \"agents\": {}, \"events\": {}, \"seconds\": {:.1f}}}\n",
             tenant, agents.size(), done, secs);
  return 0;
}

}  // namespace
}  // namespace ward::manager

int main(int argc, char** argv) {
  ward::manager::Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--db") {
      o.db = v;
    } else if (k == "--events") {
      o.events = std::atoll(v.c_str());
    } else if (k == "--agents") {
      o.agents = std::atoi(v.c_str());
    } else if (k == "--days") {
      o.days = std::atoi(v.c_str());
    } else if (k == "--batch") {
      o.batch = std::atoi(v.c_str());
    } else {
      fmt::print(stderr, "unknown option {}\n", k);
      return 2;
    }
  }
  if (o.db.empty() || o.agents < 1 || o.events < 0 || o.days < 1 || o.batch < 1) {
    fmt::print(stderr,
               "usage: console_bench_fill --db URL [--events N] [--agents N] [--days D] "
               "[--batch N]\n");
    return 2;
  }
  return ward::manager::Run(o);
}

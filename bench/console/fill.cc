// Fills a manager database for the console benchmark (bench/console/README.md): `--agents`
// agents with a heartbeat status and `--events` events spread over the last `--days` days, into
// the primary tenant that `ward-manager init` made, without HTTP but otherwise as the agent API
// ingests them: each agent's events are NDJSON lines as an agent sends them, parsed by the agent
// API's own ParseEventBatch (so every search column and the stored document are what ingestion
// makes), and stored by Store::InsertEvents — the store's batch ingest, which writes the hourly
// rollups, `ips_matches` and the ingest sequence in the same transaction as the events — with
// `--batch` events per transaction (default 20,000). The next batch is generated on a second
// thread while the previous one is written. Not stored: the alerts ingestion would raise for
// severe events (no rule engine here; the dashboard does not read them).
//
//   console_bench_fill --db sqlite:/tmp/ward.db --events 10000000 --agents 2000 [--batch 20000]
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "bench/xorshift.h"
#include "common/clock.h"
#include "common/event.h"
#include "manager/api/event_batch.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace {

using json = nlohmann::json;

struct Options {
  std::string db;
  int64_t events = 100'000;
  int agents = 50;
  int days = 7;
  int batch = 20000;
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

// One event of a skewed fleet (a few noisy hosts, a long tail) as the agent would send it: its
// NDJSON line (no "agent" block: the manager adds it from the credential) and which agent.
struct Line {
  size_t agent = 0;
  std::string text;
};

Line MakeLine(Rng& r, size_t agents, TimePoint ts) {
  Line out;
  out.agent = r.Below(4) == 0 ? static_cast<size_t>(r.Below(10)) % agents
                              : static_cast<size_t>(r.Below(static_cast<int>(agents)));
  const std::string id = NewEventId(ts);
  const std::string host = fmt::format("web-{:04d}", out.agent);
  int kind = r.Below(100);
  json doc = {{"@timestamp", FormatTimestamp(ts)}, {"host", {{"name", host}}}};
  std::string module, action, path;
  int severity = 0;
  if (kind < 55) {
    const Rule& rule = kRules[std::min(r.Below(6), r.Below(6))];
    module = "ips";
    action = r.Below(5) == 0 ? "blocked" : "detected";
    severity = 3;
    path = fmt::format("/search?q={:08x}", r.Next() & 0xffffffff);
    doc["rule"] = {{"id", rule.id}, {"name", rule.name}};
    doc["url"] = {{"original", path}};
    doc["source"] = {{"ip", fmt::format("203.0.113.{}", r.Below(254) + 1)}};
  } else {
    path = fmt::format("{}/{}", kDirs[r.Below(5)], kNames[std::min(r.Below(8), r.Below(8))]);
    doc["file"] = {{"path", path}, {"hash", {{"sha256", fmt::format("{:016x}", r.Next())}}}};
    if (kind < 90) {
      module = "integrity";
      action = r.Below(3) == 0 ? "created" : "modified";
      severity = 2;
    } else if (kind < 96) {
      module = "autoheal";
      action = "restored";
      severity = 2;
    } else {
      module = "antimalware";
      action = "quarantine";
      severity = 3;
    }
  }
  doc["event"] = {{"id", id},
                  {"kind", "event"},
                  {"module", module},
                  {"action", action},
                  {"severity", severity}};
  doc["message"] = fmt::format("{} {} {}", module, action, path);
  out.text = doc.dump();
  return out;
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
  // Events [start, start + n): oldest first, evenly spread, as agents would send them; grouped
  // per agent (one NDJSON batch each, as each agent posts its own) and parsed as the agent API
  // does.
  auto make = [&](int64_t start, int64_t n) -> Result<std::vector<StoredEvent>> {
    std::vector<std::string> per_agent(agents.size());
    for (int64_t i = start; i < start + n; ++i) {
      auto ts =
          now - span + std::chrono::microseconds(span.count() * i / std::max<int64_t>(1, o.events));
      Line l = MakeLine(r, agents.size(), std::chrono::time_point_cast<TimePoint::duration>(ts));
      per_agent[l.agent] += l.text;
      per_agent[l.agent] += '\n';
    }
    std::vector<StoredEvent> out;
    out.reserve(static_cast<size_t>(n));
    for (size_t a = 0; a < agents.size(); ++a) {
      if (per_agent[a].empty()) continue;
      ParsedBatch b = ParseEventBatch(per_agent[a],
                                      BatchOwner{tenant, agents[a], fmt::format("web-{:04d}", a)});
      if (!b.rejected.empty()) {
        return InvalidArgument(
            fmt::format("agent {} line {}: {}", a, b.rejected[0].line, b.rejected[0].error));
      }
      for (auto& e : b.events) out.push_back(std::move(e));
    }
    return out;
  };
  const auto t0 = std::chrono::steady_clock::now();
  int64_t done = 0;
  int64_t reported = 0;
  auto next =
      std::async(std::launch::async, make, int64_t{0}, std::min<int64_t>(o.batch, o.events));
  for (int64_t start = 0; start < o.events; start += o.batch) {
    auto batch = next.get();
    if (!batch) {
      fmt::print(stderr, "events: {}\n", batch.error().ToString());
      return 1;
    }
    const int64_t following = start + o.batch;
    if (following < o.events) {
      next = std::async(std::launch::async, make, following,
                        std::min<int64_t>(o.batch, o.events - following));
    }
    auto res = s.InsertEvents(*batch);
    if (!res) {
      fmt::print(stderr, "insert: {}\n", res.error().ToString());
      return 1;
    }
    done += res->accepted;
    if (done - reported >= 1'000'000) {
      reported = done;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fmt::print(stderr, "{} events, {:.0f}/s\n", done, static_cast<double>(done) / secs);
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

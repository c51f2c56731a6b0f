// Store benchmark: ingest and query through the Store interface on SQLite, PostgreSQL or MariaDB.
// See bench/manager/README.md for how to run it and bench/RESULTS.md for figures.
//
// Ingest: realistic ~1 KB events (modules, actions, paths, severities, rules vary) in batches of
// --batch from --threads threads, into one tenant with --agents agents, timestamps spread over
// --days days ending at "now". Reports sustained events/s and p50/p99 batch latency; one query
// thread runs "last hour, one agent, one module" during the ingest.
// Query: the same query --queries times on the loaded table; p50/p99.
// Anchor: the same batches written by the same threads into a bare table (doc only, no index, no
// duplicate check) through the same SOCI connection settings: the floor cost of moving the bytes
// into that database; the store's rate is printed as a ratio of it.
// Size: database bytes per million events.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/xorshift.h"
#include "manager/store/scratch_database.h"
#include "manager/store/soci_includes.h"
#include "manager/store/store.h"
#include "manager/store/store_url.h"

namespace ward::manager {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct Options {
  std::string backend = "sqlite";
  std::string url;  // optional: an existing, empty database
  int64_t events = 1'000'000;
  int threads = 8;
  int batch = 500;
  int agents = 100;
  int days = 7;
  int queries = 300;
  int64_t anchor_events = 200'000;
};

const char* kModules[] = {"integrity", "antimalware", "ips", "loginspect", "autoheal"};
const char* kActions[][3] = {{"file_changed", "file_added", "file_deleted"},
                             {"malware_found", "scan_finished", "quarantined"},
                             {"blocked", "detected", "rule_matched"},
                             {"log_matched", "auth_failure", "sudo"},
                             {"restored", "restore_failed", "lock_present"}};
const char* kDirs[] = {"/etc",
                       "/usr/bin",
                       "/var/www/html",
                       "/srv/app/releases/20261124",
                       "/home/deploy/.ssh",
                       "/opt/service/lib",
                       "/var/lib/docker/overlay2"};
const char* kNames[] = {"passwd",      "shadow",          "index.php",
                        "config.yaml", "authorized_keys", "libcrypto.so.3",
                        "nginx.conf",  "app.jar",         "wp-login.php"};

using bench::Rng;

std::string Hex(Rng& r, int n) {
  static const char* k = "0123456789abcdef";
  std::string s(static_cast<size_t>(n), '0');
  for (auto& c : s) c = k[r.Next() & 15];
  return s;
}

StoredEvent MakeEvent(Rng& r, const std::string& tenant, int agents, TimePoint ts, int64_t seq) {
  StoredEvent e;
  int m = r.Below(5);
  int agent = r.Below(agents);
  e.tenant_id = tenant;
  e.agent_id = fmt::format("agent-{:04d}", agent);
  e.module = kModules[m];
  e.action = kActions[m][r.Below(3)];
  e.severity = 1 + r.Below(10);
  long long ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
  e.id = fmt::format("{:012x}-7{:03x}-{:016x}", ms, static_cast<int>(seq & 0xfff), r.Next());
  e.timestamp = ts;
  std::string path = fmt::format("{}/{}/{}", kDirs[r.Below(7)], Hex(r, 6), kNames[r.Below(9)]);
  if (m == 2) {
    e.rule = fmt::format("{} {}", 900000 + r.Below(60000), "SQL Injection Attack Detected");
    e.path = fmt::format("https://shop.example.com/search?q={}", Hex(r, 12));
  } else {
    e.path = path;
    if (m != 0) e.rule = fmt::format("ward-{}-{}", e.module, r.Below(500));
  }
  e.doc = {
      {"@timestamp", fmt::format("{}", ms)},
      {"event",
       {{"id", e.id},
        {"module", e.module},
        {"action", e.action},
        {"severity", e.severity},
        {"kind", "alert"},
        {"category", {"file", "intrusion_detection"}},
        {"dataset", fmt::format("ward.{}", e.module)}}},
      {"agent",
       {{"id", e.agent_id},
        {"name", fmt::format("web-{:04d}.prod.example.com", agent)},
        {"version", "0.1.0"}}},
      {"host",
       {{"hostname", fmt::format("web-{:04d}", agent)},
        {"os", {{"family", "debian"}, {"version", "12"}, {"kernel", "6.1.0-27-amd64"}}},
        {"ip", {fmt::format("10.0.{}.{}", agent / 250, agent % 250 + 1)}}}},
      {"file",
       {{"path", path},
        {"size", r.Below(1 << 20)},
        {"owner", "root"},
        {"mode", "0644"},
        {"hash", {{"sha256", Hex(r, 64)}}},
        {"mtime", fmt::format("{}", ms - r.Below(86400000))}}},
      {"rule", {{"id", e.rule}, {"ruleset", "ward-default"}}},
      {"message", fmt::format("{} {} on {} (policy base-linux v{})", e.module, e.action, path,
                              1 + r.Below(9))},
      {"labels", {{"project", "shop"}, {"env", "prod"}, {"trace", Hex(r, 32)}}},
  };
  return e;
}

// A template event with its document serialised once (as the ingest path hands the store the
// agent's JSON text in StoredEvent::doc_text) and where the per-event fields sit in that text.
struct Template {
  StoredEvent columns;  // doc empty
  std::string text;
  size_t id_at = 0, ts_at = 0, agent_at = 0;
};
constexpr size_t kIdLen = 34, kMsLen = 13, kAgentLen = 10;

Template MakeTemplate(StoredEvent e) {
  Template t;
  e.doc["event"]["id"] = std::string(kIdLen, '#');
  e.doc["@timestamp"] = std::string(kMsLen, '%');
  e.doc["agent"]["id"] = std::string(kAgentLen, '&');
  t.text = e.doc.dump();
  t.id_at = t.text.find(std::string(kIdLen, '#'));
  t.ts_at = t.text.find(std::string(kMsLen, '%'));
  t.agent_at = t.text.find(std::string(kAgentLen, '&'));
  e.doc = nullptr;
  t.columns = std::move(e);
  return t;
}

// A copy of `t` with a new id, time and agent (in the columns and in the document text).
StoredEvent FromTemplate(const Template& t, Rng& r, int agent, TimePoint ts, int64_t seq) {
  StoredEvent e = t.columns;
  long long ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
  e.id = fmt::format("{:012x}-7{:03x}-{:016x}", ms, static_cast<int>(seq & 0xfff), r.Next());
  e.timestamp = ts;
  e.agent_id = fmt::format("agent-{:04d}", agent);
  std::string stamp = fmt::format("{:013d}", ms);
  e.doc_text = t.text;
  e.doc_text.replace(t.id_at, kIdLen, e.id);
  e.doc_text.replace(t.ts_at, kMsLen, stamp);
  e.doc_text.replace(t.agent_at, kAgentLen, e.agent_id);
  return e;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Bytes the database uses (data + indexes), after checkpoint/analyze.
int64_t DatabaseBytes(const StoreUrl& url) {
  try {
    soci::session s;
    long long bytes = 0;
    switch (url.dialect) {
      case Dialect::kSqlite: {
        s.open(soci::sqlite3, url.connect);
        s << "PRAGMA wal_checkpoint(TRUNCATE)";
        s.close();
        std::error_code ec;
        for (const char* suffix : {"", "-wal"}) {
          auto n = std::filesystem::file_size(url.database + suffix, ec);
          if (!ec) bytes += static_cast<long long>(n);
        }
        return bytes;
      }
      case Dialect::kPostgres:
        s.open(soci::postgresql, url.connect);
        s << "SELECT pg_database_size(current_database())", soci::into(bytes);
        return bytes;
      case Dialect::kMysql:
        s.open(soci::mysql, url.connect);
        s << "ANALYZE TABLE events";
        s << "SELECT CAST(SUM(data_length + index_length) AS SIGNED) FROM "
             "information_schema.tables WHERE table_schema = DATABASE()",
            soci::into(bytes);
        return bytes;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "size: {}\n", e.what());
  }
  return -1;
}

struct IngestFigures {
  double seconds = 0;
  int64_t events = 0;
  std::vector<double> batch_ms;
};

// The anchor: bare multi-row inserts of the JSON documents, no index, no duplicate check.
IngestFigures Anchor(const StoreUrl& url, const Options& o, const std::string& tenant,
                     TimePoint start) {
  IngestFigures f;
  auto open = [&](soci::session& s) {
    switch (url.dialect) {
      case Dialect::kSqlite:
        s.open(soci::sqlite3, url.connect);
        s << "PRAGMA busy_timeout = 10000";
        s << "PRAGMA journal_mode = WAL";
        s << "PRAGMA synchronous = NORMAL";
        break;
      case Dialect::kPostgres:
        s.open(soci::postgresql, url.connect);
        break;
      case Dialect::kMysql:
        s.open(soci::mysql, url.connect);
        break;
    }
  };
  {
    soci::session s;
    open(s);
    s << (url.dialect == Dialect::kMysql ? "CREATE TABLE bench_raw (doc LONGTEXT NOT NULL)"
                                         : "CREATE TABLE bench_raw (doc TEXT NOT NULL)");
  }
  std::atomic<int64_t> next{0};
  std::mutex mu;
  std::mutex sqlite_mu;
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      soci::session s;
      open(s);
      Rng r{0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(t)};
      std::vector<double> lat;
      for (;;) {
        int64_t first = next.fetch_add(o.batch);
        if (first >= o.anchor_events) break;
        std::vector<std::string> docs;
        for (int i = 0; i < o.batch; ++i) {
          docs.push_back(MakeEvent(r, tenant, o.agents, start, first + i).doc.dump());
        }
        auto b0 = Clock::now();
        std::unique_lock<std::mutex> lock(sqlite_mu, std::defer_lock);
        if (url.dialect == Dialect::kSqlite) lock.lock();
        s.begin();
        for (size_t k = 0; k < docs.size(); k += 250) {
          size_t end = std::min(docs.size(), k + 250);
          std::string q = "INSERT INTO bench_raw (doc) VALUES ";
          soci::statement st(s);
          for (size_t i = k; i < end; ++i) {
            if (url.dialect == Dialect::kSqlite) {
              q += fmt::format("{}(?)", i == k ? "" : ", ");
            } else {
              q += fmt::format("{}(:p{})", i == k ? "" : ", ", i - k + 1);
            }
            st.exchange(soci::use(docs[i]));
          }
          st.alloc();
          st.prepare(q);
          st.define_and_bind();
          st.execute(true);
        }
        s.commit();
        if (lock.owns_lock()) lock.unlock();
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - b0).count());
      }
      std::lock_guard g(mu);
      f.batch_ms.insert(f.batch_ms.end(), lat.begin(), lat.end());
    });
  }
  for (auto& th : threads) th.join();
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  f.events = static_cast<int64_t>(f.batch_ms.size()) * o.batch;
  soci::session s;
  open(s);
  s << "DROP TABLE bench_raw";
  return f;
}

int Run(const Options& o) {
  Dialect d;
  if (o.backend == "sqlite") {
    d = Dialect::kSqlite;
  } else if (o.backend == "postgresql") {
    d = Dialect::kPostgres;
  } else if (o.backend == "mysql") {
    d = Dialect::kMysql;
  } else {
    fmt::print(stderr, "--backend must be sqlite, postgresql or mysql\n");
    return 2;
  }
  std::unique_ptr<ScratchDatabase> scratch;
  std::string url = o.url;
  if (url.empty()) {
    auto db = ScratchDatabase::Create(d);
    if (!db.has_value()) {
      fmt::print(stderr, "{}\n", db.error().ToString());
      return 1;
    }
    scratch = std::move(db).value();
    url = scratch->url();
  }
  auto parsed = ParseStoreUrl(url);
  if (!parsed.has_value()) {
    fmt::print(stderr, "{}\n", parsed.error().ToString());
    return 2;
  }
  auto opened = Store::Open(url + (url.find('?') == std::string::npos && d != Dialect::kSqlite
                                       ? fmt::format("?pool={}", o.threads + 2)
                                       : ""));
  if (!opened.has_value()) {
    fmt::print(stderr, "{}\n", opened.error().ToString());
    return 1;
  }
  std::unique_ptr<Store> store = std::move(opened).value();
  if (Status s = store->Migrate(); !s.ok()) {
    fmt::print(stderr, "{}\n", s.ToString());
    return 1;
  }
  Tenant tenant;
  tenant.id = "tenant-bench";
  tenant.name = "bench";
  tenant.created_at = std::chrono::system_clock::now();
  if (Status s = store->CreateTenant(tenant); !s.ok()) {
    fmt::print(stderr, "{}\n", s.ToString());
    return 1;
  }

  const TimePoint now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  const TimePoint start = now - std::chrono::hours(24 * o.days);
  const auto span = std::chrono::duration_cast<std::chrono::microseconds>(now - start);
  fmt::print("backend {}  events {}  batch {}  threads {}  agents {}  span {} days\n", o.backend,
             o.events, o.batch, o.threads, o.agents, o.days);

  // Ingest, with one query thread running alongside.
  std::atomic<int64_t> next{0};
  std::atomic<bool> done{false};
  std::atomic<int64_t> failures{0};
  std::mutex mu;
  IngestFigures ingest;
  std::vector<double> query_during;
  std::atomic<int64_t> rows_returned{0}, queries_run{0};
  auto query_once = [&](Rng& r) -> double {
    EventQuery q;
    q.agent_id = fmt::format("agent-{:04d}", r.Below(o.agents));
    q.module = kModules[r.Below(5)];
    q.from = now - std::chrono::hours(1);
    q.to = now + std::chrono::seconds(1);
    q.descending = true;
    q.limit = 100;
    auto q0 = Clock::now();
    auto res = store->QueryEvents(tenant.id, q);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - q0).count();
    if (!res.has_value()) {
      ++failures;
      fmt::print(stderr, "query: {}\n", res.error().ToString());
    } else {
      rows_returned += static_cast<int64_t>(res->size());
      ++queries_run;
    }
    return ms;
  };
  // Generating ~1 KB JSON documents costs about as much CPU as storing them; the load generator
  // varies 4,096 pre-built documents (id, time, agent) so the machine's CPU goes to the store.
  std::vector<Template> templates;
  {
    Rng r{99};
    for (int i = 0; i < 4096; ++i)
      templates.push_back(MakeTemplate(MakeEvent(r, tenant.id, o.agents, now, i)));
  }
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      Rng r{0x2545F4914F6CDD1DULL * static_cast<uint64_t>(t + 1)};
      std::vector<double> lat;
      for (;;) {
        int64_t first = next.fetch_add(o.batch);
        if (first >= o.events) break;
        std::vector<StoredEvent> batch;
        batch.reserve(static_cast<size_t>(o.batch));
        for (int i = 0; i < o.batch; ++i) {
          auto offset = span * (first + i) / o.events;
          // A batch is one agent's (an agent uploads its own events), round robin over the
          // agents; times increase through the run, so per agent too.
          batch.push_back(FromTemplate(templates[r.Below(static_cast<int>(templates.size()))], r,
                                       static_cast<int>((first / o.batch) % o.agents),
                                       start + offset, first + i));
        }
        auto b0 = Clock::now();
        auto res = store->InsertEvents(batch);
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - b0).count());
        if (!res.has_value()) {
          ++failures;
          fmt::print(stderr, "insert: {}\n", res.error().ToString());
        }
        if (t == 0 && (first / o.batch) % 2000 == 0) {
          fmt::print(stderr, "  {} events, {:.0f} s\n", first,
                     std::chrono::duration<double>(Clock::now() - t0).count());
        }
      }
      std::lock_guard g(mu);
      ingest.batch_ms.insert(ingest.batch_ms.end(), lat.begin(), lat.end());
    });
  }
  std::thread querier([&] {
    Rng r{12345};
    while (!done.load()) {
      double ms = query_once(r);
      {
        std::lock_guard g(mu);
        query_during.push_back(ms);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  for (auto& th : threads) th.join();
  ingest.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  done = true;
  querier.join();
  ingest.events = static_cast<int64_t>(ingest.batch_ms.size()) * o.batch;

  // Queries on the loaded table.
  std::vector<double> query_after;
  Rng qr{777};
  rows_returned = 0;
  queries_run = 0;
  for (int i = 0; i < o.queries; ++i) query_after.push_back(query_once(qr));
  int64_t bytes = DatabaseBytes(*parsed);

  IngestFigures anchor = Anchor(*parsed, o, tenant.id, start);

  double rate = static_cast<double>(ingest.events) / ingest.seconds;
  double anchor_rate = static_cast<double>(anchor.events) / anchor.seconds;
  fmt::print(
      "ingest  {:>10} events in {:7.1f} s = {:8.0f} events/s  batch p50 {:7.1f} ms  p99 "
      "{:7.1f} ms\n",
      ingest.events, ingest.seconds, rate, Percentile(ingest.batch_ms, 0.5),
      Percentile(ingest.batch_ms, 0.99));
  fmt::print(
      "anchor  {:>10} events in {:7.1f} s = {:8.0f} events/s  batch p50 {:7.1f} ms  p99 "
      "{:7.1f} ms  (bare table, no index)\n",
      anchor.events, anchor.seconds, anchor_rate, Percentile(anchor.batch_ms, 0.5),
      Percentile(anchor.batch_ms, 0.99));
  fmt::print("ratio   store/anchor ingest rate {:.2f}; store/target(50000/s) {:.2f}\n",
             rate / anchor_rate, rate / 50000.0);
  fmt::print(
      "query   last hour, one agent, one module, newest 100: during ingest p50 {:.1f} ms "
      "p99 {:.1f} ms (n={}); after p50 {:.1f} ms p99 {:.1f} ms (n={}); p99/target(100 ms) "
      "{:.2f}\n",
      Percentile(query_during, 0.5), Percentile(query_during, 0.99), query_during.size(),
      Percentile(query_after, 0.5), Percentile(query_after, 0.99), query_after.size(),
      Percentile(query_after, 0.99) / 100.0);
  fmt::print("        {:.1f} rows per query on the loaded table (limit 100)\n",
             static_cast<double>(rows_returned.load()) /
                 static_cast<double>(std::max<int64_t>(1, queries_run.load())));
  fmt::print("size    {:.0f} MB total, {:.0f} MB per million events\n",
             static_cast<double>(bytes) / 1e6,
             static_cast<double>(bytes) / 1e6 / (static_cast<double>(ingest.events) / 1e6));
  fmt::print("errors  {}\n", failures.load());
  return failures.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ward::manager

int main(int argc, char** argv) {
  ward::manager::Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--backend") {
        o.backend = value();
      } else if (a == "--url") {
        o.url = value();
      } else if (a == "--events") {
        o.events = std::stoll(value());
      } else if (a == "--threads") {
        o.threads = std::stoi(value());
      } else if (a == "--batch") {
        o.batch = std::stoi(value());
      } else if (a == "--agents") {
        o.agents = std::stoi(value());
      } else if (a == "--days") {
        o.days = std::stoi(value());
      } else if (a == "--queries") {
        o.queries = std::stoi(value());
      } else if (a == "--anchor-events") {
        o.anchor_events = std::stoll(value());
      } else {
        fmt::print(stderr,
                   "usage: manager_store_bench [--backend sqlite|postgresql|mysql] [--url URL] "
                   "[--events N] [--threads N] [--batch N] [--agents N] [--days N] [--queries N] "
                   "[--anchor-events N]\n");
        return 2;
      }
    } catch (const std::exception&) {
      fmt::print(stderr, "{}: not a number\n", a);
      return 2;
    }
  }
  if (o.events <= 0 || o.threads <= 0 || o.batch <= 0 || o.agents <= 0 || o.days <= 0) {
    fmt::print(stderr, "counts must be positive\n");
    return 2;
  }
  return ward::manager::Run(o);
}

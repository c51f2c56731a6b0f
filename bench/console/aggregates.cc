// The dashboard's store calls on a filled database (bench/console/README.md), each answered from
// the hourly rollups and, as the anchor in the same run, from the events themselves
// (EventQuery::from_events: the queries the store ran before the rollups). Prints the median
// milliseconds of each call both ways and their ratio. Not a test.
// With --verify 1 it first checks that both ways give the same answer (every bucket, every value
// of each ranking, the totals): the side tables the filler's batch ingest wrote agree with the
// events it stored.
//
//   console_bench_aggregates --db URL [--runs N] [--range-hours H] [--verify 1]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "manager/store/store.h"

namespace ward::manager {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run(const std::string& db, int runs, int range_hours, bool verify) {
  auto store = Store::Open(db);
  if (!store) {
    fmt::print(stderr, "open {}: {}\n", db, store.error().ToString());
    return 1;
  }
  Store& s = **store;
  auto tenants = s.ListTenants();
  if (!tenants) return 1;
  std::string tenant;
  for (const auto& t : *tenants) {
    if (t.primary) tenant = t.id;
  }
  if (tenant.empty()) return 1;
  // As the dashboard asks: from now - range (not on an hour), no end.
  EventQuery base;
  base.from = std::chrono::system_clock::now() - std::chrono::hours(range_hours);
  bool failed = false;
  auto check = [&](const Status& st) {
    if (!st.ok()) {
      fmt::print(stderr, "{}\n", st.ToString());
      failed = true;
    }
  };
  if (verify) {
    // One text per answer, sorted (ties in a ranking may come in either order).
    auto counts = [&](const EventQuery& q) {
      std::vector<std::string> v;
      auto r = s.CountEvents(tenant, q, std::chrono::hours(1));
      check(r.status());
      if (r) {
        for (const auto& c : *r) {
          v.push_back(fmt::format("{} {} {} {}", c.bucket.time_since_epoch().count(), c.module,
                                  c.severity, c.count));
        }
      }
      std::sort(v.begin(), v.end());
      return v;
    };
    auto top = [&](const EventQuery& q, EventField f) {
      std::vector<std::string> v;
      auto r = s.TopEventValues(tenant, q, f, 1000);
      check(r.status());
      if (r) {
        // A full answer may end inside a tie, cut anywhere: its last count is left out.
        const int64_t cut = r->size() == 1000 ? r->back().count : -1;
        for (const auto& c : *r) {
          if (c.count != cut) v.push_back(fmt::format("{} {}", c.value, c.count));
        }
      }
      std::sort(v.begin(), v.end());
      return v;
    };
    auto summary = [&](const EventQuery& q) {
      auto r = s.SummarizeEvents(tenant, q);
      check(r.status());
      return r ? std::vector<std::string>{fmt::format("{} {} {}", r->total, r->heals,
                                                      r->quarantines)}
               : std::vector<std::string>{};
    };
    struct Check {
      std::string name;
      std::function<std::vector<std::string>(const EventQuery&)> run;
    };
    std::vector<Check> checks = {
        {"counts", counts},
        {"top rule", [&](const EventQuery& q) { return top(q, EventField::kRule); }},
        {"top agent", [&](const EventQuery& q) { return top(q, EventField::kAgent); }},
        {"top path", [&](const EventQuery& q) { return top(q, EventField::kPath); }},
        {"top module", [&](const EventQuery& q) { return top(q, EventField::kModule); }},
        {"summary", summary},
    };
    for (const Check& c : checks) {
      EventQuery q = base;
      auto rolled = c.run(q);
      q.from_events = true;
      auto counted = c.run(q);
      size_t rows = rolled.size();
      bool same = rolled == counted;
      fmt::print("verify {} (last {} h): {} answer rows, rollups {} events\n", c.name, range_hours,
                 rows, same ? "==" : "!=");
      if (!same) failed = true;
    }
  }
  struct Call {
    std::string name;
    std::function<void(const EventQuery&)> run;
  };
  std::vector<Call> calls = {
      {"counts (1h buckets)",
       [&](const EventQuery& q) {
         check(s.CountEvents(tenant, q, std::chrono::hours(1)).status());
       }},
      {"top rule",
       [&](const EventQuery& q) {
         check(s.TopEventValues(tenant, q, EventField::kRule, 5).status());
       }},
      {"top agent",
       [&](const EventQuery& q) {
         check(s.TopEventValues(tenant, q, EventField::kAgent, 5).status());
       }},
      {"top path (integrity)",
       [&](const EventQuery& q) {
         EventQuery m = q;
         m.module = "integrity";
         check(s.TopEventValues(tenant, m, EventField::kPath, 5).status());
       }},
      {"summary", [&](const EventQuery& q) { check(s.SummarizeEvents(tenant, q).status()); }},
  };
  fmt::print(
      "| call (last {} h) | rollups ms | events ms (before) | ratio |\n|---|---:|---:|---:|\n",
      range_hours);
  double sum_r = 0, sum_e = 0;
  for (const Call& c : calls) {
    std::vector<double> r, e;
    for (int i = 0; i < runs; ++i) {
      for (bool from_events : {false, true}) {  // alternately, so load changes hit both
        EventQuery q = base;
        q.from_events = from_events;
        auto t0 = std::chrono::steady_clock::now();
        c.run(q);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count();
        (from_events ? e : r).push_back(ms);
      }
    }
    sum_r += Median(r);
    sum_e += Median(e);
    fmt::print("| {} | {:.1f} | {:.1f} | {:.1f}x |\n", c.name, Median(r), Median(e),
               Median(e) / std::max(Median(r), 0.001));
  }
  fmt::print("| all five, one after the other | {:.1f} | {:.1f} | {:.1f}x |\n", sum_r, sum_e,
             sum_e / std::max(sum_r, 0.001));
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace ward::manager

int main(int argc, char** argv) {
  std::string db;
  int runs = 5, range_hours = 24;
  bool verify = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--db") {
      db = v;
    } else if (k == "--runs") {
      runs = std::atoi(v.c_str());
    } else if (k == "--range-hours") {
      range_hours = std::atoi(v.c_str());
    } else if (k == "--verify") {
      verify = v == "1";
    } else {
      fmt::print(stderr, "unknown option {}\n", k);
      return 2;
    }
  }
  if (db.empty() || runs < 1 || range_hours < 1) {
    fmt::print(
        stderr,
        "usage: console_bench_aggregates --db URL [--runs N] [--range-hours H] [--verify 1]\n");
    return 2;
  }
  return ward::manager::Run(db, runs, range_hours, verify);
}

// The dashboard's store calls on a filled database (bench/console/README.md), each answered from
// the hourly rollups and, as the anchor in the same run, from the events themselves
// (EventQuery::from_events: the queries the store ran before the rollups). Prints the median
// milliseconds of each call both ways and their ratio. Not a test.
//
//   console_bench_aggregates --db URL [--runs N] [--range-hours H]
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

int Run(const std::string& db, int runs, int range_hours) {
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
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--db") {
      db = v;
    } else if (k == "--runs") {
      runs = std::atoi(v.c_str());
    } else if (k == "--range-hours") {
      range_hours = std::atoi(v.c_str());
    } else {
      fmt::print(stderr, "unknown option {}\n", k);
      return 2;
    }
  }
  if (db.empty() || runs < 1 || range_hours < 1) {
    fmt::print(stderr, "usage: console_bench_aggregates --db URL [--runs N] [--range-hours H]\n");
    return 2;
  }
  return ward::manager::Run(db, runs, range_hours);
}

// Event aggregates for the dashboard: counts per time bucket, the most frequent rules, agents,
// paths, modules or actions and the heal/quarantine totals over every event of a range, never a
// sample. Whole hours come from the hourly rollups (event_rollup.cc) when the filters are ones
// the rollups keep; the partial hours at either end of the range, and every other filter, are
// counted from the events (one GROUP BY / one scan over the (tenant_id, ts) key).
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr long long kHour = RollupDelta::kHour;

const char* Column(EventField f) {
  switch (f) {
    case EventField::kRule:
      return "rule";
    case EventField::kAgent:
      return "agent_id";
    case EventField::kPath:
      return "path";
    case EventField::kModule:
      return "module";
    case EventField::kAction:
      return "action";
  }
  return "rule";
}

// A range split into whole hours [lo, hi) (either side open when the query has no bound) and
// the partial hours at its ends, each as a query of its own.
struct HourSplit {
  std::optional<long long> lo, hi;
  std::vector<EventQuery> edges;
};

// nullopt when the range holds no whole hour (it is then counted from the events: at most two
// hours of them).
std::optional<HourSplit> SplitHours(const EventQuery& q) {
  HourSplit s;
  std::optional<long long> from, to;
  if (q.from) from = Micros(*q.from);
  if (q.to) to = Micros(*q.to);
  if (from) s.lo = (*from + kHour - 1) / kHour * kHour;  // times are >= 0
  if (to) s.hi = *to / kHour * kHour;
  if (s.lo && s.hi && *s.lo >= *s.hi) return std::nullopt;
  if (from && *from < *s.lo) {
    EventQuery e = q;
    e.to = FromMicros(*s.lo);
    s.edges.push_back(e);
  }
  if (to && *s.hi < *to) {
    EventQuery e = q;
    e.from = FromMicros(*s.hi);
    s.edges.push_back(e);
  }
  return s;
}

std::string HourWhere(const std::string& tenant_id, const HourSplit& s, Params& p) {
  std::string w = fmt::format(" WHERE tenant_id = {}", p.S(tenant_id));
  if (s.lo) w += fmt::format(" AND hour >= {}", p.I(*s.lo));
  if (s.hi) w += fmt::format(" AND hour < {}", p.I(*s.hi));
  return w;
}

// The filters event_rollup keeps (module, severity, action) as a WHERE continuation.
std::string RollupFilters(const EventQuery& q, Params& p) {
  std::string w;
  if (q.module) w += fmt::format(" AND module = {}", p.S(NoNul(*q.module)));
  if (q.min_severity) w += fmt::format(" AND severity >= {}", p.I(*q.min_severity));
  if (q.action) w += fmt::format(" AND action = {}", p.S(NoNul(*q.action)));
  return w;
}

bool CountsFromRollup(const EventQuery& q) { return !q.from_events && !q.agent_id && !q.text; }

}  // namespace

std::vector<EventCount> SociStore::CountScan(soci::session& sql, const std::string& tenant_id,
                                             const EventQuery& q, long long b) {
  Params p;
  std::string expr = d_ == Dialect::kMysql ? fmt::format("(ts DIV {}) * {}", b, b)
                                           : fmt::format("(ts / {}) * {}", b, b);
  std::string s = fmt::format("SELECT {} AS bucket, module, severity, COUNT(*) FROM events", expr) +
                  EventWhere(tenant_id, q, p) + " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
  std::vector<EventCount> out;
  Select(sql, s, p, "isii", [&](const Row& r) {
    EventCount c;
    c.bucket = FromMicros(r.I(0));
    c.module = r.S(1);
    c.severity = static_cast<int>(r.I(2));
    c.count = r.I(3);
    out.push_back(std::move(c));
  });
  return out;
}

Result<std::vector<EventCount>> SociStore::CountEvents(const std::string& tenant_id,
                                                       const EventQuery& q,
                                                       std::chrono::seconds bucket) {
  if (bucket.count() <= 0) return InvalidArgument("bucket must be at least 1 second");
  long long b = std::chrono::duration_cast<std::chrono::microseconds>(bucket).count();
  std::optional<HourSplit> split;
  if (CountsFromRollup(q) && b % kHour == 0) split = SplitHours(q);
  return Run("count events", false, [&](soci::session& sql) -> Result<std::vector<EventCount>> {
    if (!split) return CountScan(sql, tenant_id, q, b);
    std::map<std::tuple<long long, std::string, int>, long long> sum;
    Params p;
    std::string expr = d_ == Dialect::kMysql ? fmt::format("(hour DIV {}) * {}", b, b)
                                             : fmt::format("(hour / {}) * {}", b, b);
    Select(sql,
           fmt::format("SELECT {} AS bucket, module, severity, SUM(n) FROM event_rollup", expr) +
               HourWhere(tenant_id, *split, p) + RollupFilters(q, p) + " GROUP BY 1, 2, 3",
           p, "isii", [&](const Row& r) {
             sum[{r.I(0), r.S(1), static_cast<int>(r.I(2))}] += r.I(3);
           });
    for (const EventQuery& e : split->edges) {
      for (const EventCount& c : CountScan(sql, tenant_id, e, b)) {
        sum[{Micros(c.bucket), c.module, c.severity}] += c.count;
      }
    }
    std::vector<EventCount> out;
    for (const auto& [k, n] : sum) {
      if (n <= 0) continue;
      EventCount c;
      c.bucket = FromMicros(std::get<0>(k));
      c.module = std::get<1>(k);
      c.severity = std::get<2>(k);
      c.count = n;
      out.push_back(std::move(c));
    }
    return out;
  });
}

std::vector<EventValueCount> SociStore::TopScan(soci::session& sql, const std::string& tenant_id,
                                                const EventQuery& q, const char* col, int limit) {
  Params p;
  // A time range without an agent: the (tenant_id, ts) index. SQLite's planner otherwise walks
  // (tenant_id, agent_id, ...) for the GROUP BY order, reading every event of the tenant (0.8 s
  // instead of 0.1 s for the last hour of 1 M events ranked by agent).
  std::string table = "events";
  if (!q.agent_id && (q.from || q.to)) {
    if (d_ == Dialect::kSqlite) table = "events INDEXED BY idx_events_time";
    if (d_ == Dialect::kMysql) table = "events FORCE INDEX (idx_events_time)";
  }
  std::string s = fmt::format("SELECT {}, COUNT(*) AS n FROM {}", col, table) +
                  EventWhere(tenant_id, q, p) + fmt::format(" AND {} <> '' GROUP BY {}", col, col);
  if (limit > 0) s += fmt::format(" ORDER BY n DESC, {} LIMIT {}", col, limit);
  std::vector<EventValueCount> out;
  Select(sql, s, p, "si", [&](const Row& r) { out.push_back(EventValueCount{r.S(0), r.I(1)}); });
  return out;
}

Result<std::vector<EventValueCount>> SociStore::TopEventValues(const std::string& tenant_id,
                                                               const EventQuery& q,
                                                               EventField field, int limit) {
  if (limit < 1 || limit > 1000) return InvalidArgument("limit: expected 1..1000");
  const char* col = Column(field);
  // Which rollup can answer: module and action are event_rollup columns; rules are kept per
  // module, agents for every module at once, paths for integrity only.
  bool counts = field == EventField::kModule || field == EventField::kAction;
  int vfield = field == EventField::kRule ? 0 : field == EventField::kAgent ? 1 : 2;
  bool usable = CountsFromRollup(q);
  if (!counts) {
    usable = usable && !q.min_severity && !q.action;
    if (field == EventField::kAgent) usable = usable && !q.module;
    if (field == EventField::kPath) {
      usable = usable && q.module && *q.module == RollupDelta::kPathModule;
    }
  }
  std::optional<HourSplit> split;
  if (usable) split = SplitHours(q);
  return Run(
      "top event values", false, [&](soci::session& sql) -> Result<std::vector<EventValueCount>> {
        if (!split) return TopScan(sql, tenant_id, q, col, limit);
        std::map<std::string, long long> sum;
        bool overflow = false;  // a value too long for the rollup: count from events
        Params p;
        std::string s;
        if (counts) {
          s = fmt::format("SELECT {0}, SUM(n) FROM event_rollup", col) +
              HourWhere(tenant_id, *split, p) + RollupFilters(q, p) +
              fmt::format(" AND {0} <> '' GROUP BY {0}", col);
        } else {
          // Rules of every module when no module is asked for; agents under ''.
          s = "SELECT value, SUM(n) FROM event_rollup_values" + HourWhere(tenant_id, *split, p) +
              fmt::format(" AND field = {}", p.I(vfield));
          if (q.module || field == EventField::kAgent) {
            s += fmt::format(" AND module = {}", p.S(q.module ? NoNul(*q.module) : std::string()));
          }
          s += " GROUP BY value";
        }
        Select(sql, s, p, "si", [&](const Row& r) {
          if (r.S(0).empty()) {
            overflow = overflow || r.I(1) > 0;
          } else {
            sum[r.S(0)] += r.I(1);
          }
        });
        if (overflow) return TopScan(sql, tenant_id, q, col, limit);
        for (const EventQuery& e : split->edges) {
          for (const auto& v : TopScan(sql, tenant_id, e, col, 0)) sum[v.value] += v.count;
        }
        std::vector<EventValueCount> out;
        for (const auto& [v, n] : sum) {
          if (n > 0) out.push_back(EventValueCount{v, n});
        }
        // Most frequent first, ties by value (byte-wise, as the databases' collations).
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
          return a.count != b.count ? a.count > b.count : a.value < b.value;
        });
        if (out.size() > static_cast<size_t>(limit)) out.resize(static_cast<size_t>(limit));
        return out;
      });
}

EventSummary SociStore::SummaryScan(soci::session& sql, const std::string& tenant_id,
                                    const EventQuery& q) {
  Params p;
  // COALESCE: SUM over no rows is NULL.
  std::string s =
      "SELECT COUNT(*), "
      "COALESCE(SUM(CASE WHEN module = 'autoheal' AND action = 'restored' THEN 1 ELSE 0 END), "
      "0), "
      "COALESCE(SUM(CASE WHEN module = 'antimalware' AND action = 'quarantine' THEN 1 ELSE 0 "
      "END), 0) FROM events" +
      EventWhere(tenant_id, q, p);
  EventSummary out;
  Select(sql, s, p, "iii", [&](const Row& r) {
    out.total = r.I(0);
    out.heals = r.I(1);
    out.quarantines = r.I(2);
  });
  return out;
}

Result<EventSummary> SociStore::SummarizeEvents(const std::string& tenant_id, const EventQuery& q) {
  std::optional<HourSplit> split;
  if (CountsFromRollup(q)) split = SplitHours(q);
  return Run("summarize events", false, [&](soci::session& sql) -> Result<EventSummary> {
    if (!split) return SummaryScan(sql, tenant_id, q);
    Params p;
    std::string s =
        "SELECT COALESCE(SUM(n), 0), "
        "COALESCE(SUM(CASE WHEN module = 'autoheal' AND action = 'restored' THEN n ELSE 0 END), "
        "0), "
        "COALESCE(SUM(CASE WHEN module = 'antimalware' AND action = 'quarantine' THEN n ELSE 0 "
        "END), 0) FROM event_rollup" +
        HourWhere(tenant_id, *split, p) + RollupFilters(q, p);
    EventSummary out;
    Select(sql, s, p, "iii", [&](const Row& r) {
      out.total = r.I(0);
      out.heals = r.I(1);
      out.quarantines = r.I(2);
    });
    for (const EventQuery& e : split->edges) {
      EventSummary x = SummaryScan(sql, tenant_id, e);
      out.total += x.total;
      out.heals += x.heals;
      out.quarantines += x.quarantines;
    }
    return out;
  });
}

}  // namespace ward::manager::soci_backend

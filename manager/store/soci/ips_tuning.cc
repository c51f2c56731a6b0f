// The IPS tuning aggregate (docs/manager-store.md, "IPS matches"): `ips_matches` holds one row
// per tunable rule match of every IPS detected/blocked event (IpsMatch, manager/store/
// ips_matches.h), written in the transaction that inserts the event (only for rows actually
// inserted), deleted with it by retention, partition drops and DeleteTenant, and backfilled
// once from the stored events by the migration `VIpsMatches`. The tuning view's counts are then
// a few GROUP BYs over it instead of reading every event's JSON.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "manager/store/ips_matches.h"
#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

std::vector<IpsMatchRow> SociStore::IpsMatchRowsOf(const StoredEvent& e, long long ts,
                                                   const std::string& doc_text) {
  std::vector<IpsMatchRow> rows;
  if (e.module != "ips" || (e.action != "detected" && e.action != "blocked")) return rows;
  json parsed;
  const json* doc = &e.doc;
  if (!e.doc.is_object()) {
    parsed = ParseJson(doc_text, json::object());
    doc = &parsed;
  }
  IpsEventFacts f = IpsFactsOf(e.module, e.action, e.severity, *doc);
  std::vector<IpsMatch> matches = TunableIpsMatches(*doc);
  IpsMatchRow base;
  base.tenant_id = e.tenant_id;
  base.event_id = e.id;
  base.agent_id = NoNul(e.agent_id);
  base.ts = ts;
  base.blocked = f.blocked ? 1 : 0;
  base.would_block = f.would_block ? 1 : 0;
  base.n_matches = static_cast<int>(matches.size());
  base.client = NoNul(f.client);
  base.path = NoNul(f.path);
  base.url = NoNul(f.url);
  if (matches.empty()) {
    rows.push_back(std::move(base));  // counted in the totals only
    return rows;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < matches.size(); ++i) {
    IpsMatchRow r = base;
    r.ord = static_cast<int>(i);
    r.rule_id = NoNul(matches[i].id);
    r.variable = NoNul(matches[i].variable);
    r.first_of_rule = seen.insert(matches[i].id).second ? 1 : 0;
    rows.push_back(std::move(r));
  }
  return rows;
}

void SociStore::WriteIpsMatches(soci::session& sql, const std::vector<IpsMatchRow>& rows) {
  // SQLite: one row per statement, prepared once by the session's statement cache; the servers:
  // 200 rows per statement (one round trip).
  const size_t kRows = d_ == Dialect::kSqlite ? 1 : 200;
  for (size_t start = 0; start < rows.size(); start += kRows) {
    size_t end = std::min(rows.size(), start + kRows);
    Params p;
    std::string q = InsertIgnore() +
                    " INTO ips_matches (tenant_id, event_id, ord, ts, agent_id, blocked, "
                    "would_block, n_matches, first_of_rule, rule_id, variable, client, path, url) "
                    "VALUES ";
    for (size_t i = start; i < end; ++i) {
      const IpsMatchRow& r = rows[i];
      if (i != start) q += ", ";
      q += fmt::format("({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})", p.S(r.tenant_id),
                       p.S(r.event_id), p.I(r.ord), p.I(r.ts), p.S(r.agent_id), p.I(r.blocked),
                       p.I(r.would_block), p.I(r.n_matches), p.I(r.first_of_rule), p.S(r.rule_id),
                       p.S(r.variable), p.S(r.client), p.S(r.path), p.S(r.url));
    }
    q += OnConflictIgnore();
    Exec(sql, q, p);
  }
}

void SociStore::DeleteIpsMatches(soci::session& sql,
                                 const std::vector<std::pair<std::string, std::string>>& ids) {
  constexpr size_t kIds = 200;
  std::map<std::string, std::vector<std::string>> by_tenant;
  for (const auto& [tenant, id] : ids) by_tenant[tenant].push_back(id);
  for (const auto& [tenant, list] : by_tenant) {
    for (size_t start = 0; start < list.size(); start += kIds) {
      size_t end = std::min(list.size(), start + kIds);
      Params p;
      std::string q = fmt::format("DELETE FROM ips_matches WHERE tenant_id = {} AND event_id IN (",
                                  p.S(tenant));
      for (size_t i = start; i < end; ++i) q += (i == start ? "" : ", ") + p.S(list[i]);
      q += ")";
      Exec(sql, q, p);
    }
  }
}

void SociStore::BackfillIpsMatches(soci::session& sql) {
  std::vector<std::string> tenants;
  {
    Params p;
    Select(sql, "SELECT id FROM tenants ORDER BY id", p, "s",
           [&](const Row& r) { tenants.push_back(r.S(0)); });
  }
  constexpr int kPage = 2000;
  for (const std::string& tenant : tenants) {
    std::optional<std::pair<long long, std::string>> after;
    for (;;) {
      Params p;
      std::string q = fmt::format(
          "SELECT id, agent_id, ts, module, action, severity, doc FROM events WHERE tenant_id = "
          "{} AND module = 'ips' AND action IN ('detected', 'blocked')",
          p.S(tenant));
      if (after) {
        q += fmt::format(" AND ts >= {} AND (ts > {} OR id > {})", p.I(after->first),
                         p.I(after->first), p.S(after->second));
      }
      q += fmt::format(" ORDER BY ts, id LIMIT {}", kPage);
      std::vector<IpsMatchRow> rows;
      int n = 0;
      Select(sql, q, p, "ssissis", [&](const Row& r) {
        ++n;
        StoredEvent e;
        e.tenant_id = tenant;
        e.id = r.S(0);
        e.agent_id = r.S(1);
        e.module = r.S(3);
        e.action = r.S(4);
        e.severity = static_cast<int>(r.I(5));
        after = std::make_pair(r.I(2), e.id);
        for (auto& row : IpsMatchRowsOf(e, r.I(2), r.S(6))) rows.push_back(std::move(row));
      });
      WriteIpsMatches(sql, rows);
      if (n < kPage) break;
    }
  }
}

Result<IpsTuningAggregate> SociStore::AggregateIpsTuning(const std::string& tenant_id,
                                                         const IpsTuningQuery& q) {
  const int top = std::clamp(q.top, 1, 1000);
  const int samples = std::clamp(q.samples, 0, 100);
  return Run("ips tuning", false, [&](soci::session& sql) -> Result<IpsTuningAggregate> {
    // The matches of the period on the agents in scope.
    auto from = [&](Params& p) {
      std::string w = fmt::format(
          " FROM ips_matches m JOIN agents a ON a.tenant_id = m.tenant_id AND a.id = m.agent_id "
          "WHERE m.tenant_id = {} AND m.ts >= {} AND m.ts < {}",
          p.S(tenant_id), p.I(Micros(q.from)), p.I(Micros(q.to)));
      if (q.policy_id) w += fmt::format(" AND a.policy_id = {}", p.S(*q.policy_id));
      return w;
    };
    IpsTuningAggregate out;
    {
      Params p;
      Select(sql, "SELECT COUNT(*), COALESCE(SUM(m.would_block), 0)" + from(p) + " AND m.ord = 0",
             p, "ii", [&](const Row& r) {
               out.events = r.I(0);
               out.would_block = r.I(1);
             });
    }
    std::map<std::string, IpsTuningRule> rules;
    {
      Params p;
      Select(sql,
             "SELECT m.rule_id, COUNT(*), SUM(m.blocked), SUM(m.would_block), COUNT(DISTINCT CASE "
             "WHEN m.client <> '' THEN m.client END)" +
                 from(p) + " AND m.first_of_rule = 1 GROUP BY m.rule_id",
             p, "siiii", [&](const Row& r) {
               IpsTuningRule& x = rules[r.S(0)];
               x.rule_id = r.S(0);
               x.events = r.I(1);
               x.blocked = r.I(2);
               x.detected = x.events - x.blocked;
               x.would_block = r.I(3);
               x.clients = r.I(4);
             });
    }
    {
      Params p;
      std::map<std::string, std::set<std::string>> hosts;
      Select(sql, "SELECT DISTINCT m.rule_id, a.hostname" + from(p) + " AND m.first_of_rule = 1", p,
             "ss", [&](const Row& r) { hosts[r.S(0)].insert(r.S(1)); });
      for (auto& [id, set] : hosts) {
        if (auto it = rules.find(id); it != rules.end()) {
          it->second.hosts.assign(set.begin(), set.end());
        }
      }
    }
    // Top targets and paths per rule: ranked in the database, ties by value.
    for (const char* col : {"variable", "path"}) {
      Params p;
      std::string s = fmt::format(
          "SELECT rule_id, v, n FROM (SELECT m.rule_id, m.{0} AS v, COUNT(*) AS n, ROW_NUMBER() "
          "OVER (PARTITION BY m.rule_id ORDER BY COUNT(*) DESC, m.{0}) AS rn{1} AND "
          "m.first_of_rule = 1 AND m.{0} <> '' GROUP BY m.rule_id, m.{0}) x WHERE rn <= {2} "
          "ORDER BY rule_id, rn",
          col, from(p), top);
      Select(sql, s, p, "ssi", [&](const Row& r) {
        auto it = rules.find(r.S(0));
        if (it == rules.end()) return;
        auto& list = std::string_view(col) == "path" ? it->second.paths : it->second.targets;
        list.push_back({r.S(1), r.I(2)});
      });
    }
    if (samples > 0) {
      Params p;
      std::string inner =
          "SELECT m.rule_id, m.event_id, m.ts, a.hostname, ROW_NUMBER() OVER (PARTITION BY "
          "m.rule_id ORDER BY m.ts, m.event_id) AS rn" +
          from(p) + " AND m.first_of_rule = 1";
      std::string s = fmt::format(
          "SELECT x.rule_id, x.hostname, e.id, e.agent_id, e.ts, e.module, e.action, e.severity, "
          "e.doc FROM ({}) x JOIN events e ON e.tenant_id = {} AND e.ts = x.ts AND e.id = "
          "x.event_id WHERE x.rn <= {} ORDER BY x.rule_id, x.rn",
          inner, p.S(tenant_id), samples);
      Select(sql, s, p, "ssssissis", [&](const Row& r) {
        auto it = rules.find(r.S(0));
        if (it == rules.end()) return;
        StoredEvent e;
        e.tenant_id = tenant_id;
        e.id = r.S(2);
        e.agent_id = r.S(3);
        e.timestamp = FromMicros(r.I(4));
        e.module = r.S(5);
        e.action = r.S(6);
        e.severity = static_cast<int>(r.I(7));
        e.doc = ParseJson(r.S(8), json::object());
        it->second.samples.push_back(std::move(e));
        it->second.sample_hosts.push_back(r.S(1));
      });
    }
    if (q.exclude_rule) {
      // Per event of the rule: how many of its matches the exclusion covers (cov) of how many it
      // has (n); grouped by request target so the caller can apply a path prefix.
      Params p;
      std::string inner = "SELECT m.event_id, m.url, m.n_matches AS n, COUNT(*) AS cov" + from(p) +
                          fmt::format(" AND m.rule_id = {}", p.S(NoNul(*q.exclude_rule)));
      if (!q.exclude_target.empty()) {
        inner += fmt::format(" AND m.variable = {}", p.S(NoNul(q.exclude_target)));
      }
      inner += " GROUP BY m.event_id, m.url, m.n_matches";
      Select(sql,
             "SELECT url, COUNT(*), SUM(CASE WHEN cov = n THEN 1 ELSE 0 END) FROM (" + inner +
                 ") x GROUP BY url ORDER BY url",
             p, "sii", [&](const Row& r) {
               out.preview.push_back({r.S(0), r.I(1), r.I(2)});
             });
    }
    for (auto& [id, r] : rules) out.rules.push_back(std::move(r));
    return out;
  });
}

}  // namespace ward::manager::soci_backend

// Alerts: severe events grouped per (source, rule_key, agent) within a window; each event is
// linked once (alert_events), so a resent batch counts nothing twice (docs/alerts.md).
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <tuple>

#include "common/hash.h"
#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

// The key an event is linked to an alert under (alert_events.event_id): the event id for the
// built-in rules; for an alert rule (issue 19), a digest of (rule, event id), so one event can
// count into a built-in alert and into each rule's alert once.
std::string LinkKey(const AlertSignal& s) {
  if (s.source == "builtin") return s.event_id;
  return "r:" + DigestHex(Sha256::Of(s.source + '\n' + s.event_id)).substr(0, 40);
}

constexpr const char* kAlertCols =
    "id, tenant_id, source, rule_key, agent_id, module, title, severity, state, event_count, "
    "first_seen, last_seen, first_event_id, last_event_id, ack_by, ack_at, ack_reason, "
    "resolved_by, resolved_at, resolved_reason, updated_at";
constexpr const char* kAlertSig = "sssssssiiiiisssissisi";

long long AlertStateCode(AlertState s) {
  switch (s) {
    case AlertState::kOpen:
      return 0;
    case AlertState::kAcknowledged:
      return 1;
    case AlertState::kResolved:
      return 2;
  }
  return 0;
}

std::optional<TimePoint> OptTime(const Row& r, size_t k) {
  auto v = r.OptI(k);
  if (!v) return std::nullopt;
  return FromMicros(*v);
}

std::optional<long long> OptMicros(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return Micros(*t);
}

Alert AlertFrom(const Row& r) {
  Alert a;
  a.id = r.S(0);
  a.tenant_id = r.S(1);
  a.source = r.S(2);
  a.rule_key = r.S(3);
  a.agent_id = r.S(4);
  a.module = r.S(5);
  a.title = r.S(6);
  a.severity = static_cast<int>(r.I(7));
  long long st = r.I(8);
  a.state = st == 1   ? AlertState::kAcknowledged
            : st == 2 ? AlertState::kResolved
                      : AlertState::kOpen;
  a.count = r.I(9);
  a.first_seen = FromMicros(r.I(10));
  a.last_seen = FromMicros(r.I(11));
  a.first_event_id = r.S(12);
  a.last_event_id = r.S(13);
  a.acknowledged_by = r.OptS(14);
  a.acknowledged_at = OptTime(r, 15);
  a.acknowledged_reason = r.OptS(16);
  a.resolved_by = r.OptS(17);
  a.resolved_at = OptTime(r, 18);
  a.resolved_reason = r.OptS(19);
  a.updated_at = FromMicros(r.I(20));
  return a;
}

Status CheckSignal(size_t i, const AlertSignal& s) {
  auto field = [i](std::string_view f) { return fmt::format("signal[{}].{}", i, f); };
  WARD_RETURN_IF_ERROR(CheckId(field("new_alert_id"), s.new_alert_id));
  WARD_RETURN_IF_ERROR(CheckId(field("tenant_id"), s.tenant_id));
  WARD_RETURN_IF_ERROR(CheckId(field("agent_id"), s.agent_id));
  WARD_RETURN_IF_ERROR(CheckId(field("event_id"), s.event_id));
  WARD_RETURN_IF_ERROR(CheckLen(field("source"), s.source, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen(field("rule_key"), s.rule_key, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen(field("module"), s.module, 64));
  long long us = Micros(s.timestamp);
  if (us < 0 || us > kMaxMicros) {
    return InvalidArgument(fmt::format("{}: outside 1970..2200", field("timestamp")));
  }
  return Status::Ok();
}

}  // namespace

Result<Alert> SociStore::GetAlertIn(soci::session& sql, const std::string& tenant_id,
                                    const std::string& id, bool lock) {
  Params p;
  std::optional<Alert> out;
  Select(sql,
         fmt::format("SELECT {} FROM alerts WHERE tenant_id = {} AND id = {}{}", kAlertCols,
                     p.S(tenant_id), p.S(id), lock ? ForUpdate() : ""),
         p, kAlertSig, [&](const Row& r) { out = AlertFrom(r); });
  if (!out) return NotFound(fmt::format("no such alert: {}", id));
  return *out;
}

Status SociStore::CheckSignals(const std::vector<AlertSignal>& signals) {
  for (size_t i = 0; i < signals.size(); ++i) WARD_RETURN_IF_ERROR(CheckSignal(i, signals[i]));
  return Status::Ok();
}

// The signals, grouped: per tenant, one query finds the events already linked; one query loads
// (and locks) the unresolved alerts that any signal of the batch could count into; each signal is
// then counted in memory, in order, exactly as one statement per signal would have; and the
// alerts touched are written back with one multi-row upsert, the links with one multi-row insert
// (chunked). A batch costs a handful of statements however many severe events it holds.
int SociStore::RecordSignalsIn(soci::session& sql, const std::vector<AlertSignal>& signals,
                               std::chrono::seconds window) {
  const long long window_us = std::chrono::duration_cast<std::chrono::microseconds>(window).count();
  constexpr size_t kChunk = 200;
  int counted = 0;
  std::map<std::string, std::vector<const AlertSignal*>> by_tenant;
  for (const AlertSignal& s : signals) by_tenant[s.tenant_id].push_back(&s);
  for (const auto& [tenant, all] : by_tenant) {
    // Each event once: the first signal of an event id counts, later ones (in the batch or
    // already linked) do not.
    std::vector<const AlertSignal*> todo;
    std::map<const AlertSignal*, std::string> link_of;
    for (const AlertSignal* s : all) link_of[s] = LinkKey(*s);
    {
      std::set<std::string> ids;
      for (const AlertSignal* s : all) {
        if (ids.insert(link_of[s]).second) todo.push_back(s);
      }
      std::set<std::string> linked;
      std::vector<std::string> id_list(ids.begin(), ids.end());
      for (size_t start = 0; start < id_list.size(); start += kChunk) {
        Params p;
        std::string q =
            fmt::format("SELECT event_id FROM alert_events WHERE tenant_id = {} AND event_id IN (",
                        p.S(tenant));
        for (size_t i = start; i < std::min(id_list.size(), start + kChunk); ++i) {
          if (i != start) q += ", ";
          q += p.S(id_list[i]);
        }
        q += ")";
        Select(sql, q, p, "s", [&](const Row& r) { linked.insert(r.S(0)); });
      }
      if (!linked.empty()) {
        std::erase_if(todo, [&](const AlertSignal* s) { return linked.count(link_of[s]) > 0; });
      }
    }
    if (todo.empty()) continue;

    // The unresolved alerts any signal could count into (a superset: filtered per group below).
    using Key = std::tuple<std::string, std::string, std::string>;  // source, rule_key, agent
    std::set<std::string> sources, rules, agents;
    long long min_ts = kMaxMicros, max_ts = 0;
    long long max_window_us = window_us;
    auto window_of = [&](const AlertSignal* s) {
      return s->window.count() > 0
                 ? std::chrono::duration_cast<std::chrono::microseconds>(s->window).count()
                 : window_us;
    };
    for (const AlertSignal* s : todo) {
      max_window_us = std::max(max_window_us, window_of(s));
      sources.insert(s->source);
      rules.insert(s->rule_key);
      agents.insert(s->agent_id);
      min_ts = std::min(min_ts, Micros(s->timestamp));
      max_ts = std::max(max_ts, Micros(s->timestamp));
    }
    struct Working {
      Alert alert;
      bool is_new = false;
      bool dirty = false;
    };
    std::deque<Working> alerts;  // stable addresses
    std::map<Key, std::vector<Working*>> groups;
    {
      std::set<Key> wanted;
      for (const AlertSignal* s : todo) wanted.emplace(s->source, s->rule_key, s->agent_id);
      auto in_list = [](Params& p, const std::set<std::string>& values) {
        std::string out;
        for (const std::string& v : values) {
          if (!out.empty()) out += ", ";
          out += p.S(v);
        }
        return out;
      };
      // The grouping index, always: left to itself the planner may walk (tenant_id, last_seen)
      // over every recent alert of the tenant instead (SQLite did, and it grew with the table).
      const char* dedup_index = d_ == Dialect::kSqlite  ? " INDEXED BY idx_alerts_dedup"
                                : d_ == Dialect::kMysql ? " FORCE INDEX (idx_alerts_dedup)"
                                                        : "";
      std::vector<std::string> rule_list(rules.begin(), rules.end());
      for (size_t start = 0; start < rule_list.size(); start += kChunk) {
        std::set<std::string> chunk(rule_list.begin() + static_cast<std::ptrdiff_t>(start),
                                    rule_list.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                            rule_list.size(), start + kChunk)));
        Params q;
        std::string text = fmt::format(
            "SELECT {} FROM alerts{} WHERE tenant_id = {} AND source IN ({}) AND rule_key IN ({}) "
            "AND agent_id IN ({}) AND state <> 2 AND last_seen >= {} AND first_seen <= {} "
            "ORDER BY id{}",
            kAlertCols, dedup_index, q.S(tenant), in_list(q, sources), in_list(q, chunk),
            in_list(q, agents), q.I(min_ts - max_window_us), q.I(max_ts + max_window_us),
            ForUpdate());
        Select(sql, text, q, kAlertSig, [&](const Row& r) {
          Alert a = AlertFrom(r);
          Key k{a.source, a.rule_key, a.agent_id};
          if (wanted.count(k) == 0) return;
          Working& w = alerts.emplace_back();
          w.alert = std::move(a);
          groups[k].push_back(&w);
        });
      }
    }

    // Count each signal as the one-statement-per-signal version did: into the newest (last_seen,
    // then id) unresolved alert of its group with last_seen >= ts - window and first_seen <= ts +
    // window, as left by the signals before it; else it opens one.
    struct Link {
      const AlertSignal* signal;
      const Working* alert;
    };
    std::vector<Link> links;
    links.reserve(todo.size());
    std::vector<std::pair<const AlertSignal*, std::string>> opened;
    for (const AlertSignal* s : todo) {
      const long long ts = Micros(s->timestamp);
      const long long sig_window_us = window_of(s);
      std::vector<Working*>& group = groups[Key{s->source, s->rule_key, s->agent_id}];
      Working* best = nullptr;
      for (Working* w : group) {
        const Alert& a = w->alert;
        if (Micros(a.last_seen) < ts - sig_window_us || Micros(a.first_seen) > ts + sig_window_us) {
          continue;
        }
        if (best == nullptr || a.last_seen > best->alert.last_seen ||
            (a.last_seen == best->alert.last_seen && a.id > best->alert.id)) {
          best = w;
        }
      }
      if (best != nullptr) {
        Alert& a = best->alert;
        if (s->timestamp >= a.last_seen) {
          a.title = s->title;
          a.last_seen = s->timestamp;
          a.last_event_id = s->event_id;
        }
        if (s->timestamp < a.first_seen) {
          a.first_seen = s->timestamp;
          a.first_event_id = s->event_id;
        }
        a.severity = std::max(a.severity, s->severity);
        a.count += 1;
        a.updated_at = s->timestamp;
        best->dirty = true;
      } else {
        Working& w = alerts.emplace_back();
        w.is_new = true;
        w.dirty = true;
        Alert& a = w.alert;
        a.id = s->new_alert_id;
        a.tenant_id = tenant;
        a.source = s->source;
        a.rule_key = s->rule_key;
        a.agent_id = s->agent_id;
        a.module = s->module;
        a.title = s->title;
        a.severity = s->severity;
        a.state = AlertState::kOpen;
        a.count = 1;
        a.first_seen = a.last_seen = a.updated_at = s->timestamp;
        a.first_event_id = a.last_event_id = s->event_id;
        group.push_back(&w);
        best = &w;
        opened.emplace_back(s, a.id);
      }
      links.push_back({s, best});
    }

    // Write back: every alert touched, new or counted into, in one upsert on its id (the rows
    // that existed are locked by the SELECT above; state and triage fields are left alone).
    std::vector<const Working*> dirty;
    for (const Working& w : alerts) {
      if (w.dirty) dirty.push_back(&w);
    }
    const std::string on_conflict =
        d_ == Dialect::kMysql
            ? " ON DUPLICATE KEY UPDATE event_count = VALUES(event_count), severity = "
              "VALUES(severity), title = VALUES(title), first_seen = VALUES(first_seen), "
              "last_seen = VALUES(last_seen), first_event_id = VALUES(first_event_id), "
              "last_event_id = VALUES(last_event_id), updated_at = VALUES(updated_at)"
            : " ON CONFLICT (id) DO UPDATE SET event_count = excluded.event_count, severity = "
              "excluded.severity, title = excluded.title, first_seen = excluded.first_seen, "
              "last_seen = excluded.last_seen, first_event_id = excluded.first_event_id, "
              "last_event_id = excluded.last_event_id, updated_at = excluded.updated_at";
    constexpr size_t kAlertRows = 100;
    for (size_t start = 0; start < dirty.size(); start += kAlertRows) {
      Params u;
      std::string q = fmt::format("INSERT INTO alerts ({}) VALUES ", kAlertCols);
      for (size_t i = start; i < std::min(dirty.size(), start + kAlertRows); ++i) {
        const Alert& a = dirty[i]->alert;
        if (i != start) q += ", ";
        q += fmt::format(
            "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            u.S(a.id), u.S(a.tenant_id), u.S(a.source), u.S(a.rule_key), u.S(a.agent_id),
            u.S(a.module), u.S(a.title), u.I(a.severity), u.I(AlertStateCode(a.state)),
            u.I(a.count), u.I(Micros(a.first_seen)), u.I(Micros(a.last_seen)),
            u.S(a.first_event_id), u.S(a.last_event_id), u.OptS(a.acknowledged_by),
            u.OptI(OptMicros(a.acknowledged_at)), u.OptS(a.acknowledged_reason),
            u.OptS(a.resolved_by), u.OptI(OptMicros(a.resolved_at)), u.OptS(a.resolved_reason),
            u.I(Micros(a.updated_at)));
      }
      q += on_conflict;
      Exec(sql, q, u);
    }
    // SQLite: one link per statement, prepared once by the session's statement cache (parsing
    // a 200-row statement per chunk cost more than writing its rows); the servers: 200 a time.
    const size_t link_rows = d_ == Dialect::kSqlite ? 1 : kChunk;
    for (size_t start = 0; start < links.size(); start += link_rows) {
      Params l;
      std::string q = "INSERT INTO alert_events (tenant_id, event_id, alert_id, ts) VALUES ";
      for (size_t i = start; i < std::min(links.size(), start + link_rows); ++i) {
        const Link& k = links[i];
        if (i != start) q += ", ";
        q += fmt::format("({}, {}, {}, {})", l.S(tenant), l.S(link_of[k.signal]),
                         l.S(k.alert->alert.id), l.I(Micros(k.signal->timestamp)));
      }
      Exec(sql, q, l);
    }
    QueueOpenedIn(sql, tenant, opened);
    counted += static_cast<int>(links.size());
  }
  return counted;
}

Result<int> SociStore::RecordAlertSignals(const std::vector<AlertSignal>& signals,
                                          std::chrono::seconds window) {
  WARD_RETURN_IF_ERROR(CheckSignals(signals));
  if (signals.empty()) return 0;
  return Run("record alert signals", true, [&](soci::session& sql) -> Result<int> {
    return RecordSignalsIn(sql, signals, window);
  });
}

Result<Alert> SociStore::GetAlert(const std::string& tenant_id, const std::string& id) {
  return Run("get alert", false,
             [&](soci::session& sql) { return GetAlertIn(sql, tenant_id, id, false); });
}

Result<std::vector<Alert>> SociStore::ListAlerts(const std::string& tenant_id,
                                                 const AlertFilter& f) {
  return Run("list alerts", false, [&](soci::session& sql) -> Result<std::vector<Alert>> {
    Params p;
    std::string q =
        fmt::format("SELECT {} FROM alerts WHERE tenant_id = {}", kAlertCols, p.S(tenant_id));
    if (f.state) q += fmt::format(" AND state = {}", p.I(AlertStateCode(*f.state)));
    if (f.agent_id) q += fmt::format(" AND agent_id = {}", p.S(*f.agent_id));
    if (f.module) q += fmt::format(" AND module = {}", p.S(*f.module));
    if (f.min_severity) q += fmt::format(" AND severity >= {}", p.I(*f.min_severity));
    if (f.before) {
      long long us = Micros(f.before->first);
      q += fmt::format(" AND (last_seen < {} OR (last_seen = {} AND id < {}))", p.I(us), p.I(us),
                       p.S(f.before->second));
    }
    q += fmt::format(" ORDER BY last_seen DESC, id DESC LIMIT {}", std::clamp(f.limit, 1, 10000));
    std::vector<Alert> out;
    Select(sql, q, p, kAlertSig, [&](const Row& r) { out.push_back(AlertFrom(r)); });
    return out;
  });
}

Result<std::vector<Alert>> SociStore::TransitionAlerts(const std::string& tenant_id,
                                                       const std::vector<std::string>& ids,
                                                       const AlertTransition& t) {
  WARD_RETURN_IF_ERROR(CheckLen("transition.actor", t.actor, kNameMax));
  return Run("transition alerts", true, [&](soci::session& sql) -> Result<std::vector<Alert>> {
    std::vector<Alert> out;
    for (const std::string& id : ids) {
      WARD_ASSIGN_OR_RETURN(Alert a, GetAlertIn(sql, tenant_id, id, true));
      if (a.state == t.to) {
        out.push_back(std::move(a));
        continue;
      }
      if (t.to == AlertState::kAcknowledged && a.state == AlertState::kResolved) {
        return FailedPrecondition(fmt::format("alert {} is resolved: reopen it first", id));
      }
      std::optional<std::string> reason;
      if (!t.reason.empty()) reason = t.reason;
      switch (t.to) {
        case AlertState::kAcknowledged:
          a.acknowledged_by = t.actor;
          a.acknowledged_at = t.at;
          a.acknowledged_reason = reason;
          break;
        case AlertState::kResolved:
          a.resolved_by = t.actor;
          a.resolved_at = t.at;
          a.resolved_reason = reason;
          break;
        case AlertState::kOpen:
          a.acknowledged_by.reset();
          a.acknowledged_at.reset();
          a.acknowledged_reason.reset();
          a.resolved_by.reset();
          a.resolved_at.reset();
          a.resolved_reason.reset();
          break;
      }
      a.state = t.to;
      a.updated_at = t.at;
      Params u;
      Exec(sql,
           fmt::format("UPDATE alerts SET state = {}, ack_by = {}, ack_at = {}, ack_reason = {}, "
                       "resolved_by = {}, resolved_at = {}, resolved_reason = {}, updated_at = {} "
                       "WHERE tenant_id = {} AND id = {}",
                       u.I(AlertStateCode(a.state)), u.OptS(a.acknowledged_by),
                       u.OptI(OptMicros(a.acknowledged_at)), u.OptS(a.acknowledged_reason),
                       u.OptS(a.resolved_by), u.OptI(OptMicros(a.resolved_at)),
                       u.OptS(a.resolved_reason), u.I(Micros(a.updated_at)), u.S(tenant_id),
                       u.S(id)),
           u);
      out.push_back(std::move(a));
    }
    return out;
  });
}

}  // namespace ward::manager::soci_backend

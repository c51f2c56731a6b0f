// Alerts: severe events grouped per (source, rule_key, agent) within a window; each event is
// linked once (alert_events), so a resent batch counts nothing twice (docs/alerts.md).
#include <fmt/format.h>

#include <algorithm>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

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

Result<int> SociStore::RecordAlertSignals(const std::vector<AlertSignal>& signals,
                                          std::chrono::seconds window) {
  for (size_t i = 0; i < signals.size(); ++i) WARD_RETURN_IF_ERROR(CheckSignal(i, signals[i]));
  if (signals.empty()) return 0;
  const long long window_us = std::chrono::duration_cast<std::chrono::microseconds>(window).count();
  return Run("record alert signals", true, [&](soci::session& sql) -> Result<int> {
    int counted = 0;
    for (const AlertSignal& s : signals) {
      const long long ts = Micros(s.timestamp);
      Params seen;
      if (SelectInt(sql,
                    fmt::format("SELECT COUNT(*) FROM alert_events WHERE tenant_id = {} AND "
                                "event_id = {}",
                                seen.S(s.tenant_id), seen.S(s.event_id)),
                    seen, 0) > 0) {
        continue;
      }
      Params q;
      std::optional<Alert> open;
      Select(sql,
             fmt::format("SELECT {} FROM alerts WHERE tenant_id = {} AND source = {} AND "
                         "rule_key = {} AND agent_id = {} AND state <> 2 AND last_seen >= {} AND "
                         "first_seen <= {} ORDER BY last_seen DESC, id DESC LIMIT 1{}",
                         kAlertCols, q.S(s.tenant_id), q.S(s.source), q.S(s.rule_key),
                         q.S(s.agent_id), q.I(ts - window_us), q.I(ts + window_us), ForUpdate()),
             q, kAlertSig, [&](const Row& r) { open = AlertFrom(r); });
      std::string alert_id;
      if (open) {
        Alert& a = *open;
        alert_id = a.id;
        const bool newest = s.timestamp >= a.last_seen;
        const bool oldest = s.timestamp < a.first_seen;
        Params u;
        Exec(sql,
             fmt::format(
                 "UPDATE alerts SET event_count = event_count + 1, severity = {}, "
                 "title = {}, last_seen = {}, last_event_id = {}, first_seen = {}, "
                 "first_event_id = {}, updated_at = {} WHERE tenant_id = {} AND id = {}",
                 u.I(std::max(a.severity, s.severity)), u.S(newest ? s.title : a.title),
                 u.I(newest ? ts : Micros(a.last_seen)), u.S(newest ? s.event_id : a.last_event_id),
                 u.I(oldest ? ts : Micros(a.first_seen)),
                 u.S(oldest ? s.event_id : a.first_event_id), u.I(ts), u.S(s.tenant_id), u.S(a.id)),
             u);
      } else {
        alert_id = s.new_alert_id;
        Params n;
        Exec(sql,
             fmt::format("INSERT INTO alerts ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 0, 1, "
                         "{}, {}, {}, {}, NULL, NULL, NULL, NULL, NULL, NULL, {})",
                         kAlertCols, n.S(s.new_alert_id), n.S(s.tenant_id), n.S(s.source),
                         n.S(s.rule_key), n.S(s.agent_id), n.S(s.module), n.S(s.title),
                         n.I(s.severity), n.I(ts), n.I(ts), n.S(s.event_id), n.S(s.event_id),
                         n.I(ts)),
             n);
      }
      Params l;
      Exec(sql,
           fmt::format("INSERT INTO alert_events (tenant_id, event_id, alert_id, ts) VALUES "
                       "({}, {}, {}, {})",
                       l.S(s.tenant_id), l.S(s.event_id), l.S(alert_id), l.I(ts)),
           l);
      ++counted;
    }
    return counted;
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

// Alert rules, notification channels, the notification outbox and the delivery log (issue 19,
// docs/alerts.md "Notifications"). The outbox rows of new alerts are written by RecordSignalsIn
// (alerts.cc) in the alert's own transaction; this file claims and settles them.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

#include "common/event.h"
#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kRuleCols = "tenant_id, id, name, enabled, spec, created_at, updated_at";
constexpr const char* kRuleSig = "sssisii";

AlertRule RuleFrom(const Row& r) {
  AlertRule a;
  a.tenant_id = r.S(0);
  a.id = r.S(1);
  a.name = r.S(2);
  a.enabled = r.I(3) != 0;
  a.spec = ParseJson(r.S(4), json::object());
  a.created_at = FromMicros(r.I(5));
  a.updated_at = FromMicros(r.I(6));
  return a;
}

constexpr const char* kChannelCols =
    "tenant_id, id, name, kind, enabled, config, failures, failing_since, created_at, updated_at";
constexpr const char* kChannelSig = "ssssisiiii";

AlertChannel ChannelFrom(const Row& r) {
  AlertChannel c;
  c.tenant_id = r.S(0);
  c.id = r.S(1);
  c.name = r.S(2);
  c.kind = r.S(3);
  c.enabled = r.I(4) != 0;
  c.config = ParseJson(r.S(5), json::object());
  c.consecutive_failures = static_cast<int>(r.I(6));
  if (auto f = r.OptI(7)) c.failing_since = FromMicros(*f);
  c.created_at = FromMicros(r.I(8));
  c.updated_at = FromMicros(r.I(9));
  return c;
}

constexpr const char* kNotificationCols =
    "id, tenant_id, alert_id, channel_id, rule_id, state, attempts, created_at, next_attempt_at, "
    "sent_at, last_error";
constexpr const char* kNotificationSig = "sssssiiiiis";

long long NotificationStateCode(NotificationState s) {
  switch (s) {
    case NotificationState::kPending:
      return 0;
    case NotificationState::kSent:
      return 1;
    case NotificationState::kFailed:
      return 2;
    case NotificationState::kThrottled:
      return 3;
  }
  return 0;
}

Notification NotificationFrom(const Row& r) {
  Notification n;
  n.id = r.S(0);
  n.tenant_id = r.S(1);
  n.alert_id = r.S(2);
  n.channel_id = r.S(3);
  n.rule_id = r.S(4);
  long long st = r.I(5);
  n.state = st == 1   ? NotificationState::kSent
            : st == 2 ? NotificationState::kFailed
            : st == 3 ? NotificationState::kThrottled
                      : NotificationState::kPending;
  n.attempts = static_cast<int>(r.I(6));
  n.created_at = FromMicros(r.I(7));
  n.next_attempt_at = FromMicros(r.I(8));
  if (auto s = r.OptI(9)) n.sent_at = FromMicros(*s);
  n.last_error = r.S(10);
  return n;
}

constexpr const char* kDeliveryCols =
    "id, tenant_id, notification_id, alert_id, channel_id, attempt, at, ok, duration_ms, detail";
constexpr const char* kDeliverySig = "sssssiiiis";

DeliveryAttempt DeliveryFrom(const Row& r) {
  DeliveryAttempt d;
  d.id = r.S(0);
  d.tenant_id = r.S(1);
  d.notification_id = r.S(2);
  d.alert_id = r.S(3);
  d.channel_id = r.S(4);
  d.attempt = static_cast<int>(r.I(5));
  d.at = FromMicros(r.I(6));
  d.ok = r.I(7) != 0;
  d.duration_ms = r.I(8);
  d.detail = r.S(9);
  return d;
}

Status CheckRule(const AlertRule& r) {
  WARD_RETURN_IF_ERROR(CheckId("rule.id", r.id));
  WARD_RETURN_IF_ERROR(CheckId("rule.tenant_id", r.tenant_id));
  if (r.name.empty()) return InvalidArgument("rule.name: empty");
  return CheckLen("rule.name", r.name, kNameMax);
}

Status CheckChannel(const AlertChannel& c) {
  WARD_RETURN_IF_ERROR(CheckId("channel.id", c.id));
  WARD_RETURN_IF_ERROR(CheckId("channel.tenant_id", c.tenant_id));
  WARD_RETURN_IF_ERROR(CheckId("channel.kind", c.kind));
  if (c.name.empty()) return InvalidArgument("channel.name: empty");
  return CheckLen("channel.name", c.name, kNameMax);
}

// The error text kept in the outbox row: at most 1000 bytes, whole UTF-8 characters.
std::string Clip(std::string s) {
  constexpr size_t kMax = 1000;
  if (s.size() <= kMax) return s;
  size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

}  // namespace

// ---- rules

Status SociStore::CreateAlertRule(const AlertRule& r) {
  WARD_RETURN_IF_ERROR(CheckRule(r));
  return RunStatus("create alert rule", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, r.tenant_id, false).status());
    Params p;
    Exec(sql,
         fmt::format("INSERT INTO alert_rules ({}) VALUES ({}, {}, {}, {}, {}, {}, {})", kRuleCols,
                     p.S(r.tenant_id), p.S(r.id), p.S(r.name), p.I(r.enabled),
                     p.S(DumpJson(r.spec)), p.I(Micros(r.created_at)), p.I(Micros(r.updated_at))),
         p);
    return Status::Ok();
  });
}

Result<AlertRule> SociStore::GetAlertRule(const std::string& tenant_id, const std::string& id) {
  return Run("get alert rule", false, [&](soci::session& sql) -> Result<AlertRule> {
    Params p;
    std::optional<AlertRule> out;
    Select(sql,
           fmt::format("SELECT {} FROM alert_rules WHERE tenant_id = {} AND id = {}", kRuleCols,
                       p.S(tenant_id), p.S(id)),
           p, kRuleSig, [&](const Row& r) { out = RuleFrom(r); });
    if (!out) return NotFound(fmt::format("no such alert rule: {}", id));
    return *out;
  });
}

Result<std::vector<AlertRule>> SociStore::ListAlertRules(const std::string& tenant_id) {
  return Run("list alert rules", false, [&](soci::session& sql) -> Result<std::vector<AlertRule>> {
    Params p;
    std::vector<AlertRule> out;
    Select(sql,
           fmt::format("SELECT {} FROM alert_rules WHERE tenant_id = {} ORDER BY id", kRuleCols,
                       p.S(tenant_id)),
           p, kRuleSig, [&](const Row& r) { out.push_back(RuleFrom(r)); });
    return out;
  });
}

Status SociStore::UpdateAlertRule(const AlertRule& r) {
  WARD_RETURN_IF_ERROR(CheckRule(r));
  return RunStatus("update alert rule", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(sql,
                       fmt::format("UPDATE alert_rules SET name = {}, enabled = {}, spec = {}, "
                                   "updated_at = {} WHERE tenant_id = {} AND id = {}",
                                   p.S(r.name), p.I(r.enabled), p.S(DumpJson(r.spec)),
                                   p.I(Micros(r.updated_at)), p.S(r.tenant_id), p.S(r.id)),
                       p);
    if (n == 0) return NotFound(fmt::format("no such alert rule: {}", r.id));
    return Status::Ok();
  });
}

Status SociStore::DeleteAlertRule(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete alert rule", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(sql,
                       fmt::format("DELETE FROM alert_rules WHERE tenant_id = {} AND id = {}",
                                   p.S(tenant_id), p.S(id)),
                       p);
    if (n == 0) return NotFound(fmt::format("no such alert rule: {}", id));
    return Status::Ok();
  });
}

// ---- channels

Result<AlertChannel> SociStore::GetChannelIn(soci::session& sql, const std::string& tenant_id,
                                             const std::string& id, bool lock) {
  Params p;
  std::optional<AlertChannel> out;
  Select(sql,
         fmt::format("SELECT {} FROM alert_channels WHERE tenant_id = {} AND id = {}{}",
                     kChannelCols, p.S(tenant_id), p.S(id), lock ? ForUpdate() : ""),
         p, kChannelSig, [&](const Row& r) { out = ChannelFrom(r); });
  if (!out) return NotFound(fmt::format("no such alert channel: {}", id));
  return *out;
}

Status SociStore::CreateAlertChannel(const AlertChannel& c) {
  WARD_RETURN_IF_ERROR(CheckChannel(c));
  return RunStatus("create alert channel", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, c.tenant_id, false).status());
    Params p;
    Exec(sql,
         fmt::format("INSERT INTO alert_channels ({}) VALUES ({}, {}, {}, {}, {}, {}, 0, NULL, {}, "
                     "{})",
                     kChannelCols, p.S(c.tenant_id), p.S(c.id), p.S(c.name), p.S(c.kind),
                     p.I(c.enabled), p.S(DumpJson(c.config)), p.I(Micros(c.created_at)),
                     p.I(Micros(c.updated_at))),
         p);
    return Status::Ok();
  });
}

Result<AlertChannel> SociStore::GetAlertChannel(const std::string& tenant_id,
                                                const std::string& id) {
  return Run("get alert channel", false,
             [&](soci::session& sql) { return GetChannelIn(sql, tenant_id, id, false); });
}

Result<std::vector<AlertChannel>> SociStore::ListAlertChannels(const std::string& tenant_id) {
  return Run("list alert channels", false,
             [&](soci::session& sql) -> Result<std::vector<AlertChannel>> {
               Params p;
               std::vector<AlertChannel> out;
               Select(sql,
                      fmt::format("SELECT {} FROM alert_channels WHERE tenant_id = {} ORDER BY id",
                                  kChannelCols, p.S(tenant_id)),
                      p, kChannelSig, [&](const Row& r) { out.push_back(ChannelFrom(r)); });
               return out;
             });
}

Status SociStore::UpdateAlertChannel(const AlertChannel& c) {
  WARD_RETURN_IF_ERROR(CheckChannel(c));
  return RunStatus("update alert channel", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetChannelIn(sql, c.tenant_id, c.id, true).status());
    Params p;
    Exec(sql,
         fmt::format("UPDATE alert_channels SET name = {}, enabled = {}, config = {}, "
                     "updated_at = {} WHERE tenant_id = {} AND id = {}",
                     p.S(c.name), p.I(c.enabled), p.S(DumpJson(c.config)),
                     p.I(Micros(c.updated_at)), p.S(c.tenant_id), p.S(c.id)),
         p);
    return Status::Ok();
  });
}

Status SociStore::DeleteAlertChannel(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete alert channel", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(sql,
                       fmt::format("DELETE FROM alert_channels WHERE tenant_id = {} AND id = {}",
                                   p.S(tenant_id), p.S(id)),
                       p);
    if (n == 0) return NotFound(fmt::format("no such alert channel: {}", id));
    Params q;
    Exec(sql,
         fmt::format("DELETE FROM alert_notifications WHERE tenant_id = {} AND channel_id = {} "
                     "AND state = 0",
                     q.S(tenant_id), q.S(id)),
         q);
    return Status::Ok();
  });
}

// ---- outbox

void SociStore::InsertNotificationIn(soci::session& sql, const Notification& n) {
  Params p;
  Exec(sql,
       fmt::format("INSERT INTO alert_notifications ({}, claimed_by, claim_until) VALUES ({}, {}, "
                   "{}, {}, {}, {}, {}, {}, {}, NULL, {}, NULL, NULL)",
                   kNotificationCols, p.S(n.id), p.S(n.tenant_id), p.S(n.alert_id),
                   p.S(n.channel_id), p.S(n.rule_id), p.I(NotificationStateCode(n.state)),
                   p.I(n.attempts), p.I(Micros(n.created_at)), p.I(Micros(n.next_attempt_at)),
                   p.S(Clip(n.last_error))),
       p);
}

// The outbox rows of the alerts `opened` (signal, alert id) in this transaction: one per channel
// the signal names, or one `throttled` row per channel when the rule already notified
// throttle_max alerts within throttle_period (counted per rule, one query per rule).
void SociStore::QueueOpenedIn(
    soci::session& sql, const std::string& tenant,
    const std::vector<std::pair<const AlertSignal*, std::string>>& opened) {
  std::map<std::string, long long> sent_in_period;  // rule id -> notifications counted so far
  for (const auto& [s, alert_id] : opened) {
    if (s->notify.empty()) continue;
    NotificationState state = NotificationState::kPending;
    if (s->throttle_max > 0 && !s->rule_id.empty()) {
      auto it = sent_in_period.find(s->rule_id);
      if (it == sent_in_period.end()) {
        Params p;
        long long since = Micros(s->noticed_at - s->throttle_period);
        long long n = SelectInt(
            sql,
            fmt::format("SELECT COUNT(DISTINCT alert_id) FROM alert_notifications WHERE tenant_id "
                        "= {} AND rule_id = {} AND created_at > {} AND state <> 3",
                        p.S(tenant), p.S(s->rule_id), p.I(since)),
            p, 0);
        it = sent_in_period.emplace(s->rule_id, n).first;
      }
      if (it->second >= s->throttle_max) {
        state = NotificationState::kThrottled;
      } else {
        ++it->second;
      }
    }
    for (const std::string& channel : s->notify) {
      Notification n;
      n.id = NewEventId(s->noticed_at);
      n.tenant_id = tenant;
      n.alert_id = alert_id;
      n.channel_id = channel;
      n.rule_id = s->rule_id;
      n.state = state;
      n.created_at = s->noticed_at;
      n.next_attempt_at = s->noticed_at;
      if (state == NotificationState::kThrottled) {
        n.last_error = fmt::format("throttled: more than {} alerts of this rule in {} s",
                                   s->throttle_max, s->throttle_period.count());
      }
      InsertNotificationIn(sql, n);
    }
  }
}

Status SociStore::QueueNotification(const Notification& n) {
  WARD_RETURN_IF_ERROR(CheckId("notification.id", n.id));
  WARD_RETURN_IF_ERROR(CheckLen("notification.rule_id", n.rule_id, kIdMax));
  return RunStatus("queue notification", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetAlertIn(sql, n.tenant_id, n.alert_id, false).status());
    WARD_RETURN_IF_ERROR(GetChannelIn(sql, n.tenant_id, n.channel_id, false).status());
    InsertNotificationIn(sql, n);
    return Status::Ok();
  });
}

Result<std::vector<Notification>> SociStore::ClaimNotifications(const std::string& holder,
                                                                TimePoint now,
                                                                std::chrono::seconds lease,
                                                                int limit) {
  WARD_RETURN_IF_ERROR(CheckLen("holder", holder, kNameMax));
  return Run(
      "claim notifications", true, [&](soci::session& sql) -> Result<std::vector<Notification>> {
        const long long now_us = Micros(now);
        Params p;
        std::vector<Notification> out;
        Select(sql,
               fmt::format("SELECT {} FROM alert_notifications WHERE state = 0 AND "
                           "next_attempt_at <= {} AND (claim_until IS NULL OR claim_until "
                           "< {}) ORDER BY next_attempt_at, id LIMIT {}{}",
                           kNotificationCols, p.I(now_us), p.I(now_us), std::clamp(limit, 1, 1000),
                           d_ == Dialect::kSqlite ? "" : " FOR UPDATE SKIP LOCKED"),
               p, kNotificationSig, [&](const Row& r) { out.push_back(NotificationFrom(r)); });
        const long long until = Micros(now + lease);
        for (const Notification& n : out) {
          Params u;
          Exec(sql,
               fmt::format("UPDATE alert_notifications SET claimed_by = {}, claim_until = "
                           "{} WHERE id = {}",
                           u.S(holder), u.I(until), u.S(n.id)),
               u);
        }
        return out;
      });
}

Result<AlertChannel> SociStore::CompleteNotification(const std::string& holder,
                                                     const Notification& n,
                                                     const DeliveryOutcome& outcome) {
  const DeliveryAttempt& a = outcome.attempt;
  WARD_RETURN_IF_ERROR(CheckId("attempt.id", a.id));
  return Run("complete notification", true, [&](soci::session& sql) -> Result<AlertChannel> {
    Params d;
    Exec(sql,
         fmt::format("INSERT INTO alert_deliveries ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, "
                     "{}, {})",
                     kDeliveryCols, d.S(a.id), d.S(n.tenant_id), d.S(n.id), d.S(n.alert_id),
                     d.S(n.channel_id), d.I(a.attempt), d.I(Micros(a.at)), d.I(a.ok),
                     d.I(a.duration_ms), d.S(Clip(a.detail))),
         d);
    Params c;
    bool held = false;
    Select(sql,
           fmt::format("SELECT id FROM alert_notifications WHERE id = {} AND claimed_by = {} AND "
                       "state = 0{}",
                       c.S(n.id), c.S(holder), ForUpdate()),
           c, "s", [&](const Row&) { held = true; });
    WARD_ASSIGN_OR_RETURN(AlertChannel ch, GetChannelIn(sql, n.tenant_id, n.channel_id, true));
    if (!held) {
      return FailedPrecondition(
          fmt::format("notification {} is no longer held by {}", n.id, holder));
    }
    Params u;
    if (a.ok) {
      Exec(sql,
           fmt::format("UPDATE alert_notifications SET state = 1, attempts = {}, sent_at = {}, "
                       "last_error = '', claimed_by = NULL, claim_until = NULL WHERE id = {}",
                       u.I(a.attempt), u.I(Micros(a.at)), u.S(n.id)),
           u);
      ch.consecutive_failures = 0;
      ch.failing_since.reset();
    } else {
      const bool retry = outcome.retry_at.has_value();
      Exec(sql,
           fmt::format("UPDATE alert_notifications SET state = {}, attempts = {}, "
                       "next_attempt_at = {}, last_error = {}, claimed_by = NULL, claim_until = "
                       "NULL WHERE id = {}",
                       u.I(retry ? 0 : 2), u.I(a.attempt),
                       u.I(Micros(retry ? *outcome.retry_at : a.at)), u.S(Clip(a.detail)),
                       u.S(n.id)),
           u);
      ch.consecutive_failures += 1;
      if (!ch.failing_since) ch.failing_since = a.at;
    }
    Params f;
    std::optional<long long> since;
    if (ch.failing_since) since = Micros(*ch.failing_since);
    Exec(sql,
         fmt::format("UPDATE alert_channels SET failures = {}, failing_since = {} WHERE tenant_id "
                     "= {} AND id = {}",
                     f.I(ch.consecutive_failures), f.OptI(since), f.S(n.tenant_id),
                     f.S(n.channel_id)),
         f);
    return ch;
  });
}

Result<std::vector<Notification>> SociStore::ListNotifications(const std::string& tenant_id,
                                                               const std::string& alert_id) {
  return Run(
      "list notifications", false, [&](soci::session& sql) -> Result<std::vector<Notification>> {
        WARD_RETURN_IF_ERROR(GetAlertIn(sql, tenant_id, alert_id, false).status());
        Params p;
        std::vector<Notification> out;
        Select(sql,
               fmt::format("SELECT {} FROM alert_notifications WHERE tenant_id = {} AND "
                           "alert_id = {} ORDER BY created_at, id",
                           kNotificationCols, p.S(tenant_id), p.S(alert_id)),
               p, kNotificationSig, [&](const Row& r) { out.push_back(NotificationFrom(r)); });
        return out;
      });
}

Result<std::vector<DeliveryAttempt>> SociStore::ListDeliveryAttempts(const std::string& tenant_id,
                                                                     const std::string& alert_id) {
  return Run("list delivery attempts", false,
             [&](soci::session& sql) -> Result<std::vector<DeliveryAttempt>> {
               WARD_RETURN_IF_ERROR(GetAlertIn(sql, tenant_id, alert_id, false).status());
               Params p;
               std::vector<DeliveryAttempt> out;
               Select(sql,
                      fmt::format("SELECT {} FROM alert_deliveries WHERE tenant_id = {} AND "
                                  "alert_id = {} ORDER BY at, id",
                                  kDeliveryCols, p.S(tenant_id), p.S(alert_id)),
                      p, kDeliverySig, [&](const Row& r) { out.push_back(DeliveryFrom(r)); });
               return out;
             });
}

Result<int64_t> SociStore::CountPendingNotifications() {
  return Run("count pending notifications", false, [&](soci::session& sql) -> Result<int64_t> {
    Params p;
    return static_cast<int64_t>(
        SelectInt(sql, "SELECT COUNT(*) FROM alert_notifications WHERE state = 0", p, 0));
  });
}

}  // namespace ward::manager::soci_backend

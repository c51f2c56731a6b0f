// The store side of alert rules and notifications (issue 19) on every backend: SQLite, and the
// PostgreSQL and MariaDB servers tests/databases.cmake starts (a fresh database per test).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "manager/store/scratch_database.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

::testing::AssertionResult StatusIsOk(const Status& s) {
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.ToString();
}
#define EXPECT_OK(expr) EXPECT_TRUE(StatusIsOk(expr))
#define ASSERT_OK(expr) ASSERT_TRUE(StatusIsOk(expr))

template <typename T>
T Ok(Result<T> r, const char* what) {
  if (!r.has_value()) {
    ADD_FAILURE() << what << ": " << r.error().ToString();
    return T{};
  }
  return std::move(r).value();
}
#define OK(expr) Ok((expr), #expr)

const TimePoint kT0 = TimePoint(std::chrono::microseconds(1'789'948'800'000'000LL));

class AlertingStore : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    auto s = Store::Open(db_->url());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_OK(store_->Migrate());
    t1_ = MakeTenant("one");
    t2_ = MakeTenant("two");
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  std::string NewId(std::string_view prefix) { return fmt::format("{}-{:08d}", prefix, ++n_); }

  Tenant MakeTenant(const std::string& name) {
    Tenant t;
    t.id = NewId("tenant");
    t.name = name;
    t.created_at = kT0;
    EXPECT_OK(store_->CreateTenant(t));
    return t;
  }

  AlertChannel MakeChannel(const Tenant& t, const std::string& name) {
    AlertChannel c;
    c.id = NewId("chan");
    c.tenant_id = t.id;
    c.name = name;
    c.kind = "webhook";
    c.config = {{"url", "https://example.invalid/hook"}};
    c.created_at = c.updated_at = kT0;
    EXPECT_OK(store_->CreateAlertChannel(c));
    return c;
  }

  StoredEvent Event(const Tenant& t, TimePoint ts) {
    StoredEvent e;
    e.id = NewId("ev");
    e.tenant_id = t.id;
    e.agent_id = "agent-1";
    e.timestamp = ts;
    e.module = "ips";
    e.action = "blocked";
    e.severity = 3;
    e.doc = {{"event", {{"id", e.id}}}};
    return e;
  }

  AlertSignal Signal(const StoredEvent& e, std::string source, std::vector<std::string> notify) {
    AlertSignal s;
    s.new_alert_id = NewId("alert");
    s.tenant_id = e.tenant_id;
    s.agent_id = e.agent_id;
    s.event_id = e.id;
    s.timestamp = e.timestamp;
    s.source = source;
    s.rule_key = "ips.blocked:942100";
    s.module = e.module;
    s.title = "SQL injection";
    s.severity = e.severity;
    s.notify = std::move(notify);
    s.rule_id = source == "builtin" ? "builtin.ips_block" : source;
    s.noticed_at = e.timestamp;
    return s;
  }

  std::vector<Alert> Alerts(const Tenant& t) { return OK(store_->ListAlerts(t.id, {})); }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_;
  Tenant t1_, t2_;
  int n_ = 0;
};

TEST_P(AlertingStore, RulesAndChannelsBelongToTheirTenant) {
  AlertRule r;
  r.id = "rule-1";
  r.tenant_id = t1_.id;
  r.name = "web logins";
  r.spec = {{"window_s", 60}};
  r.created_at = r.updated_at = kT0;
  ASSERT_OK(store_->CreateAlertRule(r));
  EXPECT_EQ(store_->CreateAlertRule(r).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(OK(store_->GetAlertRule(t1_.id, "rule-1")).spec, r.spec);
  EXPECT_EQ(store_->GetAlertRule(t2_.id, "rule-1").error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(OK(store_->ListAlertRules(t2_.id)).empty());
  r.enabled = false;
  r.name = "renamed";
  ASSERT_OK(store_->UpdateAlertRule(r));
  AlertRule got = OK(store_->GetAlertRule(t1_.id, "rule-1"));
  EXPECT_FALSE(got.enabled);
  EXPECT_EQ(got.name, "renamed");
  r.tenant_id = t2_.id;
  EXPECT_EQ(store_->UpdateAlertRule(r).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteAlertRule(t2_.id, "rule-1").code(), StatusCode::kNotFound);
  ASSERT_OK(store_->DeleteAlertRule(t1_.id, "rule-1"));

  AlertChannel c = MakeChannel(t1_, "ops");
  AlertChannel dup = c;
  dup.id = NewId("chan");
  EXPECT_EQ(store_->CreateAlertChannel(dup).code(), StatusCode::kAlreadyExists);
  dup.tenant_id = t2_.id;
  EXPECT_OK(store_->CreateAlertChannel(dup));  // names are per tenant
  EXPECT_EQ(store_->GetAlertChannel(t2_.id, c.id).error().code(), StatusCode::kNotFound);
  EXPECT_EQ(OK(store_->ListAlertChannels(t1_.id)).size(), 1u);
  c.config["format"] = "slack";
  ASSERT_OK(store_->UpdateAlertChannel(c));
  EXPECT_EQ(OK(store_->GetAlertChannel(t1_.id, c.id)).config["format"], "slack");
  ASSERT_OK(store_->DeleteTenant(t1_.id));
  EXPECT_TRUE(OK(store_->ListAlertChannels(t1_.id)).empty());
}

TEST_P(AlertingStore, OpeningAnAlertQueuesItsNotificationsInTheSameTransaction) {
  AlertChannel a = MakeChannel(t1_, "a");
  AlertChannel b = MakeChannel(t1_, "b");
  StoredEvent e1 = Event(t1_, kT0);
  auto r = OK(store_->InsertEventsWithAlerts({e1}, {Signal(e1, "builtin", {a.id, b.id})}, 1h));
  EXPECT_EQ(r.alerts_counted, 1);
  auto alerts = Alerts(t1_);
  ASSERT_EQ(alerts.size(), 1u);
  auto ns = OK(store_->ListNotifications(t1_.id, alerts[0].id));
  ASSERT_EQ(ns.size(), 2u);
  std::set<std::string> channels;
  for (const auto& n : ns) {
    EXPECT_EQ(n.state, NotificationState::kPending);
    EXPECT_EQ(n.rule_id, "builtin.ips_block");
    EXPECT_EQ(n.next_attempt_at, kT0);
    channels.insert(n.channel_id);
  }
  EXPECT_EQ(channels, (std::set<std::string>{a.id, b.id}));
  // Counting into the open alert notifies nobody again; the resent batch counts nothing.
  StoredEvent e2 = Event(t1_, kT0 + 1min);
  OK(store_->InsertEventsWithAlerts({e2}, {Signal(e2, "builtin", {a.id, b.id})}, 1h));
  OK(store_->InsertEventsWithAlerts({e1}, {Signal(e1, "builtin", {a.id, b.id})}, 1h));
  alerts = Alerts(t1_);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].count, 2);
  EXPECT_EQ(OK(store_->ListNotifications(t1_.id, alerts[0].id)).size(), 2u);
  EXPECT_EQ(OK(store_->CountPendingNotifications()), 2);
  // A batch that fails stores no event, no alert and no notification.
  StoredEvent bad = Event(t1_, kT0 + 2min);
  StoredEvent e3 = Event(t1_, kT0 + 3h);
  bad.module = std::string(100, 'm');
  EXPECT_FALSE(
      store_->InsertEventsWithAlerts({e3, bad}, {Signal(e3, "builtin", {a.id})}, 1h).has_value());
  EXPECT_EQ(Alerts(t1_).size(), 1u);
  EXPECT_EQ(OK(store_->CountPendingNotifications()), 2);
  // Another tenant cannot read the log.
  EXPECT_EQ(store_->ListNotifications(t2_.id, alerts[0].id).error().code(), StatusCode::kNotFound);
}

TEST_P(AlertingStore, ARuleCountsTheSameEventBesideTheBuiltInAlertWithItsOwnWindow) {
  StoredEvent e1 = Event(t1_, kT0);
  AlertSignal rule = Signal(e1, "rule-web", {});
  rule.window = 60s;
  OK(store_->InsertEventsWithAlerts({e1}, {Signal(e1, "builtin", {}), rule}, 1h));
  ASSERT_EQ(Alerts(t1_).size(), 2u);
  // 2 minutes later: the built-in alert (1 h) counts it, the rule (60 s) opens a new one.
  StoredEvent e2 = Event(t1_, kT0 + 2min);
  AlertSignal rule2 = Signal(e2, "rule-web", {});
  rule2.window = 60s;
  OK(store_->InsertEventsWithAlerts({e2}, {Signal(e2, "builtin", {}), rule2}, 1h));
  std::map<std::string, std::vector<int64_t>> counts;
  for (const auto& a : Alerts(t1_)) counts[a.source].push_back(a.count);
  EXPECT_EQ(counts["builtin"], std::vector<int64_t>{2});
  EXPECT_EQ(counts["rule-web"], (std::vector<int64_t>{1, 1}));
  // Resent: nothing counts twice, for either source.
  OK(store_->InsertEventsWithAlerts({e1, e2}, {Signal(e1, "builtin", {}), rule, rule2}, 1h));
  EXPECT_EQ(Alerts(t1_).size(), 3u);
}

TEST_P(AlertingStore, ThrottlingLogsNotificationsBeyondTheRulesLimit) {
  AlertChannel c = MakeChannel(t1_, "c");
  auto batch = [&](TimePoint at, const std::string& agent) {
    StoredEvent e = Event(t1_, at);
    e.agent_id = agent;
    AlertSignal s = Signal(e, "rule-1", {c.id});
    s.throttle_max = 2;
    s.throttle_period = 1h;
    OK(store_->InsertEventsWithAlerts({e}, {s}, 1h));
  };
  batch(kT0, "h1");
  batch(kT0 + 1min, "h2");
  batch(kT0 + 2min, "h3");  // the third alert within the hour: throttled
  batch(kT0 + 2h, "h4");    // a new period
  std::map<std::string, NotificationState> by_agent;
  for (const auto& a : Alerts(t1_)) {
    auto ns = OK(store_->ListNotifications(t1_.id, a.id));
    ASSERT_EQ(ns.size(), 1u);
    by_agent[a.agent_id] = ns[0].state;
    if (ns[0].state == NotificationState::kThrottled) {
      EXPECT_NE(ns[0].last_error.find("throttled"), std::string::npos);
    }
  }
  EXPECT_EQ(by_agent["h1"], NotificationState::kPending);
  EXPECT_EQ(by_agent["h2"], NotificationState::kPending);
  EXPECT_EQ(by_agent["h3"], NotificationState::kThrottled);
  EXPECT_EQ(by_agent["h4"], NotificationState::kPending);
  EXPECT_EQ(OK(store_->CountPendingNotifications()), 3);
}

TEST_P(AlertingStore, ClaimsAreExclusiveExpireAndSettleOnlyForTheirHolder) {
  AlertChannel c = MakeChannel(t1_, "c");
  for (int i = 0; i < 20; ++i) {
    StoredEvent e = Event(t1_, kT0);
    e.agent_id = fmt::format("h{}", i);
    OK(store_->InsertEventsWithAlerts({e}, {Signal(e, "builtin", {c.id})}, 1h));
  }
  // Two nodes claim at the same moment: every row goes to exactly one of them.
  std::vector<Notification> got_a, got_b;
  // (A claim that fails, e.g. a deadlock the store gave up retrying, is retried by the notifier's
  // next round: here by the next iteration.)
  std::atomic<int> claimed{0};
  auto claim = [&](const char* node, std::vector<Notification>& got) {
    for (int i = 0; i < 200 && claimed.load() < 20; ++i) {
      auto r = store_->ClaimNotifications(node, kT0, 60s, 2);
      if (!r) continue;
      got.insert(got.end(), r->begin(), r->end());
      claimed += static_cast<int>(r->size());
    }
  };
  std::thread ta([&] { claim("node-a", got_a); });
  std::thread tb([&] { claim("node-b", got_b); });
  ta.join();
  tb.join();
  std::set<std::string> ids;
  for (const auto& n : got_a) ids.insert(n.id);
  for (const auto& n : got_b) EXPECT_TRUE(ids.insert(n.id).second) << "claimed twice: " << n.id;
  EXPECT_EQ(ids.size(), 20u);
  EXPECT_TRUE(OK(store_->ClaimNotifications("node-c", kT0 + 59s, 60s, 100)).empty());
  // node-a "died": after its lease node-c takes its rows over, and node-a can no longer settle.
  auto taken = OK(store_->ClaimNotifications("node-c", kT0 + 61s, 60s, 100));
  EXPECT_EQ(taken.size(), 20u);
  // Whichever node claimed rows (one may have taken all 20 before the other started) "died".
  const bool a_claimed = !got_a.empty();
  const char* dead = a_claimed ? "node-a" : "node-b";
  const std::vector<Notification>& dead_rows = a_claimed ? got_a : got_b;
  ASSERT_FALSE(dead_rows.empty());
  DeliveryOutcome ok;
  ok.attempt.id = NewId("try");
  ok.attempt.attempt = 1;
  ok.attempt.at = kT0 + 62s;
  ok.attempt.ok = true;
  auto late = store_->CompleteNotification(dead, dead_rows[0], ok);
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(OK(store_->ListDeliveryAttempts(t1_.id, dead_rows[0].alert_id)).empty());
  EXPECT_EQ(OK(store_->CompleteNotification("node-c", dead_rows[0], ok)).consecutive_failures, 0);
  EXPECT_EQ(OK(store_->CountPendingNotifications()), 19);
}

TEST_P(AlertingStore, FailuresAreRetriedAtTheirTimeCountedPerChannelAndLogged) {
  AlertChannel c = MakeChannel(t1_, "c");
  StoredEvent e = Event(t1_, kT0);
  OK(store_->InsertEventsWithAlerts({e}, {Signal(e, "builtin", {c.id})}, 1h));
  auto n = OK(store_->ClaimNotifications("node", kT0, 60s, 10));
  ASSERT_EQ(n.size(), 1u);
  DeliveryOutcome fail;
  fail.attempt.id = NewId("try");
  fail.attempt.attempt = 1;
  fail.attempt.at = kT0 + 1s;
  fail.attempt.detail = "HTTP 503";
  fail.attempt.duration_ms = 12;
  fail.retry_at = kT0 + 10s;
  AlertChannel after = OK(store_->CompleteNotification("node", n[0], fail));
  EXPECT_EQ(after.consecutive_failures, 1);
  EXPECT_EQ(after.failing_since, kT0 + 1s);
  EXPECT_TRUE(OK(store_->ClaimNotifications("node", kT0 + 9s, 60s, 10)).empty());
  n = OK(store_->ClaimNotifications("node", kT0 + 10s, 60s, 10));
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].attempts, 1);
  EXPECT_EQ(n[0].last_error, "HTTP 503");
  DeliveryOutcome ok;
  ok.attempt.id = NewId("try");
  ok.attempt.attempt = 2;
  ok.attempt.at = kT0 + 11s;
  ok.attempt.ok = true;
  ok.attempt.detail = "HTTP 200";
  after = OK(store_->CompleteNotification("node", n[0], ok));
  EXPECT_EQ(after.consecutive_failures, 0);
  EXPECT_FALSE(after.failing_since.has_value());
  auto ns = OK(store_->ListNotifications(t1_.id, n[0].alert_id));
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].state, NotificationState::kSent);
  EXPECT_EQ(ns[0].sent_at, kT0 + 11s);
  auto log = OK(store_->ListDeliveryAttempts(t1_.id, n[0].alert_id));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_FALSE(log[0].ok);
  EXPECT_EQ(log[0].detail, "HTTP 503");
  EXPECT_EQ(log[0].duration_ms, 12);
  EXPECT_TRUE(log[1].ok);
  // Given up: failed, never claimed again.
  StoredEvent e2 = Event(t1_, kT0 + 5h);
  OK(store_->InsertEventsWithAlerts({e2}, {Signal(e2, "builtin", {c.id})}, 1h));
  n = OK(store_->ClaimNotifications("node", kT0 + 5h, 60s, 10));
  ASSERT_EQ(n.size(), 1u);
  DeliveryOutcome give_up;
  give_up.attempt.id = NewId("try");
  give_up.attempt.attempt = 1;
  give_up.attempt.at = kT0 + 5h;
  give_up.attempt.detail = "HTTP 404";
  OK(store_->CompleteNotification("node", n[0], give_up));
  EXPECT_EQ(OK(store_->ListNotifications(t1_.id, n[0].alert_id))[0].state,
            NotificationState::kFailed);
  EXPECT_TRUE(OK(store_->ClaimNotifications("node", kT0 + 100h, 60s, 10)).empty());
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& info) {
  switch (info.param) {
    case Dialect::kSqlite:
      return "sqlite";
    case Dialect::kPostgres:
      return "postgresql";
    case Dialect::kMysql:
      return "mysql";
  }
  return "unknown";
}

INSTANTIATE_TEST_SUITE_P(Backends, AlertingStore,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);

}  // namespace
}  // namespace ward::manager

// The IPS tuning aggregate (docs/manager-store.md, "IPS matches") on SQLite, PostgreSQL and
// MariaDB: every answer counted by SQL over `ips_matches` equals what the tuning view counted
// before from the events' JSON (the reference below reads every IPS event of the scope, as the
// route did), after ingestion with duplicates and re-delivery, after retention (batches, and
// PostgreSQL's whole-partition drop), after a tenant is deleted, and after the migration's
// backfill of events stored before the table existed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/modules/ips/path_prefix.h"
#include "common/json_path.h"
#include "manager/store/ips_matches.h"
#include "manager/store/scratch_database.h"
#include "manager/store/soci_store.h"
#include "manager/store/store.h"
#include "manager/store/store_test_util.h"

namespace ward::manager {
namespace {

using json = nlohmann::json;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// 2026-09-21T00:00:00Z.
const TimePoint kDay0 = TimePoint(microseconds(1'789'948'800'000'000LL));

// The aggregate as text (one line per fact), for readable differences.
std::string Show(const IpsTuningAggregate& a) {
  std::string s = fmt::format("events={} would_block={}\n", a.events, a.would_block);
  for (const auto& r : a.rules) {
    s += fmt::format("rule {} events={} detected={} blocked={} would_block={} clients={}\n",
                     r.rule_id, r.events, r.detected, r.blocked, r.would_block, r.clients);
    s += "  hosts";
    for (const auto& h : r.hosts) s += " " + h;
    s += "\n  targets";
    for (const auto& t : r.targets) s += fmt::format(" {}={}", t.value, t.count);
    s += "\n  paths";
    for (const auto& t : r.paths) s += fmt::format(" {}={}", t.value, t.count);
    s += "\n  samples";
    for (size_t i = 0; i < r.samples.size(); ++i) {
      s += fmt::format(" {}@{}", r.samples[i].id,
                       i < r.sample_hosts.size() ? r.sample_hosts[i] : "?");
    }
    s += "\n";
  }
  for (const auto& p : a.preview) {
    s += fmt::format("preview {} matched={} suppressed={}\n", p.url, p.matched, p.suppressed);
  }
  return s;
}

class IpsTuning : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    auto db = ScratchDatabase::Create(GetParam());
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(db).value();
    Reopen();
    ASSERT_OK(store_->Migrate());
    for (auto* t : {&a_, &b_}) {
      t->id = fmt::format("tenant-{}", t == &a_ ? "a" : "b");
      t->name = t->id;
      t->created_at = kDay0;
      ASSERT_OK(store_->CreateTenant(*t));
    }
    for (const Tenant* t : {&a_, &b_}) {
      Policy web = MakePolicy(*t, "web"), api = MakePolicy(*t, "api");
      policies_[t->id] = {web.id, api.id};
      // Agents 0-1 on "web", 2 on "api", 3 on none; agent-gone sends events but does not exist.
      for (int i = 0; i < 4; ++i) {
        Agent a;
        a.id = fmt::format("{}-agent-{}", t->id, i);
        a.tenant_id = t->id;
        a.hostname = fmt::format("host-{}", i);
        a.machine_id = a.id;
        a.version = "0.1.0";
        a.credential_hash = fmt::format("{:064x}", ++next_);
        if (i < 2) a.policy_id = web.id;
        if (i == 2) a.policy_id = api.id;
        a.created_at = kDay0;
        ASSERT_OK(store_->CreateAgent(a));
      }
    }
  }

  void Reopen() {
    store_.reset();
    auto s = Store::Open(db_->url());
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
  }

  Policy MakePolicy(const Tenant& t, const std::string& name) {
    Policy p;
    p.id = fmt::format("{}-{}", t.id, name);
    p.tenant_id = t.id;
    p.name = name;
    p.created_at = kDay0;
    p.updated_at = kDay0;
    EXPECT_TRUE(store_->CreatePolicy(p).ok());
    return p;
  }

  // A varied IPS (or other) event: matches from ips.matches (duplicated rules, variables,
  // evaluation rules, none), or rule.id alone (scalar, array, integer); clients, paths, URLs.
  StoredEvent Make(const Tenant& t, TimePoint ts, int k) {
    StoredEvent e;
    e.id = fmt::format("ev-{:06d}", ++next_);
    e.tenant_id = t.id;
    e.agent_id = k % 9 == 0 ? t.id + "-agent-gone" : fmt::format("{}-agent-{}", t.id, k % 4);
    e.timestamp = ts;
    e.module = k % 13 == 0 ? "integrity" : "ips";
    static const char* kActions[] = {"detected", "blocked", "detected", "allowed", "detected"};
    e.action = kActions[k % 5];
    e.severity = k % 4;
    static const char* kRules[] = {"942100", "941100", "920350", "949110", "932160", "942100"};
    static const char* kVars[] = {"ARGS:q", "ARGS:name", "REQUEST_HEADERS:Host", "", "ARGS:q"};
    json doc = {{"event", {{"id", e.id}, {"module", e.module}, {"action", e.action}}},
                {"source", {{"ip", k % 7 == 0 ? "" : fmt::format("10.0.0.{}", k % 6)}}},
                {"http", {{"request", {{"method", k % 2 ? "GET" : "POST"}}}}}};
    std::string path = fmt::format("/app{}/p{}", k % 3, k % 4);
    if (k % 17 != 0) doc["url"]["path"] = path;
    if (k % 5 != 1) doc["url"]["original"] = fmt::format("{}?q={}", path, k % 8);
    switch (k % 6) {
      case 4:
        doc["rule"]["id"] = k % 4 == 0 ? json(942100) : json("941100");
        break;
      case 5:
        doc["rule"]["id"] = json::array({"942100", "949110", k % 2 ? "920350" : "932160"});
        break;
      default: {
        json matches = json::array();
        int n = k % 4;  // 0 .. 3 matches (0: only the scoring rule)
        if (n == 0) matches.push_back({{"id", "949110"}, {"message", "score"}});
        for (int i = 0; i < n; ++i) {
          int r = (k + i * 5) % 6;
          matches.push_back({{"id", kRules[r]},
                             {"variable", kVars[(k + i) % 5]},
                             {"message", fmt::format("msg {}", kRules[r])},
                             {"data", fmt::format("data {}", k)}});
        }
        doc["ips"]["matches"] = matches;
      }
    }
    if (k % 3 == 0) {
      e.doc_text = doc.dump();  // the agent API's path: the line as text
    } else {
      e.doc = doc;
    }
    return e;
  }

  // The tuning view as it was counted before: every IPS event of the scope read back whole.
  IpsTuningAggregate Reference(const std::string& tenant, const IpsTuningQuery& q) {
    AgentFilter af;
    af.policy_id = q.policy_id;
    auto agents = OK(store_->ListAgents(tenant, af));
    struct Acc {
      IpsTuningRule r;
      std::set<std::string> hosts, clients;
      std::map<std::string, int64_t> targets, paths;
      std::vector<std::pair<std::pair<TimePoint, std::string>, std::string>> samples;
    };
    std::map<std::string, Acc> rules;
    std::map<std::string, IpsTuningPreviewRow> preview;
    IpsTuningAggregate out;
    for (const Agent& a : agents) {
      EventQuery eq;
      eq.from = q.from;
      eq.to = q.to;
      eq.agent_id = a.id;
      eq.module = "ips";
      eq.limit = 10000;
      for (const StoredEvent& e : OK(store_->QueryEvents(tenant, eq))) {
        IpsEventFacts f = IpsFactsOf(e.module, e.action, e.severity, e.doc);
        if (!f.tuned) continue;
        ++out.events;
        if (f.would_block) ++out.would_block;
        std::vector<IpsMatch> matches = TunableIpsMatches(e.doc);
        if (q.exclude_rule) {
          size_t covered = 0;
          for (const IpsMatch& m : matches) {
            covered += m.id == *q.exclude_rule &&
                               (q.exclude_target.empty() || m.variable == q.exclude_target)
                           ? 1
                           : 0;
          }
          if (covered > 0) {
            auto& p = preview[f.url];
            p.url = f.url;
            ++p.matched;
            if (covered == matches.size()) ++p.suppressed;
          }
        }
        std::set<std::string> seen;
        for (const IpsMatch& m : matches) {
          if (!seen.insert(m.id).second) continue;
          Acc& x = rules[m.id];
          x.r.rule_id = m.id;
          ++x.r.events;
          (f.blocked ? x.r.blocked : x.r.detected) += 1;
          if (f.would_block) ++x.r.would_block;
          x.hosts.insert(a.hostname);
          if (!f.client.empty()) x.clients.insert(f.client);
          if (!m.variable.empty()) ++x.targets[m.variable];
          if (!f.path.empty()) ++x.paths[f.path];
          x.samples.push_back({{e.timestamp, e.id}, a.hostname});
        }
      }
    }
    auto top = [&](const std::map<std::string, int64_t>& m) {
      std::vector<EventValueCount> v;
      for (const auto& [k, n] : m) v.push_back({k, n});
      std::stable_sort(v.begin(), v.end(),
                       [](const auto& a, const auto& b) { return a.count > b.count; });
      if (v.size() > static_cast<size_t>(q.top)) v.resize(static_cast<size_t>(q.top));
      return v;
    };
    for (auto& [id, x] : rules) {
      x.r.hosts.assign(x.hosts.begin(), x.hosts.end());
      x.r.clients = static_cast<int64_t>(x.clients.size());
      x.r.targets = top(x.targets);
      x.r.paths = top(x.paths);
      std::sort(x.samples.begin(), x.samples.end());
      for (size_t i = 0; i < x.samples.size() && i < static_cast<size_t>(q.samples); ++i) {
        StoredEvent e;
        e.id = x.samples[i].first.second;
        x.r.samples.push_back(e);
        x.r.sample_hosts.push_back(x.samples[i].second);
      }
      out.rules.push_back(x.r);
    }
    for (auto& [url, p] : preview) out.preview.push_back(p);
    return out;
  }

  void ExpectSame(const std::string& tenant, const IpsTuningQuery& q, const std::string& what) {
    SCOPED_TRACE(what);
    IpsTuningAggregate got = OK(store_->AggregateIpsTuning(tenant, q));
    EXPECT_EQ(Show(got), Show(Reference(tenant, q)));
    // The samples come back whole (the route reads their matches).
    for (const auto& r : got.rules) {
      for (const auto& e : r.samples) {
        EXPECT_EQ(e.module, "ips");
        EXPECT_TRUE(e.doc.is_object()) << e.id;
      }
    }
  }

  // Ranges x scopes x previews.
  void ExpectAllSame(const std::string& tenant) {
    const auto& [web, api] = policies_[tenant];
    const std::vector<std::pair<TimePoint, TimePoint>> ranges = {
        {kDay0 - hours(1), kDay0 + hours(72)},
        {kDay0 + hours(3) + minutes(7), kDay0 + hours(20) + seconds(13)},
        {kDay0 + hours(25), kDay0 + hours(26)},
        {kDay0 + hours(30), kDay0 + hours(31)}};
    for (const auto& [from, to] : ranges) {
      for (const std::optional<std::string>& pol :
           {std::optional<std::string>(), std::optional<std::string>(web),
            std::optional<std::string>(api), std::optional<std::string>("no-such-policy")}) {
        IpsTuningQuery q;
        q.from = from;
        q.to = to;
        q.policy_id = pol;
        q.top = 3;
        q.samples = 4;
        std::string what = fmt::format("{} {}..{} {}", tenant, from.time_since_epoch().count(),
                                       to.time_since_epoch().count(), pol.value_or("*"));
        ExpectSame(tenant, q, what);
        for (const auto& [rule, target] : {std::pair<std::string, std::string>{"942100", ""},
                                           {"942100", "ARGS:q"},
                                           {"941100", "ARGS:name"},
                                           {"920350", "nope"},
                                           {"949110", ""}}) {
          q.exclude_rule = rule;
          q.exclude_target = target;
          ExpectSame(tenant, q, what + " preview " + rule + "/" + target);
        }
      }
    }
  }

  int64_t Total(const std::string& tenant) {
    IpsTuningQuery q;
    q.from = kDay0 - hours(48);
    q.to = kDay0 + hours(96);
    return OK(store_->AggregateIpsTuning(tenant, q)).events;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<Store> store_;
  Tenant a_, b_;
  std::map<std::string, std::pair<std::string, std::string>> policies_;
  int next_ = 0;
};

TEST_P(IpsTuning, AggregatesFromTheMatchTableEqualTheEventsAfterIngestRetentionAndDeletes) {
  // Tenant a: 700 events over two days in batches of 50, with a duplicate inside each batch and
  // every third batch sent twice.
  std::vector<StoredEvent> all;
  for (int k = 0; k < 700; ++k) all.push_back(Make(a_, kDay0 + seconds(k * 240 + k % 7), k));
  for (size_t s = 0; s < all.size(); s += 50) {
    std::vector<StoredEvent> batch(all.begin() + static_cast<long>(s),
                                   all.begin() + static_cast<long>(std::min(all.size(), s + 50)));
    batch.push_back(batch.front());
    EXPECT_EQ(OK(store_->InsertEvents(batch)).accepted, static_cast<int>(batch.size()) - 1);
    if ((s / 50) % 3 == 0) {
      EXPECT_EQ(OK(store_->InsertEvents(batch)).accepted, 0);
    }
  }
  // Tenant b: the same shapes, other ids; it must never show in tenant a's answers.
  std::vector<StoredEvent> bs;
  for (int k = 0; k < 200; ++k) bs.push_back(Make(b_, kDay0 + hours(25) + seconds(k * 11), k));
  EXPECT_EQ(OK(store_->InsertEvents(bs)).accepted, 200);
  const int64_t total_a = Total(a_.id);
  EXPECT_GT(total_a, 300);
  {
    // The comparison below is not between two empty answers: the data has what the view shows.
    IpsTuningQuery q;
    q.from = kDay0 - hours(1);
    q.to = kDay0 + hours(72);
    q.samples = 4;
    q.exclude_rule = "942100";
    IpsTuningAggregate all = OK(store_->AggregateIpsTuning(a_.id, q));
    std::map<std::string, const IpsTuningRule*> by_id;
    for (const auto& r : all.rules) by_id[r.rule_id] = &r;
    EXPECT_GE(by_id.size(), 3u) << Show(all);
    EXPECT_FALSE(by_id.count("949110")) << "the scoring rule is not tunable";
    ASSERT_TRUE(by_id.count("942100")) << Show(all);
    const IpsTuningRule& r = *by_id["942100"];
    EXPECT_GT(r.detected, 0);
    EXPECT_GT(r.blocked, 0);
    EXPECT_GT(r.would_block, 0);
    EXPECT_GT(r.clients, 1);
    EXPECT_EQ(r.hosts, (std::vector<std::string>{"host-0", "host-1", "host-2", "host-3"}));
    EXPECT_EQ(r.samples.size(), 4u);
    EXPECT_FALSE(r.targets.empty());
    EXPECT_GE(r.paths.size(), 3u);
    int64_t matched = 0, suppressed = 0;
    for (const auto& p : all.preview) {
      matched += p.matched;
      suppressed += p.suppressed;
    }
    EXPECT_GT(suppressed, 0);
    EXPECT_GT(matched, suppressed) << "some events also matched another rule";
  }
  ExpectAllSame(a_.id);
  ExpectAllSame(b_.id);

  // Retention in batches of 37 up to day 0 + 20:30, then the rest of day 0 (PostgreSQL drops
  // its partition whole: only tenant a has rows there).
  int64_t purged = 0;
  for (int i = 0; i < 1000; ++i) {
    int64_t n = OK(store_->DeleteEventsBefore(a_.id, kDay0 + hours(20) + minutes(30), 37));
    if (n == 0) break;
    purged += n;
  }
  EXPECT_GT(purged, 200);
  EXPECT_LT(Total(a_.id), total_a);
  ExpectAllSame(a_.id);
  for (int i = 0; i < 1000; ++i) {
    if (OK(store_->DeleteEventsBefore(a_.id, kDay0 + hours(24), 1000)) == 0) break;
  }
  IpsTuningQuery day0;
  day0.from = kDay0 - hours(1);
  day0.to = kDay0 + hours(24);
  EXPECT_EQ(OK(store_->AggregateIpsTuning(a_.id, day0)).events, 0);
  EXPECT_TRUE(OK(store_->AggregateIpsTuning(a_.id, day0)).rules.empty());
  ExpectAllSame(a_.id);
  ExpectAllSame(b_.id);

  // A deleted tenant leaves no matches behind.
  ASSERT_OK(store_->DeleteTenant(b_.id));
  ASSERT_OK(store_->CreateTenant(b_));
  EXPECT_EQ(Total(b_.id), 0);
}

TEST_P(IpsTuning, TheMigrationBackfillsTheMatchesOfStoredEvents) {
  std::vector<StoredEvent> events;
  for (int k = 0; k < 400; ++k) events.push_back(Make(a_, kDay0 + seconds(k * 97), k));
  for (int k = 0; k < 50; ++k) events.push_back(Make(b_, kDay0 + seconds(k * 13), k));
  EXPECT_EQ(OK(store_->InsertEvents(events)).accepted, 450);
  const int64_t total_a = Total(a_.id);
  EXPECT_GT(total_a, 100);
  // The table as a database migrated from an earlier version has it: empty beside stored
  // events, with the migration's marker. Opening the store again runs the backfill.
  ASSERT_OK(RunAdminSql(db_->url(), {"DELETE FROM ips_matches",
                                     "INSERT INTO ips_matches_backfill (pending) VALUES (1)"}));
  EXPECT_EQ(Total(a_.id), 0);
  Reopen();
  ASSERT_OK(store_->Migrate());
  EXPECT_EQ(Total(a_.id), total_a);
  ExpectAllSame(a_.id);
  ExpectAllSame(b_.id);
  // Done once: the marker is gone, a second open changes nothing.
  Reopen();
  ASSERT_OK(store_->Migrate());
  EXPECT_EQ(Total(a_.id), total_a);
}

// The preview groups events by the request target without its query and fragment: whatever the
// prefix, the agent's matcher answers the same for it as for the whole target.
TEST(RequestTargetPath, ThePathPrefixMatcherAnswersTheSameAsForTheWholeTarget) {
  const std::vector<std::string> targets = {"/api/x?q=1",
                                            "/api/x#frag?q",
                                            "/api?x/../../admin",
                                            "/api/%3F/x?y",
                                            "/api/..%2fadmin?q",
                                            "/api/..;/admin?a=/b",
                                            "/API/x?q",
                                            "http://h/api/x?q",
                                            "HTTPS://h/api?x",
                                            "http://h?x/api/y",
                                            "http://h#x/api/y",
                                            "https://h",
                                            "/a\b?c",
                                            "/api",
                                            "",
                                            "?q=/api/x",
                                            "/api/x?",
                                            "/api/x%00?q",
                                            "http://h/a/b#c?d"};
  const std::vector<std::string> prefixes = {"/api", "/api/", "/admin", "/", "/api/x", "/a/b"};
  for (const std::string& t : targets) {
    std::string cut = RequestTargetPath(t);
    EXPECT_LE(cut.size(), t.size());
    for (const std::string& p : prefixes) {
      ASSERT_EQ(agent::ips::ValidatePathPrefix(p), "") << p;
      EXPECT_EQ(agent::ips::PathPrefixMatches(cut, p), agent::ips::PathPrefixMatches(t, p))
          << "target " << t << " cut " << cut << " prefix " << p;
    }
  }
  EXPECT_EQ(RequestTargetPath("/search?q=1"), "/search");
  EXPECT_EQ(RequestTargetPath("http://h?x/api/y"), "http://h?x/api/y");
}

std::string BackendName(const ::testing::TestParamInfo<Dialect>& info) {
  return std::string(DialectName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Backends, IpsTuning,
                         ::testing::Values(Dialect::kSqlite, Dialect::kPostgres, Dialect::kMysql),
                         BackendName);

}  // namespace
}  // namespace ward::manager

// Sequences of transactions through libmodsecurity 3.0.9 and Ward's engine, compared per
// transaction: persistent collections (IP, GLOBAL, SESSION, USER) carried from one transaction to
// the next — a custom counter rule set and the CRS's DoS protection (912xxx) — give the same
// verdict on the Nth request (docs/ips.md, "persistent collections").
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "agent/modules/ips/seclang/equality.h"
#include "agent/modules/ips/seclang/ward_waf.h"
#include "agent/modules/ips/waf.h"
#include "testing/temp_dir.h"

namespace ward::seclang::equality {
namespace {

using agent::ips::Endpoints;
using agent::ips::IpsConfig;
using agent::ips::Mode;
using agent::ips::WafEngineFor;
using agent::ips::WafEngineKind;
using agent::ips::WafRules;

struct Step {
  std::string client;  // the client's address
  std::string request;
};

// The `[data "..."]` of each log line (what the rules' macros read from the collections).
std::vector<std::string> Data(const Outcome& o) {
  std::vector<std::string> out;
  for (const auto& l : o.lines) {
    size_t a = l.find(" [data \"");
    size_t b = a == std::string::npos ? a : l.find("\"] [severity", a);
    out.push_back(b == std::string::npos ? "" : l.substr(a + 8, b - a - 8));
  }
  return out;
}

struct Loaded {
  std::shared_ptr<const WafRules> modsec, ward;
};

Loaded Load(const IpsConfig& config) {
  Loaded l;
  auto modsec = WafEngineFor(WafEngineKind::kLibModSecurity).Load(config, nullptr);
  EXPECT_TRUE(modsec.has_value()) << modsec.error().ToString();
  auto ward = WafEngineFor(WafEngineKind::kWard).Load(config, nullptr);
  EXPECT_TRUE(ward.has_value()) << ward.error().ToString();
  if (modsec.has_value()) l.modsec = *modsec;
  if (ward.has_value()) l.ward = *ward;
  return l;
}

// Runs the steps through both engines in order; every transaction must be equal (ids, scores,
// intervention and the matched rules' data). Returns Ward's outcomes.
std::vector<Outcome> RunBoth(const Loaded& l, const std::vector<Step>& steps) {
  std::vector<Outcome> ward;
  if (!l.modsec || !l.ward) return ward;
  for (size_t i = 0; i < steps.size(); ++i) {
    auto c = ParseRequest(steps[i].request);
    EXPECT_TRUE(c.has_value()) << i;
    if (!c) continue;
    Endpoints ep{steps[i].client, static_cast<uint16_t>(40000 + i), "192.0.2.1", 80};
    Outcome a = Run(*l.modsec, *c, ep);
    Outcome b = equality::Run(*l.ward, *c, ep);
    EXPECT_EQ(Compare(a, b), "") << "transaction " << i + 1;
    EXPECT_EQ(Data(a), Data(b)) << "transaction " << i + 1;
    ward.push_back(std::move(b));
  }
  return ward;
}

bool Has(const Outcome& o, int64_t id) {
  return std::find(o.ids.begin(), o.ids.end(), id) != o.ids.end();
}

constexpr std::string_view kCounterRules = R"(SecRuleEngine On
SecAction "id:100,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR},initcol:global=all"
SecAction "id:101,phase:1,pass,nolog,setvar:ip.hits=+1,setvar:global.total=+1"
SecRule REQUEST_COOKIES:sid "@rx ^[a-z0-9]+$" "id:102,phase:1,pass,nolog,setsid:%{MATCHED_VAR},setvar:session.n=+1"
SecRule REQUEST_HEADERS:X-User "@rx ." "id:103,phase:1,pass,nolog,setuid:%{MATCHED_VAR},setvar:user.seen=+2"
SecRule IP:hits "@ge 2" "id:110,phase:1,pass,log,msg:'again',logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR} total %{global.total}'"
SecRule SESSION:n "@ge 3" "id:111,phase:1,pass,log,logdata:'%{SESSIONID} %{session.n}'"
SecRule USER:seen "@gt 4" "id:112,phase:1,pass,log,logdata:'%{USERID} %{user.seen}'"
SecRule IP:hits "@eq 1" "id:113,phase:1,pass,log,logdata:'first %{ip.hits}'"
SecRule IP "@rx ." "id:114,phase:1,pass,log"
SecRule IP:hits "@ge 5" "id:120,phase:1,deny,status:429,log,setvar:!ip.hits"
SecRule GLOBAL:total "@eq 6" "id:121,phase:1,pass,log"
SecAction "id:130,phase:5,pass,nolog,setvar:ip.done=+1,expirevar:ip.done=3600"
SecRule IP:done "@ge 3" "id:131,phase:1,pass,log,logdata:'%{ip.done}'"
)";

std::string Get(std::string_view extra = "") {
  return fmt::format("GET /page?a=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: t\r\n{}\r\n",
                     extra);
}

TEST(SequenceEquality, CounterRulesOverPersistentCollectionsGiveTheSameVerdictOnTheNthRequest) {
  ward::test::TempDir dir;
  const std::string rules = dir.Sub("counters.conf");
  std::ofstream(rules) << kCounterRules;
  IpsConfig config;
  config.mode = Mode::kPrevent;
  config.crs.enabled = false;
  config.custom_rules = {rules};
  Loaded l = Load(config);
  const std::string a = "192.0.2.10", b = "192.0.2.20";
  std::vector<Step> steps = {
      {a, Get()},
      {a, Get("Cookie: sid=abc\r\n")},
      {b, Get("Cookie: sid=abc\r\nX-User: bob\r\n")},
      {a, Get("Cookie: sid=abc\r\n")},
      {a, Get("X-User: bob\r\n")},
      {b, Get("X-User: bob\r\n")},
      {a, Get()},  // A's 5th: denied (429), its counter deleted
      {a, Get()},  // counting again from 1
      {b, Get("Cookie: sid=xyz\r\n")},
      {b, Get()},
      {b, Get()},
      {a, Get("Cookie: sid=abc\r\nX-User: bob\r\n")},
  };
  std::vector<Outcome> w = RunBoth(l, steps);
  ASSERT_EQ(w.size(), steps.size());
  // What the sequence promises (checked on Ward; libmodsecurity gave the same above).
  EXPECT_TRUE(Has(w[0], 113));  // A's first request
  EXPECT_FALSE(Has(w[0], 110));
  EXPECT_TRUE(Has(w[1], 110));  // A again
  EXPECT_FALSE(Has(w[1], 113));
  EXPECT_TRUE(Has(w[2], 113));  // B is counted apart
  // setvar runs before setsid/setuid (3.0.9's order): a request's first session write goes to
  // the collection key set before it, so session abc reaches 3 on its 4th request.
  EXPECT_FALSE(Has(w[3], 111));
  EXPECT_TRUE(Has(w[4], 111));
  EXPECT_FALSE(Has(w[5], 112));  // user bob: +2 per request, over 4 on the 3rd
  EXPECT_TRUE(Has(w[6], 112));
  EXPECT_FALSE(Has(w[3], 131));  // phase 5 counts A's finished requests
  EXPECT_TRUE(Has(w[4], 131));
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(Has(w[i], 121), i == 5) << i;  // the 6th request overall
    EXPECT_FALSE(Has(w[i], 114)) << i;       // a whole persistent collection selects nothing
    // A's 5th and B's 5th are denied (429); the deny deletes the counter.
    const bool denied = i == 6 || i == 10;
    EXPECT_EQ(w[i].intervention.disruptive, denied) << i;
    if (denied) {
      EXPECT_EQ(w[i].intervention.status, 429);
      EXPECT_EQ(w[i].intervention.rule_id, 120);
    }
  }
  EXPECT_TRUE(Has(w[7], 113));  // A counting again from 1
}

TEST(SequenceEquality, EachEngineThreadKeepsItsOwnCollections) {
  ward::test::TempDir dir;
  const std::string rules = dir.Sub("counters.conf");
  std::ofstream(rules) << kCounterRules;
  IpsConfig config;
  config.mode = Mode::kPrevent;
  config.crs.enabled = false;
  config.custom_rules = {rules};
  Loaded l = Load(config);
  ASSERT_TRUE(l.ward);
  auto c = ParseRequest(Get());
  ASSERT_TRUE(c.has_value());
  Endpoints ep{"192.0.2.10", 40000, "192.0.2.1", 80};
  {
    auto state = WafEngineFor(WafEngineKind::kWard).NewThreadState();
    for (int i = 0; i < 4; ++i)
      EXPECT_FALSE(equality::Run(*l.ward, *c, ep).intervention.disruptive) << i;
    EXPECT_TRUE(equality::Run(*l.ward, *c, ep).intervention.disruptive);  // the 5th on this thread
  }
  // Without the thread's state: the rule set's own collections, where nothing was counted yet.
  Outcome first = equality::Run(*l.ward, *c, ep);
  EXPECT_TRUE(Has(first, 113));
  EXPECT_FALSE(first.intervention.disruptive);
}

TEST(SequenceEquality, CrsDosProtectionBlocksTheSameRequestAsLibmodsecurity) {
  ward::test::TempDir dir;
  const std::string setup = dir.Sub("dos-setup.conf");
  // crs-setup.conf's 900700 example, with a low threshold.
  std::ofstream(setup) << "SecAction \"id:900700,phase:1,nolog,pass,t:none,"
                          "setvar:'tx.dos_burst_time_slice=60',"
                          "setvar:'tx.dos_counter_threshold=3',"
                          "setvar:'tx.dos_block_timeout=600'\"\n";
  IpsConfig config;
  config.mode = Mode::kPrevent;
  config.crs.setup_files = {setup};
  Loaded l = Load(config);
  std::vector<Step> steps;
  const std::string ua = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n";
  for (int i = 0; i < 12; ++i) {
    steps.push_back(
        {"192.0.2.10", fmt::format("GET /app/login?n={} HTTP/1.1\r\nHost: shop.example\r\n"
                                   "{}Accept: text/html\r\n\r\n",
                                   i, ua)});
    // Another client, and static files, are not counted.
    if (i % 3 == 0) {
      steps.push_back({"192.0.2.30", "GET /app/login HTTP/1.1\r\nHost: shop.example\r\n" + ua +
                                         "Accept: text/html\r\n\r\n"});
      steps.push_back({"192.0.2.10", "GET /style.css HTTP/1.1\r\nHost: shop.example\r\n" + ua +
                                         "Accept: text/css\r\n\r\n"});
    }
  }
  std::vector<Outcome> w = RunBoth(l, steps);
  ASSERT_EQ(w.size(), steps.size());
  size_t first_block = steps.size();
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i].intervention.disruptive && first_block == steps.size()) first_block = i;
  }
  ASSERT_LT(first_block, steps.size()) << "the DoS rules never blocked";
  EXPECT_EQ(steps[first_block].client, "192.0.2.10");
  EXPECT_EQ(w[first_block].intervention.rule_id, 912120);
  for (size_t i = 0; i < first_block; ++i) EXPECT_FALSE(w[i].intervention.disruptive) << i;
  // The other client is never blocked.
  for (size_t i = 0; i < w.size(); ++i) {
    if (steps[i].client == "192.0.2.30") {
      EXPECT_FALSE(w[i].intervention.disruptive) << i;
    }
  }
}

}  // namespace
}  // namespace ward::seclang::equality

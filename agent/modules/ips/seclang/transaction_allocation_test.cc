// seclang_transaction_allocation_test: heap allocations (malloc, calloc and realloc interposed
// for the whole binary, so C libraries count too) of a warm evaluator transaction — Debian's CRS
// at PL1 in prevent mode, a whole transaction (connection, URI, headers, phase 1, body, phase 2,
// response, phases 3-4, logging). The promise (docs/ips.md, "the fast path"): a plain GET and a
// 10-parameter GET that match no rule allocate nothing once the thread is warm; the
// per-transaction arena and the thread's scratch hold everything.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/modules/ips/seclang/body/counting_malloc.h"
#include "agent/modules/ips/seclang/evaluator.h"
#include "agent/modules/ips/seclang/parser.h"
#include "agent/modules/ips/waf_config.h"

namespace ward::seclang {
namespace {

using body::AllocationCount;

std::shared_ptr<const CompiledRules> LoadCrs(EvalOptions options) {
  agent::ips::IpsConfig config;
  config.mode = agent::ips::Mode::kPrevent;
  auto text = agent::ips::GenerateWafConfig(config);
  EXPECT_TRUE(text.has_value());
  if (!text.has_value()) return nullptr;
  RuleParser parser;
  const std::filesystem::path cwd = std::filesystem::current_path();
  EXPECT_TRUE(parser.LoadText(text->before, "settings", cwd).ok());
  for (const auto& f : text->files) {
    auto body = agent::ips::ReadRuleFile(f);
    EXPECT_TRUE(body.has_value()) << f;
    if (!body.has_value()) return nullptr;
    Status st = parser.LoadText(*body, f, std::filesystem::path(f).parent_path());
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  if (!text->after.empty()) {
    EXPECT_TRUE(parser.LoadText(text->after, "overrides", cwd).ok());
  }
  auto set = parser.Finish();
  EXPECT_TRUE(set.has_value());
  if (!set.has_value()) return nullptr;
  auto rules = Compile(std::move(*set), options);
  EXPECT_TRUE(rules.has_value());
  return rules.has_value() ? *rules : nullptr;
}

struct Request {
  std::string uri;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Outcome {
  size_t matches = 0;
  bool disruptive = false;
  bool scored = false;  // TX:anomaly_score set: the CRS ran (901 initialises it)
};

// One whole transaction (no assertion inside: gtest's own allocations would be counted).
Outcome RunOnce(const std::shared_ptr<const CompiledRules>& rules, const Request& r,
                const std::string& id) {
  Transaction tx(rules, id);
  tx.ProcessConnection("192.0.2.10", 40000, "192.0.2.1", 80);
  tx.ProcessUri(r.uri, "GET", "1.1");
  for (const auto& [k, v] : r.headers) tx.AddRequestHeader(k, v);
  tx.ProcessRequestHeaders();
  tx.ProcessRequestBody();
  tx.AddResponseHeader("Content-Type", "text/html");
  tx.AddResponseHeader("Content-Length", "24");
  tx.ProcessResponseHeaders(200, "HTTP/1.1");
  tx.AppendResponseBody("<html><p>ok</p></html>\n\n");
  tx.ProcessResponseBody();
  tx.ProcessLogging();
  Outcome o;
  o.matches = tx.matches().size();
  o.disruptive = tx.intervention().disruptive;
  o.scored = tx.Tx("anomaly_score").has_value();
  return o;
}

void ExpectNoAllocationsWhenWarm(EvalOptions options) {
  auto rules = LoadCrs(options);
  ASSERT_NE(rules, nullptr);
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Host", "localhost"},
      {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"},
      {"Accept", "text/html,application/xhtml+xml"},
      {"Accept-Language", "en-US,en;q=0.5"},
  };
  std::string ten = "/search?";
  for (int i = 0; i < 10; ++i) {
    ten += (i ? "&" : "") + std::string("p") + std::to_string(i) + "=value" + std::to_string(i);
  }
  const Request requests[] = {{"/index.html", headers}, {ten, headers}};
  const std::string id = "w-000000001";  // short: its copy into the by-value parameter is SSO
  for (const Request& r : requests) {
    for (int i = 0; i < 3; ++i) RunOnce(rules, r, id);  // warm: arena blocks, scratch buffers
    const size_t before = AllocationCount();
    size_t matches = 0;
    size_t disruptive = 0;
    size_t scored = 0;
    for (int i = 0; i < 10; ++i) {
      const Outcome o = RunOnce(rules, r, id);
      matches += o.matches;
      disruptive += o.disruptive ? 1 : 0;
      scored += o.scored ? 1 : 0;
    }
    const size_t allocations = AllocationCount() - before;
    EXPECT_EQ(matches, 0u) << r.uri;
    EXPECT_EQ(disruptive, 0u) << r.uri;
    EXPECT_EQ(scored, 10u) << r.uri;
    EXPECT_EQ(allocations, 0u) << r.uri << ": " << allocations / 10.0 << " per transaction";
  }
  // The counter does count.
  const size_t before = AllocationCount();
  std::vector<std::string> probe(3, std::string(100, 'x'));
  EXPECT_GE(AllocationCount() - before, 4u);
}

TEST(SeclangTransactionAllocation, WarmCrsGetsAllocateNothing) {
  ExpectNoAllocationsWhenWarm(EvalOptions{});
}

TEST(SeclangTransactionAllocation, AlsoWithTheOptimisationsOff) {
  EvalOptions off;
  off.transformation_cache = false;
  off.skip_empty_variables = false;
  off.lazy_matched_vars = false;
  ExpectNoAllocationsWhenWarm(off);
}

}  // namespace
}  // namespace ward::seclang

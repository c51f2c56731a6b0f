// The egress module in the real `ward-agent run` (docs/egress.md), each test in a network
// namespace of its own (unshare(CLONE_NEWNET) before the agent starts; the agent inherits it):
// after kill -9, fail-open lets DNS answers and new flows through within a second (the rules'
// --queue-bypass), fail-closed keeps them from passing; a clean stop removes everything.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "agent/modules/egress/test_servers.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using agent::egress::kDnsRcodeNxDomain;
using agent::egress::test::DnsServer;
using agent::egress::test::HttpServer;
using agent::egress::test::kCdn;
using agent::egress::test::kResolver;
using agent::egress::test::Resolve;
using std::chrono::seconds;

class EgressAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ShOrFail("ip link set lo up");
    ShOrFail(
        fmt::format("ip addr add 10.9.0.2/24 dev lo && ip addr add {}/24 dev lo && "
                    "ip addr add {}/24 dev lo",
                    kResolver, kCdn));
    std::filesystem::create_directories(tmp_.Sub("www"));
  }
  std::unique_ptr<AgentProcess> StartAgent(const std::string& egress) {
    std::ofstream(tmp_.Sub("policy.yaml"))
        << "agent: {outputs: {file: false}}\nintegrity:\n  paths: [{path: \"" << tmp_.Sub("www")
        << "\"}]\n  schedule: 0\n  realtime: false\n"
        << egress;
    return AgentProcess::Start(
        {"run", "--config", tmp_.Sub("policy.yaml"), "--state-dir", tmp_.Sub("state")});
  }
  static int HttpStatus() {
    auto r = RunShell(fmt::format(
        "curl -s -o /dev/null --max-time 2 --resolve files.example:80:{} -w '%{{http_code}}' "
        "http://files.example/x",
        kCdn));
    return std::atoi(r.output.c_str());
  }
  static bool HasEgressRules() {
    return RunShell("iptables-save -t filter").output.find("WARD_EGRESS") != std::string::npos;
  }

  TempDir tmp_;
};

constexpr const char* kPolicy =
    "egress:\n  mode: prevent\n  queue: 71\n  fail: {}\n"
    "  block: [blocked.example, files.example]\n";

TEST_F(EgressAgent, KilledWithFailOpenTrafficFlowsWithinASecond) {
  DnsServer dns({{"blocked.example", kCdn}, {"files.example", kCdn}});
  HttpServer http;
  auto agent = StartAgent(fmt::format(kPolicy, "open"));
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->WaitForEvent(Action("rules_applied"), seconds(20))) << agent->Stderr();
  EXPECT_EQ(Resolve("blocked.example").rcode, kDnsRcodeNxDomain);
  EXPECT_EQ(HttpStatus(), 403);
  agent->Kill();
  // The first DNS answer after the kill passes untouched: the queue has no reader and the rule's
  // --queue-bypass lets it through (timed from the kill to the answer; the tools below are not).
  auto killed = std::chrono::steady_clock::now();
  auto lookup = Resolve("blocked.example");  // waits at most a second for the answer
  auto answered = std::chrono::steady_clock::now() - killed;
  EXPECT_EQ(lookup.rcode, 0);
  EXPECT_EQ(lookup.addresses, std::vector<std::string>{kCdn});
  EXPECT_LT(answered, seconds(1));
  EXPECT_TRUE(HasEgressRules()) << "the rules stay: fail-open is the kernel's --queue-bypass";
  EXPECT_EQ(HttpStatus(), 200);
}

TEST_F(EgressAgent, KilledWithFailClosedNothingPassesUntilTheNextAgent) {
  DnsServer dns({{"blocked.example", kCdn}, {"files.example", kCdn}});
  HttpServer http;
  auto agent = StartAgent(fmt::format(kPolicy, "closed"));
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->WaitForEvent(Action("rules_applied"), seconds(20))) << agent->Stderr();
  agent->Kill();
  EXPECT_EQ(Resolve("files.example").rcode, -1) << "DNS answers are dropped with no agent";
  EXPECT_EQ(HttpStatus(), 0) << "new HTTP flows get no further than the handshake";
  // A new agent (a policy without egress) removes the dead one's rules.
  std::ofstream(tmp_.Sub("policy.yaml"))
      << "agent: {outputs: {file: false}}\nintegrity:\n  paths: [{path: \"" << tmp_.Sub("www")
      << "\"}]\n  schedule: 0\n  realtime: false\n";
  auto next = AgentProcess::Start(
      {"run", "--config", tmp_.Sub("policy.yaml"), "--state-dir", tmp_.Sub("state")});
  ASSERT_TRUE(next);
  ASSERT_TRUE(next->WaitForEvent(Action("started"), seconds(20))) << next->Stderr();
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (HasEgressRules() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling, with a deadline
  }
  EXPECT_FALSE(HasEgressRules());
  EXPECT_EQ(HttpStatus(), 200);
  ASSERT_TRUE(next->Signal(SIGTERM));
  EXPECT_EQ(next->WaitForExit(seconds(20)), 0) << next->Stderr();
}

TEST_F(EgressAgent, ACleanStopRemovesRulesAndTable) {
  auto agent = StartAgent(
      "egress:\n  mode: prevent\n  queue: 72\n  block: [blocked.example, 203.0.113.0/24]\n");
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->WaitForEvent(Action("rules_applied"), seconds(20))) << agent->Stderr();
  EXPECT_TRUE(HasEgressRules());
  EXPECT_NE(RunShell("nft list tables").output.find("ward_egress"), std::string::npos);
  ASSERT_TRUE(agent->Signal(SIGTERM));
  EXPECT_EQ(agent->WaitForExit(seconds(20)), 0) << agent->Stderr();
  EXPECT_FALSE(HasEgressRules());
  EXPECT_EQ(RunShell("nft list tables").output.find("ward_egress"), std::string::npos);
}

}  // namespace
}  // namespace ward::test

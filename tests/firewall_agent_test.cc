// The firewall module in the real `ward-agent run` (docs/firewall.md), each test in a network
// namespace of its own (unshare(CLONE_NEWNET) before the agent starts; the agent inherits it):
// the rules are installed at start, replaced on SIGHUP, removed on SIGTERM; after kill -9 they
// stay in force, and a restart whose policy enables no firewall removes them.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "testing/shell.h"
#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using std::chrono::seconds;

class FirewallAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ShOrFail("ip link set lo up");
    std::filesystem::create_directories(tmp_.Sub("www"));
  }
  void WritePolicy(const std::string& firewall) {
    std::ofstream(tmp_.Sub("policy.yaml"))
        << "agent: {outputs: {file: false}}\nintegrity:\n  paths: [{path: \"" << tmp_.Sub("www")
        << "\"}]\n  schedule: 0\n  realtime: false\n"
        << firewall;
  }
  std::unique_ptr<AgentProcess> StartAgent() {
    return AgentProcess::Start(
        {"run", "--config", tmp_.Sub("policy.yaml"), "--state-dir", tmp_.Sub("state")});
  }
  static std::string Table() {
    auto r = RunShell("nft list table inet ward");
    return r.exit_code == 0 ? r.output : "";
  }
  static bool HasWardTable() {
    return RunShell("nft list tables").output.find("inet ward") != std::string::npos;
  }

  TempDir tmp_;
};

TEST_F(FirewallAgent, InstalledAtStartReplacedOnSighupRemovedOnSigterm) {
  WritePolicy(
      "firewall:\n  rules: [{id: first-rule, direction: inbound, protocol: tcp, local_ports: "
      "2323, action: deny}]\n");
  auto agent = StartAgent();
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->WaitForEvent(Action("rules_applied"), seconds(20)))
      << agent->Transcript() << agent->Stderr();
  EXPECT_NE(Table().find("first-rule"), std::string::npos) << Table();
  WritePolicy(
      "firewall:\n  rules: [{id: second-rule, direction: inbound, protocol: tcp, local_ports: "
      "2323, action: deny}]\n");
  ASSERT_TRUE(agent->Signal(SIGHUP));
  ASSERT_TRUE(agent->WaitForCount(Action("rules_applied"), 2, seconds(20))) << agent->Stderr();
  std::string table = Table();
  EXPECT_NE(table.find("second-rule"), std::string::npos) << table;
  EXPECT_EQ(table.find("first-rule"), std::string::npos) << table;
  ASSERT_TRUE(agent->Signal(SIGTERM));
  EXPECT_EQ(agent->WaitForExit(seconds(20)), 0) << agent->Stderr();
  EXPECT_FALSE(HasWardTable()) << RunShell("nft list ruleset").output;
}

TEST_F(FirewallAgent, AKilledAgentsRulesStayAndARestartWithoutFirewallRemovesThem) {
  WritePolicy(
      "firewall:\n  rules: [{id: left-behind, direction: inbound, protocol: tcp, local_ports: "
      "2323, action: deny}]\n");
  auto agent = StartAgent();
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->WaitForEvent(Action("rules_applied"), seconds(20))) << agent->Stderr();
  agent->Kill();
  // What its policy asked for stays in force while no agent runs.
  EXPECT_NE(Table().find("left-behind"), std::string::npos) << Table();
  WritePolicy("");  // integrity only
  auto next = StartAgent();
  ASSERT_TRUE(next);
  ASSERT_TRUE(next->WaitForEvent(Action("started"), seconds(20))) << next->Stderr();
  // The cleanup runs in the "start modules" step, beside the modules' own start: wait for it.
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (HasWardTable() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling, with a deadline
  }
  EXPECT_FALSE(HasWardTable()) << Table();
  EXPECT_NE(next->Stderr().find("removed the nftables table"), std::string::npos) << next->Stderr();
  ASSERT_TRUE(next->Signal(SIGTERM));
  EXPECT_EQ(next->WaitForExit(seconds(20)), 0) << next->Stderr();
}

}  // namespace
}  // namespace ward::test

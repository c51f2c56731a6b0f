// `ward-agent run` re-reads its policy on SIGHUP and applies it without a restart; a policy that
// cannot be applied leaves the one in force running and says why.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

class PolicyReload : public ::testing::Test {
 protected:
  PolicyReload() {
    fs::create_directories(tmp_.Sub("a"));
    fs::create_directories(tmp_.Sub("b"));
  }
  ~PolicyReload() override {
    if (agent_) {
      agent_->Signal(SIGTERM);
      if (!agent_->WaitForExit(seconds(10))) agent_->Kill();
    }
  }

  void WritePolicy(const std::vector<std::string>& roots, std::string extra = "") {
    std::string yaml = "agent: {outputs: {file: false}}\nintegrity:\n  paths:\n";
    for (const auto& r : roots) yaml += fmt::format("    - {{path: \"{}\"}}\n", tmp_.Sub(r));
    yaml += "  schedule: 0\n  realtime: true\n  realtime_backend: inotify\n  settle: 20ms\n";
    yaml += extra;
    WriteFile(config_, yaml);
  }

  // Writes files into `root` until one is reported (watches may lag the started event).
  bool Reported(const std::string& root, const std::string& name) {
    for (int i = 0; i < 20; ++i) {
      std::string path = tmp_.Sub(root) + "/" + name + std::to_string(i);
      WriteFile(path, "x");
      if (agent_->WaitForEvent(ActionOn("created", path), std::chrono::milliseconds(500))) {
        return true;
      }
    }
    return false;
  }

  TempDir tmp_;
  std::string config_ = tmp_.Sub("policy.yaml");
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(PolicyReload, SighupAppliesANewPolicyWithoutRestart) {
  WritePolicy({"a"});
  agent_ = AgentProcess::Start({"run", "--config", config_, "--state-dir", tmp_.Sub("state")});
  ASSERT_TRUE(agent_);
  ASSERT_TRUE(agent_->WaitForEvent(Action("started"), seconds(20))) << agent_->Transcript();
  ASSERT_TRUE(Reported("a", "before")) << agent_->Transcript();
  pid_t pid = agent_->pid();

  WritePolicy({"a", "b"});
  ASSERT_TRUE(agent_->Signal(SIGHUP));
  auto applied = agent_->WaitForEvent(Action("policy_applied"), seconds(20));
  ASSERT_TRUE(applied) << agent_->Transcript();
  EXPECT_EQ(StrField(applied->doc, "event.module"), "ward");
  EXPECT_EQ(StrField(applied->doc, "file.path"), config_);
  // The new root is watched by the same process.
  EXPECT_TRUE(Reported("b", "after")) << agent_->Transcript();
  EXPECT_EQ(agent_->pid(), pid);
}

TEST_F(PolicyReload, BrokenPolicyIsRejectedAndTheOldOneKeepsRunning) {
  WritePolicy({"a"});
  agent_ = AgentProcess::Start({"run", "--config", config_, "--state-dir", tmp_.Sub("state")});
  ASSERT_TRUE(agent_);
  ASSERT_TRUE(agent_->WaitForEvent(Action("started"), seconds(20))) << agent_->Transcript();
  ASSERT_TRUE(Reported("a", "before")) << agent_->Transcript();

  WriteFile(config_, "integrity:\n  paths: [{path: /tmp}]\n  settle: soon\n");
  ASSERT_TRUE(agent_->Signal(SIGHUP));
  auto rejected = agent_->WaitForEvent(Action("policy_rejected"), seconds(20));
  ASSERT_TRUE(rejected) << agent_->Transcript();
  EXPECT_NE(StrField(rejected->doc, "error.message").find("settle"), std::string::npos)
      << rejected->doc.dump();
  // Still watching the old root, with the old policy.
  EXPECT_TRUE(Reported("a", "still")) << agent_->Transcript();
  EXPECT_FALSE(agent_->WaitForExit(std::chrono::milliseconds(100)));
}

}  // namespace
}  // namespace ward::test

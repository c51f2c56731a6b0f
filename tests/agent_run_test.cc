// `ward-agent run` starts itself again once with glibc's per-thread allocation cache enlarged
// (agent/main.cc, ReexecWithAllocatorTuning): the same process id, the tunable in its environment,
// an operator's own GLIBC_TUNABLES kept, and WARD_ALLOCATOR_TUNING=off honoured.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using std::chrono::seconds;

// The process's initial environment block, as /proc/PID/environ shows it.
std::string RawEnviron(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The value of NAME in /proc/PID/environ, nullopt when absent.
std::optional<std::string> EnvironOf(pid_t pid, const std::string& name) {
  std::string all = RawEnviron(pid);
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find('\0', pos);
    if (end == std::string::npos) end = all.size();
    std::string entry = all.substr(pos, end - pos);
    if (entry.rfind(name + "=", 0) == 0) return entry.substr(name.size() + 1);
    pos = end + 1;
  }
  return std::nullopt;
}

constexpr std::string_view kTcache = "glibc.malloc.tcache_count=1000";

class AgentRun : public ::testing::Test {
 protected:
  AgentRun() {
    std::filesystem::create_directories(tmp_.Sub("www"));
    std::ofstream(config_) << "agent: {outputs: {file: false}}\nintegrity:\n  paths: [{path: \""
                           << tmp_.Sub("www")
                           << "\"}]\n  schedule: 0\n  realtime: true\n"
                              "  realtime_backend: inotify\n";
  }
  ~AgentRun() override {
    unsetenv("WARD_ALLOCATOR_TUNING");
    unsetenv("GLIBC_TUNABLES");
    if (agent_) {
      agent_->Signal(SIGTERM);
      if (!agent_->WaitForExit(seconds(10))) agent_->Kill();
    }
  }
  // Starts `run` and waits until its modules have started (after the re-exec).
  void Start() {
    agent_ = AgentProcess::Start({"run", "--config", config_, "--state-dir", tmp_.Sub("state")});
    ASSERT_TRUE(agent_);
    ASSERT_TRUE(agent_->WaitForEvent(Action("started"), seconds(20))) << agent_->Transcript();
  }

  TempDir tmp_;
  std::string config_ = tmp_.Sub("policy.yaml");
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(AgentRun, RunsWithTheLargerAllocatorCacheInTheSameProcess) {
  unsetenv("GLIBC_TUNABLES");
  unsetenv("WARD_ALLOCATOR_TUNING");
  Start();
  // AgentProcess knows the pid it forked: the re-exec kept it.
  EXPECT_EQ(EnvironOf(agent_->pid(), "GLIBC_TUNABLES"), "glibc.malloc.tcache_count=1000");
  EXPECT_EQ(EnvironOf(agent_->pid(), "WARD_ALLOCATOR_TUNING"), "applied");
}

TEST_F(AgentRun, KeepsTheOperatorsTunables) {
  setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2", 1);
  Start();
  // glibc splits the variable at ':' in place while it parses it, so /proc shows a NUL there.
  std::string raw = RawEnviron(agent_->pid());
  std::string head = "GLIBC_TUNABLES=glibc.malloc.arena_max=2";
  size_t at = raw.find(head);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(raw.substr(at + head.size() + 1, kTcache.size()), kTcache);
  EXPECT_EQ(EnvironOf(agent_->pid(), "WARD_ALLOCATOR_TUNING"), "applied");
}

TEST_F(AgentRun, AnOperatorsOwnCacheSettingWins) {
  setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=16", 1);
  Start();
  EXPECT_EQ(EnvironOf(agent_->pid(), "GLIBC_TUNABLES"), "glibc.malloc.tcache_count=16");
  EXPECT_EQ(EnvironOf(agent_->pid(), "WARD_ALLOCATOR_TUNING"), std::nullopt);
}

TEST_F(AgentRun, TuningOffKeepsTheProcessAsStarted) {
  setenv("WARD_ALLOCATOR_TUNING", "off", 1);
  Start();
  EXPECT_EQ(EnvironOf(agent_->pid(), "GLIBC_TUNABLES"), std::nullopt);
  EXPECT_EQ(EnvironOf(agent_->pid(), "WARD_ALLOCATOR_TUNING"), "off");
}

}  // namespace
}  // namespace ward::test

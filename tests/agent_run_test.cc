// `ward-agent run` allocates with jemalloc, not glibc malloc (agent/CMakeLists.txt; docs/
// development.md, "Allocator"): the library is mapped into the running daemon and its malloc is
// the one the loaded libraries resolve to.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using std::chrono::seconds;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(AgentRun, AllocatesWithJemalloc) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.Sub("www"));
  std::string config = tmp.Sub("policy.yaml");
  std::ofstream(config) << "agent: {outputs: {file: false}}\nintegrity:\n  paths: [{path: \""
                        << tmp.Sub("www")
                        << "\"}]\n  schedule: 0\n  realtime: true\n"
                           "  realtime_backend: inotify\n";
  auto agent = AgentProcess::Start({"run", "--config", config, "--state-dir", tmp.Sub("state")});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->WaitForEvent(Action("started"), seconds(20))) << agent->Transcript();
  std::string maps = ReadAll("/proc/" + std::to_string(agent->pid()) + "/maps");
  EXPECT_NE(maps.find("/libjemalloc.so"), std::string::npos) << maps;
  // Its symbols come before libc's in the lookup order: the DT_NEEDED list of the binary.
  std::string ldd;
  {
    FILE* p = ::popen(("ldd " + AgentBinaryPath()).c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) ldd.append(buf, n);
    ::pclose(p);
  }
  size_t je = ldd.find("libjemalloc.so");
  size_t libc = ldd.find("libc.so.6");
  ASSERT_NE(je, std::string::npos) << ldd;
  ASSERT_NE(libc, std::string::npos) << ldd;
  EXPECT_LT(je, libc) << ldd;
  agent->Signal(SIGTERM);
  EXPECT_TRUE(agent->WaitForExit(seconds(10)));
}

}  // namespace
}  // namespace ward::test

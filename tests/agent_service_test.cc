// ward-agent under a service manager (docs/packaging.md, "Readiness and the watchdog"): the real
// binary with $NOTIFY_SOCKET and $WATCHDOG_USEC, as systemd starts a Type=notify unit with
// WatchdogSec=, and a real notification socket in place of systemd's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "testing/temp_dir.h"
#include "tests/agent_process.h"

namespace ward::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// systemd's end of sd_notify: a datagram socket; $NOTIFY_SOCKET and $WATCHDOG_USEC (200 ms
// pings) are set while it exists, for the agents the test starts.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string p = path.string();
    std::copy(p.begin(), p.end(), addr.sun_path);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::setenv("NOTIFY_SOCKET", p.c_str(), 1);
    ::setenv("WATCHDOG_USEC", "400000", 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::close(fd_);
  }
  // The next datagram within `timeout`, or "".
  std::string Receive(std::chrono::milliseconds timeout) {
    timeval tv{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
               .tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  // Waits for a datagram starting with `prefix`, skipping others; false at the deadline.
  bool WaitFor(std::string_view prefix, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      std::string m = Receive(std::max(left, 1ms));
      if (m.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  // Datagrams starting with `prefix` received during `period`.
  int Count(std::string_view prefix, std::chrono::milliseconds period) {
    int n = 0;
    auto deadline = Clock::now() + period;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      std::string m = Receive(std::max(left, 1ms));
      if (m.rfind(prefix, 0) == 0) ++n;
    }
    return n;
  }

 private:
  int fd_ = -1;
};

std::string WritePolicy(const TempDir& tmp) {
  std::filesystem::create_directories(tmp.Sub("www"));
  std::string config = tmp.Sub("policy.yaml");
  std::ofstream(config) << "agent: {outputs: {file: false}}\nintegrity:\n  paths: [{path: \""
                        << tmp.Sub("www") << "\"}]\n  schedule: 0\n  realtime: false\n";
  return config;
}

TEST(AgentService, TellsTheServiceManagerItIsReadyPingsTheWatchdogAndStops) {
  TempDir tmp;
  NotifySocket sock(tmp.path() / "notify");
  std::string config = WritePolicy(tmp);
  auto agent = AgentProcess::Start({"run", "--config", config, "--state-dir", tmp.Sub("state")});
  ASSERT_TRUE(agent);
  ASSERT_TRUE(sock.WaitFor("READY=1\nSTATUS=1 module(s) running", 30s)) << agent->Stderr();
  // WatchdogSec=0.4s: a ping every 200 ms from the main loop.
  EXPECT_GE(sock.Count("WATCHDOG=1", 2s), 5);
  agent->Signal(SIGTERM);
  EXPECT_TRUE(sock.WaitFor("STOPPING=1", 10s));
  EXPECT_EQ(agent->WaitForExit(10s), 0);
}

// A hung agent is restarted by systemd because it stops pinging: here the event queue's dispatch
// thread blocks writing events to a stdout nobody reads (a full pipe), as it would on a hung
// output. Once the pipe is read again, the pings resume.
TEST(AgentService, StopsPingingWhileTheEventDispatchIsStuck) {
  TempDir tmp;
  NotifySocket sock(tmp.path() / "notify");
  std::string config = WritePolicy(tmp);
  std::string stderr_path = tmp.Sub("stderr.log");
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  std::string bin = AgentBinaryPath();
  std::string state = tmp.Sub("state");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(out[1], 1);
    int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(err, 2);
    // Synthetic events as fast as the queue takes them (agent/transport/debug_emit.h).
    ::execl(bin.c_str(), bin.c_str(), "run", "--config", config.c_str(), "--state-dir",
            state.c_str(), "--debug-emit", "200000", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::atomic<bool> stop_draining{false};
  std::thread drainer;
  auto cleanup = [&] {
    ::kill(pid, SIGKILL);
    stop_draining = true;
    if (drainer.joinable()) drainer.join();
    ::waitpid(pid, nullptr, 0);
    ::close(out[0]);
  };
  auto stderr_text = [&] {
    std::ifstream in(stderr_path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };

  if (!sock.WaitFor("READY=1", 30s)) {
    cleanup();
    FAIL() << "no READY=1: " << stderr_text();
  }
  // The pipe fills within milliseconds; two ticks later (400 ms) the stall is seen.
  (void)sock.Count("WATCHDOG=1", 1500ms);
  EXPECT_EQ(sock.Count("WATCHDOG=1", 2s), 0) << "pings went on while the dispatch was stuck";
  EXPECT_NE(stderr_text().find("watchdog: event queue dispatch is not healthy"), std::string::npos)
      << stderr_text();

  drainer = std::thread([&] {
    char buf[65536];
    while (!stop_draining) {
      pollfd p{.fd = out[0], .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 100) > 0 && ::read(out[0], buf, sizeof buf) == 0) break;  // EOF
    }
  });
  EXPECT_TRUE(sock.WaitFor("WATCHDOG=1", 5s)) << "no ping once the dispatch moved again";
  EXPECT_NE(stderr_text().find("watchdog: event queue dispatch is healthy again"),
            std::string::npos)
      << stderr_text();
  ::kill(pid, SIGTERM);
  EXPECT_TRUE(sock.WaitFor("STOPPING=1", 10s));
  int status = 0;
  // It delivers what is queued before it exits: the drainer keeps reading meanwhile.
  auto deadline = Clock::now() + 30s;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(done, pid) << "the agent did not exit after SIGTERM";
  if (done == pid) {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  cleanup();
}

}  // namespace
}  // namespace ward::test

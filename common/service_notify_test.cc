#include "common/service_notify.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "testing/temp_dir.h"

namespace ward {
namespace {

// A real notification socket, as systemd binds for a Type=notify service: $NOTIFY_SOCKET points
// at it for the test's duration.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string p = path.string();
    std::copy(p.begin(), p.end(), addr.sun_path);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setenv("NOTIFY_SOCKET", p.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  // The next datagram; "" after 5 s without one.
  std::string Receive() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  // A datagram already waiting, or "".
  std::string Poll() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_ = -1;
};

TEST(ServiceNotify, ReadyStatusStoppingAndPingsReachTheNotifySocket) {
  test::TempDir dir;
  NotifySocket sock(dir.path() / "notify");
  NotifyReady("3 modules running");
  EXPECT_EQ(sock.Receive(), "READY=1\nSTATUS=3 modules running");
  NotifyStatus("spool: 2\nevents");
  EXPECT_EQ(sock.Receive(), "STATUS=spool: 2 events");
  NotifyWatchdog();
  EXPECT_EQ(sock.Receive(), "WATCHDOG=1");
  NotifyWatchdogTrigger();
  EXPECT_EQ(sock.Receive(), "WATCHDOG=trigger");
  NotifyStopping();
  EXPECT_EQ(sock.Receive(), "STOPPING=1");
  // The environment is kept for the daemon's later calls.
  EXPECT_NE(::getenv("NOTIFY_SOCKET"), nullptr);
}

TEST(ServiceNotify, PingIntervalIsHalfOfWatchdogSec) {
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_FALSE(WatchdogPingInterval().has_value());
  ::setenv("WATCHDOG_USEC", "60000000", 1);
  ASSERT_TRUE(WatchdogPingInterval().has_value());
  EXPECT_EQ(*WatchdogPingInterval(), std::chrono::milliseconds(30000));
  // Meant for another process (a child that inherited the environment): no watchdog here.
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(WatchdogPingInterval().has_value());
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_TRUE(WatchdogPingInterval().has_value());
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
}

TEST(WatchdogGate, PingsOnlyWhileEveryProbeIsHealthy) {
  bool queue_ok = true, db_ok = true;
  int pings = 0;
  WatchdogGate gate(
      {{"event queue", [&] { return queue_ok; }}, {"database", [&] { return db_ok; }}},
      [&] { ++pings; });
  EXPECT_TRUE(gate.Tick());
  EXPECT_EQ(pings, 1);
  db_ok = false;
  EXPECT_FALSE(gate.Tick());
  EXPECT_FALSE(gate.Tick());
  EXPECT_EQ(pings, 1);
  EXPECT_EQ(gate.failing(), std::vector<std::string>{"database"});
  queue_ok = false;
  EXPECT_FALSE(gate.Tick());
  EXPECT_EQ(gate.failing(), (std::vector<std::string>{"event queue", "database"}));
  queue_ok = db_ok = true;
  EXPECT_TRUE(gate.Tick());
  EXPECT_EQ(pings, 2);
  EXPECT_TRUE(gate.failing().empty());
}

TEST(WatchdogGate, DefaultPingGoesToTheNotifySocket) {
  test::TempDir dir;
  NotifySocket sock(dir.path() / "notify");
  bool ok = false;
  WatchdogGate gate({{"worker", [&] { return ok; }}});
  EXPECT_FALSE(gate.Tick());
  EXPECT_EQ(sock.Poll(), "");
  ok = true;
  EXPECT_TRUE(gate.Tick());
  EXPECT_EQ(sock.Receive(), "WATCHDOG=1");
}

TEST(StallDetector, AStuckWorkerIsUnhealthyABusyOrIdleOneIsNot) {
  StallDetector d;
  EXPECT_TRUE(d.Healthy(5, 100));   // first look: nothing to compare with
  EXPECT_TRUE(d.Healthy(7, 180));   // busy: work done moved
  EXPECT_FALSE(d.Healthy(9, 180));  // work waiting twice, nothing done: stuck
  EXPECT_FALSE(d.Healthy(9, 180));
  EXPECT_TRUE(d.Healthy(0, 189));  // caught up
  EXPECT_TRUE(d.Healthy(0, 189));  // idle: nothing waiting
  EXPECT_TRUE(d.Healthy(3, 189));  // work arrived since the last look
  EXPECT_FALSE(d.Healthy(4, 189));
}

}  // namespace
}  // namespace ward

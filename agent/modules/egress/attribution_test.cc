// Process attribution against the real kernel: the eBPF cgroup/connect4/6 program attached to the
// cgroup2 root, sock_diag for the socket cookie, a test cgroup (named like a systemd scope) that
// the client processes run in. Each test runs in a network namespace of its own
// (unshare(CLONE_NEWNET): gtest_discover_tests runs one test per process); the test cgroup is
// removed and the program detached when a test ends, also when it fails.
#include "agent/modules/egress/attribution.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "agent/net/socket_owner.h"
#include "testing/shell.h"

namespace ward::agent::egress {
namespace {

using ward::test::RunShell;
using ward::test::ShOrFail;

// Whether `bpftool <kind> show id <id>` stops finding it within 10 s. A program's id goes when its
// last reference does (at once, when the agent closes its descriptors); a map's when the kernel
// has freed the programs that used it — after an RCU grace period, in a work item — so the test
// waits for that, with a deadline.
bool BpfObjectGone(std::string_view kind, uint32_t id) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (RunShell(fmt::format("bpftool {} show id {} >/dev/null 2>&1", kind, id)).exit_code == 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST(EgressAttribution, UnitIsTheInnermostServiceOrScopeOfTheCgroupPath) {
  EXPECT_EQ(UnitOfCgroupPath("/system.slice/nginx.service"), "nginx.service");
  EXPECT_EQ(UnitOfCgroupPath("/user.slice/user-1000.slice/user@1000.service/app.slice/"
                             "run-r1.scope"),
            "run-r1.scope");
  EXPECT_EQ(UnitOfCgroupPath("/system.slice/nginx.service/worker"), "nginx.service");
  EXPECT_EQ(UnitOfCgroupPath("/"), "");
  EXPECT_EQ(UnitOfCgroupPath(""), "");
  EXPECT_EQ(UnitOfCgroupPath("/machine.slice"), "");
  EXPECT_EQ(AttributionName(Attribution::kEbpf), "ebpf");
  EXPECT_EQ(AttributionName(Attribution::kSocket), "socket");
  EXPECT_EQ(AttributionName(Attribution::kNone), "none");
}

net::IpAddress Loopback() { return *net::ParseIp("127.0.0.1"); }

class AttributionNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ShOrFail("ip link set lo up");
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener_, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  // Listens on [::1] instead.
  void ListenV6() {
    ::close(listener_);
    listener_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener_, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin6_port);
    v6_ = true;
  }
  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    if (conn_ >= 0) ::close(conn_);
    ::close(listener_);
    tracker_ids_.clear();
    attributor_.reset();  // detaches the program before its cgroup goes
    if (!cgroup_.empty()) ::rmdir(cgroup_.c_str());
  }

  // eBPF attached (or the test fails: CI's kernel has BTF and cgroup2), a test cgroup created
  // under its cgroup2 root.
  void AttachEbpf() {
#ifndef WARD_HAVE_EBPF
    GTEST_SKIP() << "built without eBPF support (libbpf, clang, bpftool)";
#endif
    auto tracker = ConnectTracker::Attach();
    ASSERT_TRUE(tracker.has_value()) << tracker.error().ToString();
    tracker_ids_ = (*tracker)->ProgramIds();
    map_id_ = (*tracker)->MapId();
    attributor_ = std::make_unique<ProcessAttributor>(std::move(*tracker));
    unit_ = fmt::format("ward-egress-test-{}.scope", ::getpid());
    cgroup_ = fmt::format("{}/{}", attributor_->tracker()->cgroup_root(), unit_);
    ASSERT_TRUE(std::filesystem::create_directory(cgroup_)) << cgroup_;
  }

  // Starts bash in the test cgroup: it connects to the listener and sends a line, then (when
  // `wait_for_reply`) waits for a line back, else exits at once. Returns the accepted flow.
  FlowKey StartClient(bool wait_for_reply) {
    const std::string script =
        fmt::format("exec 3<>/dev/tcp/{}/{}; echo hello >&3{}", v6_ ? "::1" : "127.0.0.1", port_,
                    wait_for_reply ? "; read x <&3" : "");
    const std::string procs = cgroup_.empty() ? "" : cgroup_ + "/cgroup.procs";
    child_ = ::fork();
    if (child_ == 0) {
      if (!procs.empty()) {
        int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
        char pid[32];
        int n = std::snprintf(pid, sizeof pid, "%d", static_cast<int>(::getpid()));
        if (fd < 0 || ::write(fd, pid, static_cast<size_t>(n)) != n) ::_exit(90);
        ::close(fd);
      }
      ::execl("/bin/bash", "bash", "-c", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(91);
    }
    sockaddr_in6 peer{};  // large enough for both families; the port is at the same offset
    socklen_t len = sizeof peer;
    conn_ = ::accept4(listener_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    EXPECT_GE(conn_, 0);
    char line[6] = {};
    EXPECT_EQ(::recv(conn_, line, sizeof line, MSG_WAITALL), 6) << "the client's line";
    const net::IpAddress host = v6_ ? *net::ParseIp("::1") : Loopback();
    return FlowKey{"tcp", host, host, ntohs(peer.sin6_port), port_};
  }
  int WaitChild() {
    int status = 0;
    ::waitpid(child_, &status, 0);
    child_ = 0;
    return status;
  }

  bool v6_ = false;
  int listener_ = -1, conn_ = -1;
  uint16_t port_ = 0;
  pid_t child_ = 0;
  std::string unit_, cgroup_;
  std::vector<uint32_t> tracker_ids_;
  uint32_t map_id_ = 0;
  std::unique_ptr<ProcessAttributor> attributor_;
};

TEST_F(AttributionNetns, SocketCookieIsTheSocketsOwnCookie) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port_);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  uint64_t cookie = 0;
  len = sizeof cookie;
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len), 0);
  auto found = SocketCookie(FlowKey{"tcp", Loopback(), Loopback(), ntohs(local.sin_port), port_});
  ASSERT_TRUE(found.has_value()) << found.error().ToString();
  EXPECT_EQ(*found, cookie);
  auto none = SocketCookie(FlowKey{"tcp", Loopback(), Loopback(), 1, port_});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), StatusCode::kNotFound);
  ::close(fd);
}

TEST_F(AttributionNetns, AProcessInATestCgroupIsAttributedByEbpfWithPidExeAndUnit) {
  AttachEbpf();
  if (IsSkipped() || HasFatalFailure()) return;
  FlowKey flow = StartClient(true);
  ProcessInfo p = attributor_->Attribute(flow);
  EXPECT_EQ(p.attribution, Attribution::kEbpf);
  EXPECT_EQ(p.pid, child_);
  EXPECT_EQ(p.tid, child_) << "bash connects from its main thread";
  EXPECT_EQ(p.executable, std::filesystem::canonical("/bin/bash").string());
  EXPECT_EQ(p.comm, "bash");
  EXPECT_EQ(p.uid, ::getuid());
  EXPECT_EQ(p.cgroup, "/" + unit_);
  EXPECT_EQ(p.systemd_unit, unit_);
  // The server's own end connected nothing: it is not in the map (the socket lookup finds us).
  ProcessInfo server =
      attributor_->Attribute(FlowKey{"tcp", Loopback(), Loopback(), port_, flow.local_port});
  EXPECT_NE(server.attribution, Attribution::kEbpf);
  ASSERT_EQ(::send(conn_, "bye\n", 4, 0), 4);
  int status = WaitChild();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(AttributionNetns, AnIpv6ConnectIsAttributedByTheConnect6Program) {
  AttachEbpf();
  if (IsSkipped() || HasFatalFailure()) return;
  ListenV6();
  if (HasFatalFailure()) return;
  FlowKey flow = StartClient(true);
  ASSERT_TRUE(flow.local.v6);
  ProcessInfo p = attributor_->Attribute(flow);
  EXPECT_EQ(p.attribution, Attribution::kEbpf);
  EXPECT_EQ(p.pid, child_);
  EXPECT_EQ(p.comm, "bash");
  EXPECT_EQ(p.systemd_unit, unit_);
  ASSERT_EQ(::send(conn_, "bye\n", 4, 0), 4);
  int status = WaitChild();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(AttributionNetns, AShortLivedProcessIsStillAttributedAfterItExited) {
  AttachEbpf();
  if (IsSkipped() || HasFatalFailure()) return;
  FlowKey flow = StartClient(false);
  int status = WaitChild();  // bash has exited: its socket lives on, orphaned, in FIN_WAIT
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // What socket-inode lookup cannot do: no process holds the socket any more.
  EXPECT_FALSE(net::SocketOwner("tcp", flow.local_port).has_value());
  ProcessAttributor socket_only(nullptr);
  EXPECT_EQ(socket_only.Attribute(flow).attribution, Attribution::kNone);
  // eBPF recorded it at connect(): still named.
  ProcessInfo p = attributor_->Attribute(flow);
  EXPECT_EQ(p.attribution, Attribution::kEbpf);
  EXPECT_GT(p.pid, 0);
  EXPECT_EQ(p.comm, "bash");
  EXPECT_EQ(p.uid, ::getuid());
  EXPECT_EQ(p.systemd_unit, unit_);
  EXPECT_EQ(p.executable, "") << "the process is gone: its executable cannot be read";
}

TEST_F(AttributionNetns, ForcedFallbackUsesTheSocketInodeLookup) {
  auto a = ProcessAttributor::Open(false);
  EXPECT_FALSE(a->ebpf());
  EXPECT_NE(a->fallback_reason().find("attribution: socket"), std::string::npos);
  FlowKey flow = StartClient(true);
  ProcessInfo p = a->Attribute(flow);
  EXPECT_EQ(p.attribution, Attribution::kSocket);
  EXPECT_EQ(p.pid, child_);
  EXPECT_EQ(p.executable, std::filesystem::canonical("/bin/bash").string());
  ASSERT_EQ(::send(conn_, "bye\n", 4, 0), 4);
  WaitChild();
}

TEST_F(AttributionNetns, TheProgramIsDetachedAndTheMapFreedWhenTrackingStops) {
  AttachEbpf();
  if (IsSkipped() || HasFatalFailure()) return;
  ASSERT_EQ(tracker_ids_.size(), 2u);
  const std::string root = attributor_->tracker()->cgroup_root();
  for (uint32_t id : tracker_ids_) {
    ASSERT_NE(id, 0u);
    EXPECT_EQ(RunShell(fmt::format("bpftool prog show id {}", id)).exit_code, 0);
  }
  EXPECT_EQ(RunShell(fmt::format("bpftool map show id {}", map_id_)).exit_code, 0);
  std::string attached = ShOrFail(fmt::format("bpftool cgroup show {}", root));
  EXPECT_NE(attached.find("ward_connect4"), std::string::npos) << attached;
  EXPECT_NE(attached.find("ward_connect6"), std::string::npos) << attached;
  attributor_.reset();
  for (uint32_t id : tracker_ids_) {
    EXPECT_TRUE(BpfObjectGone("prog", id)) << "program " << id << " still loaded";
  }
  EXPECT_TRUE(BpfObjectGone("map", map_id_)) << "map " << map_id_ << " still there";
  attached = ShOrFail(fmt::format("bpftool cgroup show {}", root));
  for (uint32_t id : tracker_ids_) {
    EXPECT_EQ(attached.find(fmt::format("{} ", id)), std::string::npos) << attached;
  }
}

TEST_F(AttributionNetns, AKilledAgentLeavesNoProgramAttached) {
#ifndef WARD_HAVE_EBPF
  GTEST_SKIP() << "built without eBPF support (libbpf, clang, bpftool)";
#endif
  // A child attaches the program (as the agent does), tells its ids through a pipe and waits;
  // kill -9 closes its descriptors, and with them the bpf_links: the kernel detaches and frees
  // everything, with no cleanup code run.
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  child_ = ::fork();
  if (child_ == 0) {
    ::close(fds[0]);
    auto tracker = ConnectTracker::Attach();
    uint32_t ids[3] = {};
    if (tracker) {
      auto progs = (*tracker)->ProgramIds();
      ids[0] = progs[0];
      ids[1] = progs[1];
      ids[2] = (*tracker)->MapId();
    }
    if (::write(fds[1], ids, sizeof ids) != sizeof ids) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  ::close(fds[1]);
  uint32_t ids[3] = {};
  ASSERT_EQ(::read(fds[0], ids, sizeof ids), static_cast<ssize_t>(sizeof ids));
  ::close(fds[0]);
  ASSERT_NE(ids[0], 0u) << "the child could not attach";
  EXPECT_EQ(RunShell(fmt::format("bpftool prog show id {}", ids[0])).exit_code, 0);
  ::kill(child_, SIGKILL);
  WaitChild();
  EXPECT_TRUE(BpfObjectGone("prog", ids[0]));
  EXPECT_TRUE(BpfObjectGone("prog", ids[1]));
  EXPECT_TRUE(BpfObjectGone("map", ids[2]));
}

}  // namespace
}  // namespace ward::agent::egress

// ChainManager and NfQueue against the real iptables/ip6tables and kernel: each test runs in a
// network namespace of its own (unshare(CLONE_NEWNET) of the test process), so nothing on the host
// is touched and nothing is left behind when a test fails.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "agent/net/chain_manager.h"
#include "agent/net/nfqueue.h"
#include "testing/fake_clock.h"
#include "testing/shell.h"

namespace ward::net {
namespace {

using test::RunShell;
using test::ShOrFail;
using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kArrives = 5s;  // a datagram expected: wait up to this
constexpr std::chrono::milliseconds kNone = 300ms;  // none expected: give it this long

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

class NetNamespace : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ShOrFail("ip link set lo up");
  }
  static std::string Save(Family f) {
    return ShOrFail(std::string(FamilyTool(f)) + "-save -t filter");
  }
  // The rules of one chain as `iptables -S CHAIN` prints them (without the -N line).
  static std::string Rules(Family f, const std::string& chain) {
    std::string out = ShOrFail(std::string(FamilyTool(f)) + " -w -S " + chain);
    std::string rules;
    size_t pos = 0;
    while (pos < out.size()) {
      size_t end = out.find('\n', pos);
      if (end == std::string::npos) end = out.size();
      std::string line = out.substr(pos, end - pos);
      if (line.starts_with("-A ")) rules += line + "\n";
      pos = end + 1;
    }
    return rules;
  }
};

// A UDP socket bound to 127.0.0.1:port on lo; Received() says whether `payload` arrives.
class UdpReceiver {
 public:
  UdpReceiver() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~UdpReceiver() { ::close(fd_); }
  uint16_t port() const { return port_; }
  static void Send(uint16_t port, const std::string& payload) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::close(fd);
  }
  // The next datagram, or "" when none came within `wait` (dropped): callers expecting one give
  // it seconds (a loaded machine), callers expecting none a fraction of one.
  std::string Next(std::chrono::milliseconds wait) {
    timeval tv{static_cast<time_t>(wait.count() / 1000),
               static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[512];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST_F(NetNamespace, OpenRemovesWhatADeadAgentLeftInBothFamilies) {
  for (const char* tool : {"iptables", "ip6tables"}) {
    const std::string t = tool;
    // The layout of this version, doubled, and the older one (a direct jump), with junk.
    ShOrFail(t + " -w -N WARD_INPUT && " + t + " -w -N WARD_IPS_IN && " + t +
             " -w -A WARD_IPS_IN -p tcp --dport 9999 -j DROP && " + t +
             " -w -A WARD_INPUT -j WARD_IPS_IN && " + t +
             " -w -I INPUT -m comment --comment ward -j WARD_INPUT && " + t +
             " -w -I INPUT -m comment --comment ward -j WARD_INPUT && " + t +
             " -w -I INPUT -j WARD_IPS_IN && " + t + " -w -A INPUT -p udp -j ACCEPT");
  }
  auto m = ChainManager::Open();
  ASSERT_TRUE(m) << m.error().ToString();
  for (Family f : {Family::kIpv4, Family::kIpv6}) {
    std::string s = Save(f);
    EXPECT_EQ(s.find("WARD_"), std::string::npos) << s;
    EXPECT_EQ(s.find("comment ward"), std::string::npos) << s;
    EXPECT_NE(s.find("-A INPUT -p udp -j ACCEPT"), std::string::npos) << "not Ward's: kept\n" << s;
  }
}

TEST_F(NetNamespace, DeferredCleanupLeavesInstalledSlotsAndRemovesTheRest) {
  const auto leftovers = [] {
    ShOrFail(
        "iptables -w -N WARD_IPS_IN && iptables -w -A WARD_IPS_IN -p tcp -j DROP && "
        "iptables -w -N WARD_OLD && iptables -w -I INPUT -j WARD_IPS_IN && "
        "iptables -w -I OUTPUT -j WARD_OLD");
  };
  // Nothing installed by the time of the cleanup: everything goes.
  leftovers();
  {
    auto m = ChainManager::Open({.clean_up_at_open = false});
    ASSERT_TRUE(m) << m.error().ToString();
    EXPECT_NE(Save(Family::kIpv4).find("WARD_OLD"), std::string::npos) << "removed too early";
    ASSERT_TRUE((*m)->RemoveLeftovers().ok());
    EXPECT_EQ(Save(Family::kIpv4).find("WARD_"), std::string::npos) << Save(Family::kIpv4);
  }
  // A slot installed first: its install already replaced the leftovers (one transaction), and
  // the cleanup after it writes nothing (the slot's rules and counters stay).
  leftovers();
  auto m = ChainManager::Open({.clean_up_at_open = false});
  ASSERT_TRUE(m);
  ASSERT_TRUE(
      (*m)->Install(Family::kIpv4, Slot::kIps, {{Hook::kInput, {"-p", "udp", "-j", "RETURN"}}})
          .ok());
  std::string installed = Save(Family::kIpv4);
  EXPECT_EQ(installed.find("WARD_OLD"), std::string::npos) << installed;
  EXPECT_EQ(installed.find("-j DROP"), std::string::npos) << installed;
  EXPECT_EQ(Count(installed, "-j WARD_IPS_IN"), 1) << installed;
  UdpReceiver rx;
  UdpReceiver::Send(rx.port(), "counted");
  ASSERT_EQ(rx.Next(kArrives), "counted");
  const std::string counters = ShOrFail("iptables -w -nvxL WARD_IPS_IN");
  ASSERT_TRUE((*m)->RemoveLeftovers().ok());
  EXPECT_EQ(ShOrFail("iptables -w -nvxL WARD_IPS_IN"), counters) << "rewritten for nothing";
}

TEST_F(NetNamespace, InstallGivesOneJumpPerHookAndSlotsInOrderAndRemovalLeavesNothing) {
  auto opened = ChainManager::Open();
  ASSERT_TRUE(opened) << opened.error().ToString();
  auto& m = *opened;
  ShOrFail("iptables -w -A INPUT -p udp --dport 7 -j ACCEPT");  // an admin's rule: not Ward's
  for (Family f : {Family::kIpv4, Family::kIpv6}) {
    ASSERT_TRUE(
        m->Install(f, Slot::kEgress, {{Hook::kOutput, {"-p", "udp", "-j", "RETURN"}}}).ok());
    ASSERT_TRUE(m->Install(f, Slot::kIps, {{Hook::kInput, {"-p", "tcp", "-j", "RETURN"}}}).ok());
    ASSERT_TRUE(
        m->Install(f, Slot::kFirewall, {{Hook::kInput, {"-p", "icmp", "-j", "RETURN"}}}).ok());
    // Replacing a slot does not add a second set.
    ASSERT_TRUE(
        m->Install(f, Slot::kIps, {{Hook::kInput, {"-p", "tcp", "--dport", "80", "-j", "RETURN"}}})
            .ok());
    std::string s = Save(f);
    EXPECT_EQ(Count(s, "-j WARD_INPUT"), 1) << s;
    EXPECT_EQ(Count(s, "-j WARD_OUTPUT"), 1) << s;
    EXPECT_EQ(Rules(f, "INPUT").substr(0, Rules(f, "INPUT").find('\n')),
              "-A INPUT -m comment --comment ward -j WARD_INPUT");
    EXPECT_EQ(Rules(f, "WARD_INPUT"),
              "-A WARD_INPUT -j WARD_FW_IN\n-A WARD_INPUT -j WARD_IPS_IN\n"
              "-A WARD_INPUT -j WARD_EGRESS_IN\n");
    EXPECT_EQ(Rules(f, "WARD_OUTPUT"),
              "-A WARD_OUTPUT -j WARD_FW_OUT\n-A WARD_OUTPUT -j WARD_IPS_OUT\n"
              "-A WARD_OUTPUT -j WARD_EGRESS_OUT\n");
    EXPECT_EQ(Count(Rules(f, "WARD_IPS_IN"), "\n"), 1) << Rules(f, "WARD_IPS_IN");
    EXPECT_NE(Rules(f, "WARD_IPS_IN").find("--dport 80"), std::string::npos);

    ASSERT_TRUE(m->Remove(f, Slot::kIps).ok());
    EXPECT_EQ(Rules(f, "WARD_INPUT"),
              "-A WARD_INPUT -j WARD_FW_IN\n-A WARD_INPUT -j WARD_EGRESS_IN\n");
    EXPECT_EQ(Save(f).find("WARD_IPS"), std::string::npos);
    ASSERT_TRUE(m->Remove(f, Slot::kIps).ok());  // idempotent
  }
  m->RemoveSlot(Slot::kFirewall);
  m->RemoveSlot(Slot::kEgress);
  for (Family f : {Family::kIpv4, Family::kIpv6}) {
    std::string s = Save(f);
    EXPECT_EQ(s.find("WARD_"), std::string::npos) << s;
    EXPECT_EQ(s.find("comment ward"), std::string::npos) << s;
  }
  EXPECT_NE(Save(Family::kIpv4).find("-A INPUT -p udp -m udp --dport 7 -j ACCEPT"),
            std::string::npos);
}

TEST_F(NetNamespace, DestroyingTheManagerRemovesEverythingItInstalled) {
  {
    auto m = ChainManager::Open();
    ASSERT_TRUE(m);
    ASSERT_TRUE((*m)->Install(Family::kIpv4, Slot::kIps, {{Hook::kInput, {"-j", "RETURN"}}}).ok());
    ASSERT_TRUE((*m)->Install(Family::kIpv6, Slot::kIps, {{Hook::kInput, {"-j", "RETURN"}}}).ok());
    ASSERT_NE(Save(Family::kIpv6).find("WARD_IPS_IN"), std::string::npos);
  }
  EXPECT_EQ(Save(Family::kIpv4).find("WARD_"), std::string::npos) << Save(Family::kIpv4);
  EXPECT_EQ(Save(Family::kIpv6).find("WARD_"), std::string::npos) << Save(Family::kIpv6);
}

TEST_F(NetNamespace, ANewManagerReplacesTheChainsOfOneThatDied) {
  auto first = ChainManager::Open();
  ASSERT_TRUE(first);
  ASSERT_TRUE(
      (*first)
          ->Install(Family::kIpv4, Slot::kIps, {{Hook::kInput, {"-p", "udp", "-j", "DROP"}}})
          .ok());
  // kill -9: the first manager never runs its destructor.
  [[maybe_unused]] ChainManager* dead = first->release();
  auto second = ChainManager::Open();
  ASSERT_TRUE(second);
  EXPECT_EQ(Save(Family::kIpv4).find("WARD_"), std::string::npos);
  ASSERT_TRUE(
      (*second)
          ->Install(Family::kIpv4, Slot::kIps, {{Hook::kInput, {"-p", "tcp", "-j", "RETURN"}}})
          .ok());
  std::string s = Save(Family::kIpv4);
  EXPECT_EQ(Count(s, "-j WARD_INPUT"), 1) << s;
  EXPECT_EQ(Count(s, "-j WARD_IPS_IN"), 1) << s;
  EXPECT_EQ(s.find("-j DROP"), std::string::npos) << s;
}

TEST_F(NetNamespace, PacketsWalkTheSlotsInOrder) {
  UdpReceiver rx;
  const std::string port = std::to_string(rx.port());
  auto opened = ChainManager::Open();
  ASSERT_TRUE(opened);
  auto& m = *opened;
  UdpReceiver::Send(rx.port(), "before");
  EXPECT_EQ(rx.Next(kArrives), "before");
  // The egress slot drops; the IPS slot's RETURN goes on to it.
  ASSERT_TRUE(m->Install(Family::kIpv4, Slot::kEgress,
                         {{Hook::kOutput, {"-p", "udp", "--dport", port, "-j", "DROP"}}})
                  .ok());
  ASSERT_TRUE(m->Install(Family::kIpv4, Slot::kIps,
                         {{Hook::kOutput, {"-p", "udp", "--dport", port, "-j", "RETURN"}}})
                  .ok());
  UdpReceiver::Send(rx.port(), "dropped");
  EXPECT_EQ(rx.Next(kNone), "");
  // The firewall slot comes first: its ACCEPT ends the walk before egress.
  ASSERT_TRUE(m->Install(Family::kIpv4, Slot::kFirewall,
                         {{Hook::kOutput, {"-p", "udp", "--dport", port, "-j", "ACCEPT"}}})
                  .ok());
  UdpReceiver::Send(rx.port(), "accepted");
  EXPECT_EQ(rx.Next(kArrives), "accepted");
  ASSERT_TRUE(m->Remove(Family::kIpv4, Slot::kFirewall).ok());
  UdpReceiver::Send(rx.port(), "dropped again");
  EXPECT_EQ(rx.Next(kNone), "");
  m.reset();
  UdpReceiver::Send(rx.port(), "after");
  EXPECT_EQ(rx.Next(kArrives), "after");
}

TEST_F(NetNamespace, NfQueueHandlerDecidesEachPacketsVerdict) {
  UdpReceiver rx;
  const uint16_t queue = 3;
  std::atomic<int> seen{0};
  auto q = NfQueue::Open(queue, /*fail_open=*/false, NfQueue::VerdictFirst::kNone,
                         [&](std::string_view ip_packet, bool /*verify_checksum*/) {
                           ++seen;
                           // The payload (after the IPv4 and UDP headers) says what to do.
                           return ip_packet.find("pass") != std::string_view::npos;
                         });
  ASSERT_TRUE(q) << q.error().ToString();
  auto m = ChainManager::Open();
  ASSERT_TRUE(m);
  ASSERT_TRUE((*m)->Install(Family::kIpv4, Slot::kIps,
                            {{Hook::kOutput,
                              {"-p", "udp", "--dport", std::to_string(rx.port()), "-j", "NFQUEUE",
                               "--queue-num", std::to_string(queue)}}})
                  .ok());
  // The reader's idle() ends it once the clock it was given says an hour passed; the handler
  // moves that (fake) clock when it sees the last packet.
  test::FakeClock clock;
  const auto start = clock.SteadyNow();
  std::promise<Status> done;
  auto finished = done.get_future();
  std::jthread reader([&](std::stop_token stop) {
    done.set_value((*q)->Run(stop, clock, [&] { return clock.SteadyNow() - start >= 1h; }));
  });
  UdpReceiver::Send(rx.port(), "drop me");
  UdpReceiver::Send(rx.port(), "pass me");
  EXPECT_EQ(rx.Next(kArrives), "pass me");
  EXPECT_EQ(seen.load(), 2);
  EXPECT_EQ(finished.wait_for(200ms), std::future_status::timeout)
      << "ended before the clock moved";
  clock.Advance(1h);
  ASSERT_EQ(finished.wait_for(10s), std::future_status::ready) << "did not end on the clock";
  EXPECT_TRUE(finished.get().ok());
}

TEST_F(NetNamespace, NoListenerMeansBypassOrDropAsTheRulesSay) {
  UdpReceiver rx;
  auto m = ChainManager::Open();
  ASSERT_TRUE(m);
  const std::string port = std::to_string(rx.port());
  ASSERT_TRUE((*m)->Install(Family::kIpv4, Slot::kIps,
                            {{Hook::kOutput,
                              {"-p", "udp", "--dport", port, "-j", "NFQUEUE", "--queue-num", "9",
                               "--queue-bypass"}}})
                  .ok());
  UdpReceiver::Send(rx.port(), "bypassed");
  EXPECT_EQ(rx.Next(kArrives), "bypassed");
  ASSERT_TRUE((*m)->Install(Family::kIpv4, Slot::kIps,
                            {{Hook::kOutput,
                              {"-p", "udp", "--dport", port, "-j", "NFQUEUE", "--queue-num", "9"}}})
                  .ok());
  UdpReceiver::Send(rx.port(), "held");
  EXPECT_EQ(rx.Next(kNone), "");
}

}  // namespace
}  // namespace ward::net

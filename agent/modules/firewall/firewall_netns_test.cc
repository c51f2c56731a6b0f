// The firewall module against the real kernel: nftables (libnftables), NFLOG, conntrack, TCP
// sockets, and the IPS's iptables NFQUEUE chains beside it. Each test runs in a network namespace
// of its own (unshare(CLONE_NEWNET) of the test process: gtest_discover_tests runs one test per
// process), so nothing on the host is touched and nothing is left behind when a test fails.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/core/health.h"
#include "agent/modules/firewall/firewall_module.h"
#include "agent/modules/firewall/nflog.h"
#include "agent/net/chain_manager.h"
#include "agent/net/nfqueue.h"
#include "common/file_system.h"
#include "testing/fake_clock.h"
#include "testing/recording_sink.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"

namespace ward::agent::firewall {
namespace {

using namespace std::chrono_literals;
using test::RunShell;
using test::ShOrFail;

// An address family-agnostic sockaddr for "10.9.0.1" / "2001:db8::1".
socklen_t Sockaddr(const std::string& ip, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (ip.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    ::inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
    return sizeof *a;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
  return sizeof *a;
}

// 0 when a TCP connection from `src` to `dst`:`port` is established within `timeout`, else the
// errno (ETIMEDOUT when nothing answered: the SYN was dropped on input or on output).
int Connect(const std::string& src, const std::string& dst, uint16_t port,
            std::chrono::milliseconds timeout = 500ms) {
  bool v6 = dst.find(':') != std::string::npos;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_storage ss;
  if (!src.empty()) {
    socklen_t len = Sockaddr(src, 0, ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      int e = errno;
      ::close(fd);
      return e;
    }
  }
  socklen_t len = Sockaddr(dst, port, ss);
  int result = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    result = errno;
    if (result == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
        result = ETIMEDOUT;
      } else {
        socklen_t l = sizeof result;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &l);
      }
    }
  }
  ::close(fd);
  return result;
}

// 0 when a UDP datagram to `dst`:`port` was sent, else the errno (EPERM: dropped on output).
// `src`: the address the datagram is sent from (empty: the kernel's choice).
int SendUdp(const std::string& dst, uint16_t port, const std::string& src = "") {
  bool v6 = dst.find(':') != std::string::npos;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (!src.empty()) {
    sockaddr_storage from;
    socklen_t from_len = Sockaddr(src, 0, from);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), from_len) != 0) {
      int e = errno;
      ::close(fd);
      return e;
    }
  }
  sockaddr_storage ss;
  socklen_t len = Sockaddr(dst, port, ss);
  int result = ::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len) == 1 ? 0 : errno;
  ::close(fd);
  return result;
}

// A dual-stack TCP listener on [::]:port (port 0: any), accepting and closing in a thread.
class Listener {
 public:
  explicit Listener(uint16_t port = 0) {
    fd_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int off = 0, on = 1;
    ::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_any;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    EXPECT_EQ(::listen(fd_, 512), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin6_port);
    thread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) == 1) {
          int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) held_.push_back(c);  // kept open: an established session
        }
      }
    });
  }
  ~Listener() {
    thread_ = {};
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> held_;
  std::jthread thread_;
};

class TestBus final : public EventBus {
 public:
  int Subscribe(std::function<void(const Event&)> fn) override {
    std::lock_guard lock(mu_);
    fns_[next_] = std::move(fn);
    return next_++;
  }
  void Unsubscribe(int id) override {
    std::lock_guard lock(mu_);
    fns_.erase(id);
  }
  void Publish(const Event& e) {
    std::lock_guard lock(mu_);
    for (auto& [id, fn] : fns_) fn(e);
  }

 private:
  std::mutex mu_;
  std::map<int, std::function<void(const Event&)>> fns_;
  int next_ = 0;
};

bool Has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

class FirewallNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ShOrFail("ip link set lo up");
    // Addresses beside 127.0.0.1 on `lo` (this kernel has no dummy interfaces).
    ShOrFail(
        "ip addr add 10.9.0.1/24 dev lo && ip addr add 10.9.0.2/24 dev lo && "
        "ip addr add 10.9.0.3/24 dev lo && ip addr add 10.9.0.4/24 dev lo && "
        "ip addr add 2001:db8::1/64 dev lo nodad");
  }
  void TearDown() override { StopModule(); }

  ModuleContext Context() {
    ModuleContext ctx{sink_, RealFileSystem(), clock_, dir_.path()};
    ctx.bus = &bus_;
    ctx.manager_url = manager_url_;
    return ctx;
  }
  void StartModule() {
    module_ = Create(Context());
    run_ = std::jthread([m = module_.get()](std::stop_token stop) { m->Run(stop); });
  }
  void StopModule() {
    run_ = {};
    module_.reset();
  }
  Status Configure(const std::string& yaml) {
    auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
    EXPECT_TRUE(doc.has_value()) << doc.error().ToString();
    const ConfigNode* section = doc->Find("firewall");
    return module_->Configure(*section, *doc);
  }
  FirewallControl& Control() { return *dynamic_cast<FirewallControl*>(module_.get()); }
  static std::string Table() {
    auto r = RunShell("nft list table inet ward");
    return r.exit_code == 0 ? r.output : "";
  }
  std::optional<Event> WaitFor(std::string_view action, std::string_view rule = "",
                               std::chrono::milliseconds timeout = 5s) {
    return sink_.WaitFor(
        [&](const Event& e) {
          return e.Module() == "firewall" && e.GetString("event.action") == action &&
                 (rule.empty() || e.GetString("rule.id") == rule);
        },
        timeout);
  }

  test::TempDir dir_;
  test::RecordingSink sink_;
  test::FakeClock clock_;
  TestBus bus_;
  std::string manager_url_;
  std::unique_ptr<Module> module_;
  std::jthread run_;
};

TEST_F(FirewallNetns, AllowDenyAndLogPerDirectionWithEventsAndCounters) {
  Listener denied_in, logged_in, denied_out, other;
  StartModule();
  ASSERT_TRUE(Configure(fmt::format(R"(
firewall:
  allow_loopback: false
  rules:
    - {{id: in-deny, direction: inbound, protocol: tcp, local_ports: {}, action: deny}}
    - {{id: in-log, direction: inbound, protocol: tcp, local_ports: {}, action: log}}
    - {{id: out-deny, direction: outbound, protocol: tcp, remote_ports: {}, action: deny}}
)",
                                    denied_in.port(), logged_in.port(), denied_out.port()))
                  .ok());
  // Denied: the SYN is dropped (on input, or on output), nothing answers.
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", denied_in.port(), 300ms), ETIMEDOUT);
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", logged_in.port()), 0);
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", denied_out.port(), 300ms), ETIMEDOUT);
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", other.port()), 0);

  auto d = WaitFor("connection_denied", "in-deny");
  ASSERT_TRUE(d) << "no event for the denied inbound connection";
  EXPECT_EQ(d->GetString("source.ip"), "10.9.0.2");
  EXPECT_EQ(d->GetString("destination.ip"), "10.9.0.1");
  EXPECT_EQ(d->Get("destination.port"), denied_in.port());
  EXPECT_EQ(d->GetString("network.transport"), "tcp");
  EXPECT_EQ(d->GetString("network.direction"), "inbound");
  EXPECT_EQ(d->GetString("event.type"), "denied");
  auto l = WaitFor("connection_logged", "in-log");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->Get("destination.port"), logged_in.port());
  auto o = WaitFor("connection_denied", "out-deny");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->GetString("network.direction"), "outbound");
  EXPECT_EQ(o->Get("destination.port"), denied_out.port());
  // Outbound: the local process is found by its socket (this test).
  EXPECT_EQ(o->Get("process.pid"), ::getpid());
  EXPECT_EQ(o->GetString("user.id"), "0");

  auto counters = Control().RuleCounters();
  ASSERT_TRUE(counters) << counters.error().ToString();
  EXPECT_GE((*counters)["in-deny"]["packets"].get<int64_t>(), 1) << counters->dump();
  EXPECT_EQ((*counters)["in-log"]["packets"].get<int64_t>(), 1) << counters->dump();
  EXPECT_GE((*counters)["out-deny"]["packets"].get<int64_t>(), 1) << counters->dump();
}

TEST_F(FirewallNetns, PortRangesAndCidrsInBothIpVersions) {
  Listener a, b, c;
  uint16_t lo = std::min(a.port(), b.port()), hi = std::max(a.port(), b.port());
  std::unique_ptr<Listener> outside;
  for (int i = 0; i < 20 && !outside; ++i) {
    auto l = std::make_unique<Listener>();
    if (l->port() < lo || l->port() > hi) outside = std::move(l);
  }
  ASSERT_TRUE(outside);
  StartModule();
  ASSERT_TRUE(Configure(fmt::format(R"(
firewall:
  allow_loopback: false
  ip_lists:
    bad: ["10.9.0.2", "2001:db8::/64"]
  rules:
    - {{id: range, direction: inbound, protocol: tcp, local_ports: "{}-{}",
        remote_lists: [bad], action: deny}}
)",
                                    lo, hi))
                  .ok());
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", a.port(), 300ms), ETIMEDOUT);
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", b.port(), 300ms), ETIMEDOUT);
  EXPECT_EQ(Connect("2001:db8::1", "2001:db8::1", a.port(), 300ms), ETIMEDOUT);
  // Outside the range, or from an address outside the lists: allowed.
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", outside->port()), 0);
  EXPECT_EQ(Connect("10.9.0.3", "10.9.0.1", a.port()), 0);
  EXPECT_EQ(Connect("::1", "::1", a.port()), 0);
  auto v6 = WaitFor("connection_denied", "range");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(sink_.WaitFor([](const Event& e) {
    return e.GetString("event.action") == "connection_denied" &&
           e.GetString("source.ip") == "2001:db8::1" && e.GetString("network.type") == "ipv6";
  }));
}

TEST_F(FirewallNetns, DetectModeDeniesNothingButReports) {
  Listener l;
  StartModule();
  ASSERT_TRUE(Configure(R"(
firewall:
  mode: detect
  allow_loopback: false
  default: {inbound: deny, outbound: deny}
)")
                  .ok());
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", l.port()), 0);
  auto in = WaitFor("connection_would_be_denied", "default-inbound");
  ASSERT_TRUE(in);
  EXPECT_EQ(in->GetString("firewall.mode"), "detect");
  EXPECT_TRUE(WaitFor("connection_would_be_denied", "default-outbound"));
  EXPECT_FALSE(Has(Table(), " drop")) << Table();
}

TEST_F(FirewallNetns, EventsAreRateLimitedPerRuleAndTheRestCounted) {
  Listener l;
  StartModule();
  ASSERT_TRUE(Configure(fmt::format(R"(
firewall:
  allow_loopback: false
  events_per_second: 3
  rules:
    - {{id: noisy, direction: outbound, protocol: udp, remote_ports: {}, action: deny}}
)",
                                    l.port()))
                  .ok());
  // A datagram dropped on output: sendto() says EPERM at once.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(SendUdp("10.9.0.1", l.port()), EPERM);
  auto counters = Control().RuleCounters();
  ASSERT_TRUE(counters);
  EXPECT_EQ((*counters)["noisy"]["packets"].get<int64_t>(), 20);
  // The clock does not move: one window; 3 events, the other 17 counted, then reported when the
  // minute has passed.
  auto& health = dynamic_cast<HealthReporter&>(*module_);
  auto handled = [&] {
    auto c = health.Health().counters;
    return c["events"].get<int64_t>() + c["events_suppressed"].get<int64_t>();
  };
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (handled() < 20 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // polling a condition, with a deadline
  }
  ASSERT_EQ(handled(), 20);
  EXPECT_EQ(health.Health().counters["events_suppressed"], 17);
  clock_.Advance(61s);
  auto summary = WaitFor("events_suppressed");
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->Get("firewall.suppressed_by_rule")["noisy"], 17);
  int denied = 0;
  for (const auto& e : sink_.Events()) denied += e.GetString("event.action") == "connection_denied";
  EXPECT_EQ(denied, 3);
}

TEST_F(FirewallNetns, APolicyChangeReplacesTheRulesWithNoWindow) {
  Listener allowed, denied;
  StartModule();
  auto policy = [&](int variant) {
    return fmt::format(R"(
firewall:
  allow_loopback: false
  default: {{outbound: deny}}
  rules:
    - {{id: extra-{}, direction: outbound, protocol: udp, remote_ports: {}, action: allow}}
    - {{id: ok, direction: outbound, protocol: udp, remote_ports: {}, action: allow}}
)",
                       variant, 1000 + variant, allowed.port());
  };
  ASSERT_TRUE(Configure(policy(0)).ok());
  // A flood of datagrams while the policy changes 30 times: the denied port is never reached
  // (an empty or half-built table would let it through: sendto() would succeed) and the allowed
  // one always is.
  std::atomic<bool> done{false};
  // Only the firewall's verdicts count: sendto() succeeding (reached) or EPERM (dropped on
  // output). Any other errno says nothing about a window and is reported beside the verdicts.
  // The two floods leave from different addresses: from one address, a datagram to the denied
  // port whose source port happens to be the allowed port is the reply of an earlier allowed
  // datagram that came from the denied port, and conntrack rightly lets it through as established.
  std::atomic<int> leaked{0}, refused_allowed{0}, attempts{0}, other{0}, last_other{0};
  std::jthread flood([&] {
    auto note = [&](int r) {
      if (r != 0 && r != EPERM) ++other, last_other = r;
    };
    while (!done) {
      int r = SendUdp("10.9.0.1", denied.port(), "10.9.0.2");
      leaked += r == 0;
      note(r);
      r = SendUdp("10.9.0.1", allowed.port(), "10.9.0.3");
      refused_allowed += r == EPERM;
      note(r);
      ++attempts;
    }
  });
  while (attempts < 100) std::this_thread::yield();
  for (int i = 1; i <= 30; ++i) ASSERT_TRUE(Configure(policy(i)).ok());
  done = true;
  flood.join();
  EXPECT_EQ(leaked, 0) << other << " other error(s), last " << std::strerror(last_other);
  EXPECT_EQ(refused_allowed, 0) << other << " other error(s), last " << std::strerror(last_other);
  EXPECT_LT(other, attempts) << "no datagram got a verdict: " << std::strerror(last_other);
  std::string table = Table();
  EXPECT_TRUE(Has(table, "extra-30")) << table;
  EXPECT_FALSE(Has(table, "extra-29")) << table;
  EXPECT_EQ(RunShell("nft list tables | grep -c ward").output, "1\n");
}

TEST_F(FirewallNetns, StopRemovesTheTable) {
  StartModule();
  ASSERT_TRUE(Configure("firewall: {default: {inbound: deny}}\n").ok());
  EXPECT_TRUE(Has(Table(), "default-inbound"));
  run_ = {};  // Run() ends: the rules go
  EXPECT_EQ(Table(), "");
  module_.reset();
  EXPECT_FALSE(Has(RunShell("nft list tables").output, "ward"));
}

TEST_F(FirewallNetns, AKilledAgentsRulesAreReplacedAtTheNextStart) {
  Listener l;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The "agent" that dies with its rules installed.
    auto doc = ConfigNode::FromYaml(fmt::format(R"(
firewall:
  allow_loopback: false
  rules: [{{id: old-rule, direction: inbound, protocol: tcp, local_ports: {}, action: deny}}]
)",
                                                l.port()),
                                    "p");
    ModuleContext ctx{sink_, RealFileSystem(), clock_, dir_.path()};
    auto m = Create(ctx);
    if (!m->Configure(*doc->Find("firewall"), *doc).ok()) ::_exit(2);
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ASSERT_TRUE(Has(Table(), "old-rule"));  // left in force, as its policy asked
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", l.port(), 300ms), ETIMEDOUT);
  StartModule();
  ASSERT_TRUE(Configure("firewall: {allow_loopback: false}\n").ok());
  std::string table = Table();
  EXPECT_FALSE(Has(table, "old-rule")) << table;
  EXPECT_EQ(RunShell("nft list tables | grep -c ward").output, "1\n");
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", l.port()), 0);
}

TEST_F(FirewallNetns, AKilledAgentsRulesAreRemovedWhenTheNewPolicyHasNoFirewall) {
  EXPECT_TRUE(RemoveLeftoverTable().ok());  // nothing there: nothing created either
  EXPECT_FALSE(Has(RunShell("nft list tables").output, "ward"));
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto doc = ConfigNode::FromYaml("firewall: {default: {inbound: deny}}\n", "p");
    ModuleContext ctx{sink_, RealFileSystem(), clock_, dir_.path()};
    auto m = Create(ctx);
    if (!m->Configure(*doc->Find("firewall"), *doc).ok()) ::_exit(2);
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(Has(Table(), "default-inbound"));
  // What `ward-agent run` calls when its policy enables no firewall.
  ASSERT_TRUE(RemoveLeftoverTable().ok());
  EXPECT_FALSE(Has(RunShell("nft list tables").output, "ward"));
}

TEST_F(FirewallNetns, ARuleSetThatCutsTheManagerOrAnSshSessionIsRefused) {
  Listener manager;
  manager_url_ = fmt::format("https://10.9.0.1:{}/", manager.port());
  Listener ssh(22);
  ASSERT_EQ(ssh.port(), 22);
  StartModule();
  ASSERT_TRUE(Configure("firewall: {allow_loopback: false, confirm_timeout: 0}\n").ok());
  // An SSH session from 10.9.0.3, open now.
  int session = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_storage ss;
  ASSERT_EQ(::bind(session, reinterpret_cast<sockaddr*>(&ss), Sockaddr("10.9.0.3", 0, ss)), 0);
  ASSERT_EQ(::connect(session, reinterpret_cast<sockaddr*>(&ss), Sockaddr("10.9.0.1", 22, ss)), 0);

  Status s = Configure(fmt::format(R"(
firewall:
  allow_loopback: false
  rules:
    - {{id: no-mgr, direction: outbound, protocol: tcp, remote_ports: {}, action: deny}}
)",
                                   manager.port()));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Has(s.message(), "rule no-mgr would cut the manager channel")) << s.ToString();
  s = Configure(R"(
firewall:
  allow_loopback: false
  default: {inbound: deny}
  rules:
    - {id: admins, direction: inbound, protocol: tcp, local_ports: 22, remote: [10.9.0.2], action: allow}
)");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Has(s.message(),
                  "the default for inbound traffic (deny) would cut the SSH "
                  "session from 10.9.0.3"))
      << s.ToString();
  // Refused: the rules in force are unchanged and both still work.
  EXPECT_FALSE(Has(Table(), "no-mgr"));
  EXPECT_FALSE(Has(Table(), "admins"));
  EXPECT_EQ(Connect("", "10.9.0.1", manager.port()), 0);
  EXPECT_EQ(::send(session, "x", 1, MSG_NOSIGNAL), 1);
  ::close(session);
}

TEST_F(FirewallNetns, RulesThatCutTheManagerAreRolledBackWhenTheConfirmTimeoutPasses) {
  Listener manager;
  manager_url_ = fmt::format("https://10.9.0.1:{}/", manager.port());
  StartModule();
  ASSERT_TRUE(Configure(R"(
firewall:
  allow_loopback: false
  confirm_timeout: 30s
  rules: [{id: first, direction: inbound, protocol: udp, local_ports: 9, action: deny}]
)")
                  .ok());
  ASSERT_TRUE(WaitFor("rules_confirmed"));  // the manager is reached through these
  // The lock-out check cannot tell this cuts the manager (it does not know the route's
  // interface): applied, then the manager is unreachable.
  ASSERT_TRUE(Configure(R"(
firewall:
  allow_loopback: false
  confirm_timeout: 30s
  rules: [{id: lo-off, direction: outbound, interfaces: [lo], action: deny}]
)")
                  .ok());
  EXPECT_EQ(Connect("", "10.9.0.1", manager.port(), 300ms), ETIMEDOUT);
  // Not before the (fake) clock says the timeout passed.
  EXPECT_FALSE(WaitFor("rules_rolled_back", "", 1500ms));
  EXPECT_TRUE(Has(Table(), "lo-off"));
  clock_.Advance(31s);
  auto e = WaitFor("rules_rolled_back");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->Get("event.severity"), 3);
  std::string table = Table();
  EXPECT_FALSE(Has(table, "lo-off")) << table;
  EXPECT_TRUE(Has(table, "first")) << table;
  EXPECT_EQ(Connect("", "10.9.0.1", manager.port()), 0);
}

TEST_F(FirewallNetns, ARuleSetThatKeepsTheManagerIsConfirmedAndKept) {
  Listener manager;
  manager_url_ = fmt::format("https://10.9.0.1:{}/", manager.port());
  StartModule();
  ASSERT_TRUE(Configure(R"(
firewall:
  allow_loopback: false
  confirm_timeout: 30s
  rules: [{id: keep, direction: outbound, protocol: udp, remote_ports: 9, action: deny}]
)")
                  .ok());
  // The module's loop reaches the manager (its probe), then the timeout passes: nothing is
  // rolled back.
  ASSERT_TRUE(WaitFor("rules_confirmed"));
  clock_.Advance(31s);
  EXPECT_FALSE(WaitFor("rules_rolled_back", "", 1500ms));
  EXPECT_TRUE(Has(Table(), "keep"));
}

TEST_F(FirewallNetns, ActiveResponseBlocksTheSourceAndUnblocksOnTime) {
  Listener l;
  manager_url_ = "https://10.9.0.3:443/";  // never blocked
  StartModule();
  ASSERT_TRUE(Configure(R"(
firewall:
  allow_loopback: false
  confirm_timeout: 0
  active_response:
    duration: 10m
    max_blocked: 2
    never_block: [10.9.0.1]
    triggers:
      - {id: brute, module: loginspect, rule_ids: ["5712"], min_level: 10}
      - {id: waf, module: ips, event_action: blocked, count: 3, within: 1m, duration: 1h}
)")
                  .ok());
  auto loginspect = [&](const std::string& ip, int level) {
    Event e = Event::Make(clock_, "loginspect", "info", "alert", Severity::kHigh);
    e.Set("rule.id", "5712");
    e.Set("rule.level", level);
    e.Set("source.ip", ip);
    bus_.Publish(e);
  };
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", l.port()), 0);
  loginspect("10.9.0.2", 5);  // below min_level: nothing
  EXPECT_TRUE(Control().BlockedAddresses().empty());
  loginspect("10.9.0.2", 10);
  auto b = WaitFor("address_blocked", "brute");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->GetString("source.ip"), "10.9.0.2");
  EXPECT_EQ(b->Get("firewall.duration_s"), 600);
  EXPECT_TRUE(Has(ShOrFail("nft list set inet ward blocked4"), "10.9.0.2"));
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", l.port(), 300ms), ETIMEDOUT);
  EXPECT_EQ(Connect("10.9.0.3", "10.9.0.1", l.port()), 0);
  ASSERT_EQ(Control().BlockedAddresses().size(), 1u);

  // Never blocked: the never_block list and the manager.
  loginspect("10.9.0.1", 12);
  auto nb = WaitFor("address_not_blocked");
  ASSERT_TRUE(nb);
  EXPECT_EQ(nb->GetString("firewall.reason"), "never_block");
  loginspect("10.9.0.3", 12);
  EXPECT_TRUE(sink_.WaitFor([](const Event& e) {
    return e.GetString("event.action") == "address_not_blocked" &&
           e.GetString("source.ip") == "10.9.0.3";
  }));

  // Three IPS blocks from one client within a minute.
  auto ips = [&](const std::string& ip) {
    Event e = Event::Make(clock_, "ips", "denied", "blocked", Severity::kHigh);
    e.Set("rule.id", nlohmann::json::array({942100}));
    e.Set("source.ip", ip);
    bus_.Publish(e);
  };
  ips("2001:db8::1");
  ips("2001:db8::1");
  EXPECT_EQ(Control().BlockedAddresses().size(), 1u);
  ips("2001:db8::1");
  ASSERT_TRUE(WaitFor("address_blocked", "waf"));
  EXPECT_TRUE(Has(ShOrFail("nft list set inet ward blocked6"), "2001:db8::1"));
  // The cap (2) is reached: a third address is not blocked, and says why.
  loginspect("10.9.0.4", 12);
  EXPECT_TRUE(sink_.WaitFor([](const Event& e) {
    return e.GetString("event.action") == "address_not_blocked" &&
           e.GetString("firewall.reason") == "max_blocked";
  }));

  // A policy change keeps the blocked addresses.
  ASSERT_TRUE(Configure(R"(
firewall:
  allow_loopback: false
  confirm_timeout: 0
  active_response:
    duration: 10m
    triggers: [{id: brute, module: loginspect, rule_ids: ["5712"]}]
)")
                  .ok());
  EXPECT_TRUE(Has(ShOrFail("nft list set inet ward blocked4"), "10.9.0.2"));

  // Ten minutes later (fake clock) the first is unblocked; the IPS's (an hour) stays.
  clock_.Advance(601s);
  auto u = WaitFor("address_unblocked", "brute");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->GetString("source.ip"), "10.9.0.2");
  EXPECT_EQ(u->GetString("firewall.reason"), "expired");
  EXPECT_FALSE(Has(ShOrFail("nft list set inet ward blocked4"), "10.9.0.2"));
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", l.port()), 0);
  ASSERT_EQ(Control().BlockedAddresses().size(), 1u);
  EXPECT_EQ(Control().BlockedAddresses()[0]["address"], "2001:db8::1");

  // Removed by command (firewall.unblock).
  EXPECT_EQ(Control().Unblock("10.9.0.9").code(), StatusCode::kNotFound);
  ASSERT_TRUE(Control().Unblock("2001:db8::1").ok());
  auto r = WaitFor("address_unblocked", "waf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->GetString("firewall.reason"), "removed");
  EXPECT_TRUE(Control().BlockedAddresses().empty());
  EXPECT_FALSE(Has(ShOrFail("nft list set inet ward blocked6"), "2001:db8::1"));

  // firewall.unblock without an address removes every block.
  loginspect("10.9.0.2", 12);
  ASSERT_EQ(Control().BlockedAddresses().size(), 1u);
  EXPECT_EQ(Control().UnblockAll(), std::vector<std::string>{"10.9.0.2"});
  EXPECT_TRUE(Control().BlockedAddresses().empty());
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", l.port()), 0);
}

TEST_F(FirewallNetns, CoexistsWithTheIpsNfqueueChains) {
  Listener inspected, denied;
  // The IPS's slot: both ports queued to queue 71 (a number of this test's own).
  std::atomic<int> queued_inspected{0}, queued_denied{0};
  auto q = net::NfQueue::Open(
      71, /*fail_open=*/false, net::NfQueue::VerdictFirst::kNone,
      [&](std::string_view packet, bool) {
        auto p = ParseLoggedPacket(
            "ward:l:x", std::span(reinterpret_cast<const uint8_t*>(packet.data()), packet.size()));
        if (p && p->dst_port == inspected.port()) ++queued_inspected;
        if (p && p->dst_port == denied.port()) ++queued_denied;
        return true;
      });
  ASSERT_TRUE(q) << q.error().ToString();
  auto chains = net::ChainManager::Open();
  ASSERT_TRUE(chains);
  std::vector<net::Rule> rules;
  for (uint16_t port : {inspected.port(), denied.port()}) {
    rules.push_back(
        {net::Hook::kInput,
         {"-p", "tcp", "--dport", std::to_string(port), "-j", "NFQUEUE", "--queue-num", "71"}});
  }
  ASSERT_TRUE((*chains)->Install(net::Family::kIpv4, net::Slot::kIps, rules).ok());
  std::jthread reader(
      [&](std::stop_token stop) { (void)(*q)->Run(stop, clock_, [] { return false; }); });
  StartModule();
  ASSERT_TRUE(Configure(fmt::format(R"(
firewall:
  allow_loopback: false
  default: {{inbound: deny}}
  rules:
    - {{id: web, direction: inbound, protocol: tcp, local_ports: {}, action: allow}}
)",
                                    inspected.port()))
                  .ok());
  // Allowed by the firewall, then inspected by the IPS: both hooks run.
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", inspected.port()), 0);
  EXPECT_GE(queued_inspected.load(), 1);
  // Denied by the firewall first: never queued.
  EXPECT_EQ(Connect("10.9.0.2", "10.9.0.1", denied.port(), 300ms), ETIMEDOUT);
  EXPECT_EQ(queued_denied.load(), 0);
  reader = {};
}

}  // namespace
}  // namespace ward::agent::firewall

// The egress module against the real kernel: iptables NFQUEUE (Ward's egress slot), conntrack
// marks, nftables interval sets, raw-socket resets, and real clients and servers — a small DNS
// server, `openssl s_server` for TLS, an HTTP server, `curl` as the client. Each test runs in a
// network namespace of its own (unshare(CLONE_NEWNET) of the test process: gtest_discover_tests
// runs one test per process), so nothing on the host is touched and nothing is left behind when a
// test fails.
#include <arpa/inet.h>
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
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "agent/core/health.h"
#include "agent/modules/egress/dns_message.h"
#include "agent/modules/egress/dns_test_util.h"
#include "agent/modules/egress/egress_module.h"
#include "agent/modules/egress/test_servers.h"
#include "common/file_system.h"
#include "testing/fake_clock.h"
#include "testing/recording_sink.h"
#include "testing/shell.h"
#include "testing/temp_dir.h"

namespace ward::agent::egress {
namespace {

using namespace std::chrono_literals;
using test::Addr;
using test::Background;
using test::DnsServer;
using test::HttpServer;
using test::kCdn;
using test::kResolver;
using test::Lookup;
using test::Resolve;
using test::WaitForListener;
using ward::test::RunShell;
using ward::test::ShOrFail;

// How flows are attributed to their process when the policy does not say (docs/egress.md,
// "Attribution"): eBPF in a build with it (CI's), else by socket inode.
#ifdef WARD_HAVE_EBPF
constexpr std::string_view kAttribution = "ebpf";
#else
constexpr std::string_view kAttribution = "socket";
#endif

// 0 when a TCP connection to ip:port is established within 500 ms, else the errno.
int Connect(const std::string& ip, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a = Addr(ip, port);
  int result = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    result = errno;
    if (result == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 500) != 1) {
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

struct CurlResult {
  int exit_code = -1;
  std::string output;  // "<http code> <body>"
};
// curl to `url` with `name` pinned to kCdn (no resolver involved), TLS certificates not checked.
CurlResult Curl(const std::string& url, const std::string& name, uint16_t port) {
  auto r =
      RunShell(fmt::format("curl -sk --max-time 5 --resolve {}:{}:{} -w ' %{{http_code}}' {} 2>&1",
                           name, port, kCdn, url));
  return {r.exit_code, r.output};
}

class EgressNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root";
    ShOrFail("ip link set lo up");
    // Addresses beside 127.0.0.1 on `lo` (this kernel has no dummy interfaces).
    ShOrFail(fmt::format(
        "ip addr add 10.9.0.2/24 dev lo && ip addr add {}/24 dev lo && ip addr add {}/24 dev lo "
        "&& ip addr add 10.9.0.97/24 dev lo && ip addr add 10.9.0.99/24 dev lo",
        kResolver, kCdn));
  }
  void TearDown() override { StopModule(); }

  void StartTls() {
    ShOrFail(fmt::format(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=egress-test -keyout {0}/key.pem -out {0}/cert.pem 2>&1",
        dir_.Str()));
    tls_ = std::make_unique<Background>(
        fmt::format("exec openssl s_server -quiet -www -accept {}:443 -cert {}/cert.pem -key "
                    "{}/key.pem >/dev/null 2>&1",
                    kCdn, dir_.Str(), dir_.Str()));
    ASSERT_TRUE(WaitForListener(kCdn, 443, 5s)) << "openssl s_server did not start";
  }

  void StartModule(const std::string& egress_yaml) {
    module_ = Create(ModuleContext{sink_, RealFileSystem(), clock_, dir_.path()});
    auto doc = ConfigNode::FromYaml("egress:\n" + egress_yaml, "policy.yaml");
    ASSERT_TRUE(doc.has_value()) << doc.error().ToString();
    Status s = module_->Configure(*doc->Find("egress"), *doc);
    ASSERT_TRUE(s.ok()) << s.ToString();
    run_ = std::jthread([m = module_.get()](std::stop_token stop) { m->Run(stop); });
    ASSERT_TRUE(WaitFor("rules_applied")) << "egress did not install its rules";
  }
  void StopModule() {
    run_ = {};
    module_.reset();
  }
  std::optional<Event> WaitFor(std::string_view action,
                               std::function<bool(const Event&)> also = nullptr,
                               std::chrono::milliseconds timeout = 5s) {
    return sink_.WaitFor(
        [&](const Event& e) {
          return e.Module() == "egress" && e.GetString("event.action") == action &&
                 (!also || also(e));
        },
        timeout);
  }
  static std::function<bool(const Event&)> LearnedBy(std::string how) {
    return [how](const Event& e) { return e.GetString("egress.learned_by") == how; };
  }

  ward::test::TempDir dir_;
  ward::test::RecordingSink sink_;
  ward::test::FakeClock clock_;
  std::unique_ptr<Module> module_;
  std::jthread run_;
  std::unique_ptr<Background> tls_;
};

const std::map<std::string, std::string> kNames = {
    {"blocked.example", kCdn}, {"allowed.example", kCdn}, {"files.example", kCdn}};

TEST_F(EgressNetns, PreventBlocksByDnsSniAndHostAndLetsTheSharedAddressServeOthers) {
  DnsServer dns(kNames);
  HttpServer http;
  StartTls();
  StartModule(R"(
  mode: prevent
  queue: 61
  block: [blocked.example, "http://files.example/malware/"]
)");
  // DNS: the blocked name gets NXDOMAIN although the server answered; the other name resolves to
  // the same (CDN) address.
  Lookup blocked = Resolve("blocked.example");
  EXPECT_EQ(blocked.rcode, kDnsRcodeNxDomain);
  EXPECT_TRUE(blocked.addresses.empty());
  Lookup allowed = Resolve("allowed.example");
  EXPECT_EQ(allowed.rcode, 0);
  EXPECT_EQ(allowed.addresses, std::vector<std::string>{kCdn});
  auto dns_event = WaitFor("blocked", LearnedBy("dns"));
  ASSERT_TRUE(dns_event);
  EXPECT_EQ(dns_event->GetString("destination.domain"), "blocked.example");
  EXPECT_EQ(dns_event->GetString("egress.list"), "policy.block");

  // TLS: the blocked SNI is reset; the allowed one on the same address is served.
  CurlResult bad = Curl("https://blocked.example/", "blocked.example", 443);
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  CurlResult good = Curl("https://allowed.example/", "allowed.example", 443);
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_TRUE(good.output.ends_with(" 200")) << good.output;
  auto sni = WaitFor("blocked", LearnedBy("sni"));
  ASSERT_TRUE(sni);
  EXPECT_EQ(sni->GetString("tls.client.server_name"), "blocked.example");
  EXPECT_EQ(sni->GetString("destination.ip"), kCdn);
  EXPECT_EQ(sni->GetString("user.id"), "0");
  EXPECT_EQ(sni->GetString("process.attribution"), kAttribution);
  EXPECT_NE(sni->GetString("process.executable").find("curl"), std::string::npos)
      << sni->GetString("process.executable");

  // HTTP: the blocked URL prefix gets the 403 page; another path on the host is served.
  CurlResult page = Curl("http://files.example/malware/x.sh", "files.example", 80);
  EXPECT_TRUE(page.output.ends_with(" 403")) << page.output;
  EXPECT_NE(page.output.find("blocked by the host's egress policy"), std::string::npos);
  CurlResult ok = Curl("http://files.example/index.html", "files.example", 80);
  EXPECT_EQ(ok.output, "hello 200");
  auto http_event = WaitFor("blocked", LearnedBy("http"));
  ASSERT_TRUE(http_event);
  EXPECT_EQ(http_event->GetString("url.original"), "http://files.example/malware/x.sh");
  EXPECT_EQ(http_event->Get("http.response.status_code"), 403);
}

TEST_F(EgressNetns, DnsOverTcpAnswersAreReadEvenWhenSplitAndBlockedNamesNeverResolve) {
  test::DnsTcpServer dns(kNames);
  StartModule(R"(
  mode: prevent
  queue: 68
  block: [blocked.example]
)");
  // One segment an answer: the blocked one is rewritten to NXDOMAIN in place, the other passes.
  Lookup allowed = test::ResolveTcp("allowed.example");
  EXPECT_EQ(allowed.rcode, 0);
  EXPECT_EQ(allowed.addresses, std::vector<std::string>{kCdn});
  Lookup blocked = test::ResolveTcp("blocked.example");
  EXPECT_EQ(blocked.rcode, kDnsRcodeNxDomain);
  EXPECT_TRUE(blocked.addresses.empty());
  auto tcp = [](const Event& e) {
    return e.GetString("network.transport") == "tcp" &&
           e.GetString("dns.response_code") == "NXDOMAIN";
  };
  auto nx = WaitFor("blocked", tcp);
  ASSERT_TRUE(nx);
  EXPECT_EQ(nx->GetString("destination.domain"), "blocked.example");
  EXPECT_EQ(nx->GetString("egress.learned_by"), "dns");
  EXPECT_EQ(nx->GetString("source.ip"), kResolver);

  // Answers cut over two segments: reassembled; the allowed one is whole, the blocked one's
  // connection is reset before its last segment reaches the client.
  dns.set_split(true);
  Lookup allowed_split = test::ResolveTcp("allowed.example");
  EXPECT_EQ(allowed_split.rcode, 0);
  EXPECT_EQ(allowed_split.addresses, std::vector<std::string>{kCdn});
  Lookup blocked_split = test::ResolveTcp("blocked.example");
  EXPECT_EQ(blocked_split.rcode, -2) << "the connection is reset, no answer is read";
  EXPECT_TRUE(blocked_split.addresses.empty());
  auto reset = WaitFor("blocked", [](const Event& e) { return e.Get("egress.reset") == true; });
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->GetString("destination.domain"), "blocked.example");
}

TEST_F(EgressNetns, GlibcResolverOverTcpGetsNxDomainForABlockedName) {
  test::DnsTcpServer dns(kNames);
  StartModule("  mode: prevent\n  queue: 70\n  block: [blocked.example]\n");
  // glibc's own resolver, told to use TCP (`options use-vc`), in a mount namespace of its own
  // where /etc/resolv.conf names the test's server.
  ShOrFail(fmt::format(
      "printf 'nameserver {}\\noptions use-vc attempts:1 timeout:2\\n' > {}/resolv.conf", kResolver,
      dir_.Str()));
  auto lookup = [&](const std::string& name) {
    return RunShell(fmt::format(
        "unshare -m sh -c 'mount --bind {}/resolv.conf /etc/resolv.conf && getent ahostsv4 {}'",
        dir_.Str(), name));
  };
  auto allowed = lookup("allowed.example");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_NE(allowed.output.find(kCdn), std::string::npos) << allowed.output;
  auto blocked = lookup("blocked.example");
  EXPECT_EQ(blocked.exit_code, 2) << "getent: not found\n" << blocked.output;
  EXPECT_EQ(blocked.output.find(kCdn), std::string::npos) << blocked.output;
  auto e = WaitFor("blocked", [](const Event& ev) {
    return ev.GetString("network.transport") == "tcp" &&
           ev.GetString("dns.response_code") == "NXDOMAIN";
  });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->GetString("process.attribution"), kAttribution);
  EXPECT_NE(e->GetString("process.executable").find("getent"), std::string::npos)
      << e->GetString("process.executable");
}

TEST_F(EgressNetns, DnsOverTcpInDetectModeIsReportedAndAnswered) {
  test::DnsTcpServer dns(kNames);
  StartModule("  queue: 69\n  block: [blocked.example]\n");
  Lookup blocked = test::ResolveTcp("blocked.example");
  EXPECT_EQ(blocked.rcode, 0);
  EXPECT_EQ(blocked.addresses, std::vector<std::string>{kCdn});
  auto e = WaitFor("detected",
                   [](const Event& ev) { return ev.GetString("network.transport") == "tcp"; });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->GetString("dns.question.name"), "blocked.example");
}

TEST_F(EgressNetns, DetectReportsEverythingAndBlocksNothing) {
  DnsServer dns(kNames);
  HttpServer http;
  StartTls();
  StartModule(R"(
  mode: detect
  queue: 62
  block: [blocked.example, files.example]
)");
  Lookup blocked = Resolve("blocked.example");
  EXPECT_EQ(blocked.rcode, 0);
  EXPECT_EQ(blocked.addresses, std::vector<std::string>{kCdn});
  CurlResult tls = Curl("https://blocked.example/", "blocked.example", 443);
  EXPECT_EQ(tls.exit_code, 0) << tls.output;
  CurlResult http_ = Curl("http://files.example/x", "files.example", 80);
  EXPECT_EQ(http_.output, "hello 200");
  for (std::string how : {"dns", "sni", "http"}) {
    auto e = WaitFor("detected", LearnedBy(how));
    ASSERT_TRUE(e) << how;
    EXPECT_EQ(e->GetString("egress.verdict"), "detected");
    EXPECT_EQ(e->GetString("egress.mode"), "detect");
  }
  EXPECT_FALSE(sink_.WaitFor(
      [](const Event& e) { return e.GetString("event.action") == "blocked"; }, 100ms));
}

TEST_F(EgressNetns, OnlyTheFirstPacketsOfAFlowReachUserSpace) {
  // Ethernet-sized packets, so that 2 MB are many of them (lo's own MTU is 64 kB).
  ShOrFail("ip link set lo mtu 1500");
  HttpServer http;
  StartModule(R"(
  queue: 63
  dns: false
)");
  CurlResult big = Curl("http://files.example/big", "files.example", 80);
  ASSERT_TRUE(big.output.ends_with(" 200")) << big.output.substr(0, 100);
  // The client's ACKs of 2 MB are hundreds of packets; the queue saw the first few of them only,
  // the rest went by the conntrack mark.
  std::string counters = ShOrFail("iptables -t filter -L WARD_EGRESS_OUT -v -x -n");
  int64_t queued = -1, bypassed = -1;
  std::istringstream in(counters);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    int64_t pkts = 0;
    if (!(f >> pkts)) continue;
    if (line.find("NFQUEUE") != std::string::npos && line.find("dpt:80") != std::string::npos) {
      queued = pkts;
    }
    if (line.find("RETURN") != std::string::npos && line.find("connmark") != std::string::npos) {
      bypassed = pkts;
    }
  }
  EXPECT_GE(queued, 1) << counters;
  EXPECT_LE(queued, 3) << counters;
  EXPECT_GT(bypassed, 50) << counters;
}

TEST_F(EgressNetns, DropCidrsAreEnforcedInTheKernelWithAllowCidrsFirst) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in any = Addr("0.0.0.0", 8080);
  int on = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  ASSERT_EQ(::listen(listener, 64), 0);
  ShOrFail(fmt::format("printf '10.9.0.96/28 ; SBL1\\n' > {}/drop.txt", dir_.Str()));
  StartModule(fmt::format(R"(
  mode: prevent
  queue: 64
  lists: [{{name: drop, format: spamhaus_drop, path: {}/drop.txt, category: hijacked}}]
  allow: [10.9.0.99]
)",
                          dir_.Str()));
  EXPECT_EQ(Connect("10.9.0.97", 8080), ETIMEDOUT);
  EXPECT_EQ(Connect("10.9.0.99", 8080), 0);
  EXPECT_EQ(Connect("10.9.0.2", 8080), 0);
  std::string table = ShOrFail("nft list table inet ward_egress");
  EXPECT_NE(table.find("10.9.0.96/28"), std::string::npos) << table;
  // The kernel's drop is reported (NFLOG), with the list that holds the address.
  auto drop = WaitFor("blocked", [](const Event& e) {
    return e.GetString("egress.learned_by") == "ip" && e.GetString("destination.ip") == "10.9.0.97";
  });
  ASSERT_TRUE(drop);
  EXPECT_EQ(drop->GetString("egress.list"), "drop");
  EXPECT_EQ(drop->GetString("egress.category"), "hijacked");
  EXPECT_EQ(drop->GetString("egress.entry"), "10.9.0.96/28");
  EXPECT_EQ(drop->GetString("egress.enforced_in"), "kernel");
  EXPECT_EQ(drop->Get("destination.port"), 8080);
  ::close(listener);
}

TEST_F(EgressNetns, PerServiceAllowListIsLearnedProposedAndThenEnforced) {
  HttpServer http;
  StartTls();
  const std::string curl = ShOrFail("readlink -f \"$(command -v curl)\"");
  StartModule(fmt::format(R"(
  mode: prevent
  queue: 66
  dns: false
  services: [{{id: fetch, exe: {}, mode: learn, learn_for: 1m}}]
)",
                          curl));
  EXPECT_EQ(Curl("https://allowed.example/", "allowed.example", 443).exit_code, 0);
  EXPECT_EQ(Curl("http://files.example/x", "files.example", 80).output, "hello 200");
  auto learned = WaitFor("destination_learned", [](const Event& e) {
    return e.GetString("destination.domain") == "files.example";
  });
  ASSERT_TRUE(learned);
  EXPECT_EQ(learned->GetString("egress.service.id"), "fetch");
  EXPECT_EQ(learned->GetString("process.executable"), curl);
  // The learning period passes (the module's clock): the proposal is what curl reached.
  clock_.Advance(std::chrono::minutes(2));
  auto proposal = WaitFor("allowlist_proposed");
  ASSERT_TRUE(proposal);
  EXPECT_EQ(proposal->Get("egress.proposed_allow"),
            nlohmann::json({"allowed.example:443", "files.example:80"}));
  // Accepted without files.example, in prevent mode: the running queue takes it in place.
  sink_.Clear();
  auto doc = ConfigNode::FromYaml(fmt::format(R"(
egress:
  mode: prevent
  queue: 66
  dns: false
  services: [{{id: fetch, exe: {}, mode: prevent, allow: ["allowed.example:443"]}}]
)",
                                              curl),
                                  "policy.yaml");
  ASSERT_TRUE(doc.has_value());
  ASSERT_TRUE(module_->Configure(*doc->Find("egress"), *doc).ok());
  ASSERT_TRUE(WaitFor("rules_applied"));
  EXPECT_EQ(Curl("https://allowed.example/", "allowed.example", 443).exit_code, 0);
  CurlResult out = Curl("http://files.example/x", "files.example", 80);
  EXPECT_TRUE(out.output.ends_with(" 403")) << out.output;
  // The allowed name on a port its entry does not name: reset (443 only).
  CurlResult other_port = Curl("http://allowed.example/x", "allowed.example", 80);
  EXPECT_TRUE(other_port.output.ends_with(" 403")) << other_port.output;
  auto blocked = WaitFor("blocked");
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->GetString("egress.list"), "service:fetch");
  EXPECT_EQ(blocked->GetString("egress.service.id"), "fetch");
}

// A cgroup of the test's (named like a systemd scope) under the cgroup2 mount, removed when the
// test ends; processes started with Run() are put in it.
class TestCgroup {
 public:
  TestCgroup() {
    std::ifstream in("/proc/self/mounts");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string source, target, type;
      fields >> source >> target >> type;
      if (type == "cgroup2") {
        root_ = target;
        break;
      }
    }
    unit_ = fmt::format("ward-egress-netns-{}.scope", ::getpid());
    if (!root_.empty()) std::filesystem::create_directory(path());
  }
  ~TestCgroup() {
    if (!root_.empty()) ::rmdir(path().c_str());
  }
  bool ok() const { return !root_.empty() && std::filesystem::is_directory(path()); }
  std::string path() const { return root_ + "/" + unit_; }
  const std::string& unit() const { return unit_; }
  // `command` run by sh in the cgroup (it exits before the destructor removes the cgroup).
  ward::test::ShellResult Run(const std::string& command) const {
    return RunShell(
        fmt::format("sh -c 'echo $$ > {}/cgroup.procs && exec {}' 2>&1", path(), command));
  }

 private:
  std::string root_, unit_;
};

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

nlohmann::json HealthCounters(Module& m) {
  auto* h = dynamic_cast<HealthReporter*>(&m);
  return h ? h->Health().counters : nlohmann::json();
}

TEST_F(EgressNetns, AServiceUnitIsAttributedByEbpfAndTheProgramIsDetachedOnStop) {
#ifndef WARD_HAVE_EBPF
  GTEST_SKIP() << "built without eBPF support (libbpf, clang, bpftool)";
#endif
  TestCgroup cgroup;
  ASSERT_TRUE(cgroup.ok()) << "no cgroup2 mount to create " << cgroup.path() << " in";
  HttpServer http;
  const std::string curl = ShOrFail("readlink -f \"$(command -v curl)\"");
  StartModule(fmt::format(R"(
  queue: 73
  dns: false
  services: [{{id: scoped, unit: {}, mode: learn, learn_for: 1m}}]
)",
                          cgroup.unit()));
  nlohmann::json health = HealthCounters(*module_);
  ASSERT_EQ(health["attribution"], "ebpf") << health.dump();
  const std::vector<uint32_t> programs = health["ebpf_programs"];
  const uint32_t map = health["ebpf_map"];
  ASSERT_EQ(programs.size(), 2u);
  // curl in the unit's cgroup: the service (matched by its unit, known from the cgroup id the
  // program recorded) learns the destination.
  auto out =
      cgroup.Run(fmt::format("curl -s --max-time 5 --resolve files.example:80:{} "
                             "-w \" %{{http_code}}\" http://files.example/x",
                             kCdn));
  EXPECT_EQ(out.output, "hello 200");
  // Outside the cgroup: not the service.
  EXPECT_EQ(Curl("http://allowed.example/x", "allowed.example", 80).output, "hello 200");
  auto learned = WaitFor("destination_learned");
  ASSERT_TRUE(learned);
  EXPECT_EQ(learned->GetString("destination.domain"), "files.example");
  EXPECT_EQ(learned->GetString("egress.service.id"), "scoped");
  EXPECT_EQ(learned->GetString("process.attribution"), "ebpf");
  EXPECT_EQ(learned->GetString("systemd.unit"), cgroup.unit());
  EXPECT_EQ(learned->GetString("systemd.cgroup"), "/" + cgroup.unit());
  EXPECT_EQ(learned->GetString("process.name"), "curl");
  EXPECT_GT(learned->Get("process.pid").get<int>(), 0);
  EXPECT_EQ(learned->GetString("process.executable"), curl);
  EXPECT_EQ(learned->GetString("user.id"), "0");
  EXPECT_FALSE(WaitFor(
      "destination_learned",
      [](const Event& e) { return e.GetString("destination.domain") == "allowed.example"; }, 300ms))
      << "allowed.example is not scoped's";
  for (uint32_t id : programs) {
    EXPECT_EQ(RunShell(fmt::format("bpftool prog show id {}", id)).exit_code, 0) << id;
  }
  StopModule();
  for (uint32_t id : programs) {
    EXPECT_TRUE(BpfObjectGone("prog", id)) << "program " << id << " left loaded after stop";
  }
  EXPECT_TRUE(BpfObjectGone("map", map)) << "map " << map << " left after stop";
}

TEST_F(EgressNetns, AttributionSocketInThePolicyUsesTheSocketInodeLookup) {
  HttpServer http;
  const std::string curl = ShOrFail("readlink -f \"$(command -v curl)\"");
  StartModule(fmt::format(R"(
  queue: 74
  dns: false
  attribution: socket
  services: [{{id: fetch, exe: {}, mode: learn, learn_for: 1m}}]
)",
                          curl));
  nlohmann::json health = HealthCounters(*module_);
  EXPECT_EQ(health["attribution"], "socket") << health.dump();
  EXPECT_FALSE(health.contains("ebpf_programs")) << health.dump();
  EXPECT_EQ(Curl("http://files.example/x", "files.example", 80).output, "hello 200");
  auto learned = WaitFor("destination_learned");
  ASSERT_TRUE(learned);
  EXPECT_EQ(learned->GetString("process.attribution"), "socket");
  EXPECT_EQ(learned->GetString("process.executable"), curl);
  EXPECT_FALSE(learned->Has("process.name")) << "comm is known to eBPF only";
}

TEST_F(EgressNetns, RulesAreRemovedOnStop) {
  StartModule("  queue: 65\n  block: [203.0.113.0/24]\n");
  EXPECT_NE(ShOrFail("iptables-save -t filter").find("WARD_EGRESS_OUT"), std::string::npos);
  EXPECT_NE(ShOrFail("nft list tables").find("ward_egress"), std::string::npos);
  StopModule();
  EXPECT_EQ(ShOrFail("iptables-save -t filter").find("WARD_"), std::string::npos);
  EXPECT_EQ(ShOrFail("ip6tables-save -t filter").find("WARD_"), std::string::npos);
  EXPECT_EQ(ShOrFail("nft list tables").find("ward_egress"), std::string::npos);
}

}  // namespace
}  // namespace ward::agent::egress

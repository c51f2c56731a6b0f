// SIEM forwarding against a real receiver: rsyslog (Debian's rsyslogd, an instance of the test's
// own on a loopback port, writing every message it receives to a file) over UDP, TCP and TLS
// (gtls). Every stored event of the forwarder's tenant arrives, parseable in its format, exactly
// as many as stored, none of another tenant's; a receiver outage loses nothing; kill -9 of the
// real ward-manager while it forwards loses nothing, and the duplicates it causes are counted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "manager/services/tls.h"
#include "manager/siem/forwarding.h"
#include "manager/store/store.h"
#include "testing/temp_dir.h"
#include "tests/manager_harness.h"

namespace ward::manager::siem {
namespace {

using json = nlohmann::json;
using test::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process (stdout/stderr to files), killed on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& log) {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Child() { Kill(SIGKILL); }
  int Wait() {
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  void Kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

uint16_t FreeUdpPort() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// One rsyslogd with one input, writing each message's raw text as a line of out.log.
class Rsyslog {
 public:
  Rsyslog(SyslogTransport t, const TempDir& dir) : transport_(t), dir_(dir.Sub("rsyslog")) {
    std::filesystem::create_directories(dir_);
    if (t == SyslogTransport::kTls) {
      auto files = EnsureSelfSignedCertificate(dir_, "localhost");
      EXPECT_TRUE(files.has_value());
      cert_ = files->cert.string();
      key_ = files->key.string();
    }
  }
  ~Rsyslog() { Stop(); }

  // Starts on `port` (0: any free one). Returns the port it listens on (0 on failure).
  uint16_t Start(uint16_t port = 0) {
    std::filesystem::remove(dir_ + "/port");
    if (transport_ == SyslogTransport::kUdp && port == 0) port = FreeUdpPort();
    std::string input;
    switch (transport_) {
      case SyslogTransport::kUdp:
        input = fmt::format(
            "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{}\" "
            "rcvbufSize=\"8m\")\n",
            port);
        break;
      case SyslogTransport::kTcp:
        input = fmt::format(
            "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{}\" "
            "listenPortFileName=\"{}/port\")\n",
            port, dir_);
        break;
      case SyslogTransport::kTls:
        input = fmt::format(
            "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{}\" "
            "listenPortFileName=\"{}/port\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" "
            "streamDriver.authMode=\"anon\" streamDriver.certFile=\"{}\" "
            "streamDriver.keyFile=\"{}\" streamDriver.caFile=\"{}\")\n",
            port, dir_, cert_, key_, cert_);
        break;
    }
    std::ofstream(dir_ + "/rsyslog.conf")
        << fmt::format(
               "global(workDirectory=\"{}\" maxMessageSize=\"256k\" "
               "parser.escapeControlCharactersOnReceive=\"off\")\n",
               dir_)
        << input << "template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n"
        << fmt::format("action(type=\"omfile\" file=\"{}/out.log\" template=\"raw\")\n", dir_);
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"rsyslogd", "-n", "-f", dir_ + "/rsyslog.conf", "-i",
                                 dir_ + "/rsyslogd.pid"},
        dir_ + "/rsyslogd.log");
    if (transport_ == SyslogTransport::kUdp) {
      // No port file for imudp: wait until its socket is bound (ss would need iproute2 parsing;
      // a datagram to the port is refused until then).
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        if (ReadAll("/proc/net/udp").find(fmt::format(":{:04X} ", port)) != std::string::npos) {
          return port;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      return 0;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    if (port != 0) {
      // A given port: no port file; wait until it listens (state 0A in /proc/net/tcp).
      while (std::chrono::steady_clock::now() < deadline) {
        if (ReadAll("/proc/net/tcp").find(fmt::format(":{:04X} 00000000:0000 0A", port)) !=
            std::string::npos) {
          return port;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ADD_FAILURE() << "rsyslogd did not listen on " << port << ": "
                    << ReadAll(dir_ + "/rsyslogd.log");
      return 0;
    }
    while (std::chrono::steady_clock::now() < deadline) {
      std::string p = ReadAll(dir_ + "/port");
      if (!p.empty() && p.back() == '\n') p.pop_back();
      if (!p.empty()) return static_cast<uint16_t>(std::stoi(p));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "rsyslogd did not start: " << ReadAll(dir_ + "/rsyslogd.log");
    return 0;
  }
  void Stop() {
    if (child_) child_->Kill(SIGTERM);
    child_.reset();
  }
  // Lines written so far (a partly written last line is left out).
  std::vector<std::string> Lines() const {
    std::string all = ReadAll(dir_ + "/out.log");
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t nl; (nl = all.find('\n', start)) != std::string::npos; start = nl + 1) {
      out.push_back(all.substr(start, nl - start));
    }
    return out;
  }
  std::vector<std::string> WaitLines(size_t n, std::chrono::seconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<std::string> lines = Lines();
    while (lines.size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      lines = Lines();
    }
    return lines;
  }
  const std::string& cert() const { return cert_; }

 private:
  SyslogTransport transport_;
  std::string dir_;
  std::string cert_, key_;
  std::unique_ptr<Child> child_;
};

// The event id in one received line, after checking the RFC 5424 header and that the body
// parses in `format`; "" when it does not.
std::string EventIdOf(const std::string& line, const std::string& format) {
  static const std::regex kHeader(
      R"(^<(\d{1,3})>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (\S+) ward (\S+) (\S+) - (.*)$)");
  std::smatch m;
  if (!std::regex_match(line, m, kHeader)) return "";
  std::string body = m[5];
  if (format == "json") {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded()) return "";
    return doc["event"].value("id", "");
  }
  if (format == "cef") {
    if (body.rfind("CEF:0|Ward|Ward|", 0) != 0) return "";
    static const std::regex kId(R"((?:^| )externalId=(\S+))");
    std::smatch id;
    return std::regex_search(body, id, kId) ? id[1].str() : "";
  }
  if (body.rfind("LEEF:2.0|Ward|Ward|", 0) != 0) return "";
  static const std::regex kId("(?:\t)eventId=([^\t]+)");
  std::smatch id;
  return std::regex_search(body, id, kId) ? id[1].str() : "";
}

// rsyslog writes what it received a little after the sender's cursor moved: wait until every one
// of `ids` is in the file (or the timeout), and return the lines then.
std::vector<std::string> WaitIds(const Rsyslog& rs, const std::vector<std::string>& ids,
                                 const std::string& format, std::chrono::seconds timeout) {
  const std::set<std::string> want(ids.begin(), ids.end());
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<std::string> lines = rs.Lines();
    std::set<std::string> seen;
    for (const auto& l : lines) seen.insert(EventIdOf(l, format));
    if (std::includes(seen.begin(), seen.end(), want.begin(), want.end()) ||
        std::chrono::steady_clock::now() >= deadline) {
      return lines;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

const TimePoint kT0 = TimePoint(std::chrono::microseconds(1'789'948'800'000'000LL));

class SiemRsyslog : public ::testing::Test {
 protected:
  void SetUp() override {
    db_url_ = "sqlite:" + dir_.Sub("ward.db");
    auto s = Store::Open(db_url_);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->Migrate().ok());
  }

  Tenant NewTenant(const std::string& name) {
    Tenant t;
    t.id = "tenant-" + name;
    t.name = name;
    t.created_at = kT0;
    EXPECT_TRUE(store_->CreateTenant(t).ok());
    return t;
  }

  // `n` events of the tenant, the first one with hostile values in every mapped text field.
  std::vector<std::string> StoreEvents(const Tenant& t, int n, const std::string& prefix) {
    std::vector<StoredEvent> batch;
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      StoredEvent e;
      e.id = fmt::format("{}-{:06d}", prefix, i);
      e.tenant_id = t.id;
      e.agent_id = "agent-1";
      e.timestamp = kT0 - std::chrono::seconds(i % 97);  // not in commit order
      e.module = i % 2 ? "ips" : "integrity";
      e.action = i % 2 ? "blocked" : "modified";
      e.severity = i % 5;
      std::string hostile = i == 0 ? std::string("a=b|c\\d\ne\rf\tg end") : "plain";
      e.doc = {{"@timestamp", "2026-09-21T00:00:00.000Z"},
               {"event",
                {{"id", e.id}, {"module", e.module}, {"action", e.action}, {"severity", i % 5}}},
               {"host", {{"name", "web-01"}}},
               {"agent", {{"id", "agent-1"}, {"version", "1.0|x"}}},
               {"message", hostile},
               {"file", {{"path", "/var/www/" + std::to_string(i) + " a=b|c"}}},
               {"rule", {{"id", json::array({"942100", "949110"})}}}};
      ids.push_back(e.id);
      batch.push_back(std::move(e));
      if (batch.size() == 500) {
        EXPECT_TRUE(store_->InsertEvents(batch).has_value());
        batch.clear();
      }
    }
    if (!batch.empty()) {
      EXPECT_TRUE(store_->InsertEvents(batch).has_value());
    }
    return ids;
  }

  SiemForwarder NewForwarder(const Tenant& t, SyslogTransport tr, const std::string& format,
                             uint16_t port, const std::string& ca = "") {
    SiemForwarder f;
    f.id = "fwd-" + t.name + "-" + format;
    f.tenant_id = t.id;
    f.name = "soc-" + format;
    f.transport = std::string(SyslogTransportName(tr));
    f.host = "127.0.0.1";
    f.port = port;
    f.format = format;
    f.ca_pem = ca;
    f.created_at = f.updated_at = kT0;
    EXPECT_TRUE(store_->CreateSiemForwarder(f).ok());
    return f;
  }

  // Steps the pump until it has nothing left; returns the last error, if any.
  Status Drain(ForwarderPump& pump) {
    for (int i = 0; i < 10'000; ++i) {
      auto n = pump.Step();
      if (!n.has_value()) return n.error();
      if (*n == 0) return Status::Ok();
    }
    return Internal("did not drain");
  }

  // Checks that `lines` are exactly the events `want`, each once, parseable in `format`.
  void ExpectExactly(const std::vector<std::string>& lines, const std::vector<std::string>& want,
                     const std::string& format) {
    std::multiset<std::string> got;
    for (const auto& l : lines) {
      std::string id = EventIdOf(l, format);
      EXPECT_FALSE(id.empty()) << "unparseable: " << l;
      got.insert(id);
    }
    EXPECT_EQ(got.size(), want.size());
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()),
              std::set<std::string>(want.begin(), want.end()));
  }

  TempDir dir_;
  std::string db_url_;
  std::unique_ptr<Store> store_;
  RealClock clock_;
};

struct Case {
  SyslogTransport transport;
  const char* format;
};

class SiemRsyslogTransports : public SiemRsyslog, public ::testing::WithParamInterface<Case> {};

TEST_P(SiemRsyslogTransports, EveryEventOfTheTenantArrivesOnceAndParses) {
  const Case c = GetParam();
  Rsyslog rs(c.transport, dir_);
  uint16_t port = rs.Start();
  ASSERT_NE(port, 0);
  Tenant a = NewTenant("a"), b = NewTenant("b");
  // UDP: fewer events (a datagram may be lost by design; on loopback none should be).
  const int n = c.transport == SyslogTransport::kUdp ? 300 : 3000;
  std::vector<std::string> ids = StoreEvents(a, n, "a");
  StoreEvents(b, 200, "b");
  SiemForwarder f = NewForwarder(a, c.transport, c.format, port,
                                 c.transport == SyslogTransport::kTls ? ReadAll(rs.cert()) : "");
  ForwardingOptions o;
  o.batch = c.transport == SyslogTransport::kUdp ? 50 : 1000;
  ForwarderPump pump(*store_, clock_, f, o);
  ASSERT_TRUE(Drain(pump).ok());
  auto lines = WaitIds(rs, ids, c.format, std::chrono::seconds(30));
  ExpectExactly(lines, ids, c.format);
  auto after = store_->GetSiemForwarder(a.id, f.id);
  EXPECT_EQ(after->sent, n);
  EXPECT_EQ(after->resent, 0);
  EXPECT_EQ(*store_->CountSiemEvents(a.id, after->cursor, 1'000'000), 0);
  // The hostile first event: one line, fields still readable.
  bool found = false;
  for (const auto& l : lines) {
    if (EventIdOf(l, c.format) != "a-000000") continue;
    found = true;
    EXPECT_NE(l.find("a-000000"), std::string::npos);
    if (std::string(c.format) == "cef") {
      EXPECT_NE(l.find("a\\=b|c\\\\d\\ne\\rf"), std::string::npos) << l;
    }
    if (std::string(c.format) == "leef") {
      EXPECT_NE(l.find("a=b|c\\\\d\\ne\\rf\\tg"), std::string::npos) << l;
    }
  }
  EXPECT_TRUE(found);
}

INSTANTIATE_TEST_SUITE_P(
    Receivers, SiemRsyslogTransports,
    ::testing::Values(Case{SyslogTransport::kTcp, "cef"}, Case{SyslogTransport::kTcp, "leef"},
                      Case{SyslogTransport::kUdp, "cef"}, Case{SyslogTransport::kTls, "json"},
                      Case{SyslogTransport::kTls, "cef"}),
    [](const ::testing::TestParamInfo<Case>& i) {
      return std::string(SyslogTransportName(i.param.transport)) + "_" + i.param.format;
    });

TEST_F(SiemRsyslog, TlsRefusesAReceiverWhoseCertificateIsNotTrusted) {
  Rsyslog rs(SyslogTransport::kTls, dir_);
  uint16_t port = rs.Start();
  ASSERT_NE(port, 0);
  Tenant a = NewTenant("a");
  StoreEvents(a, 10, "a");
  SiemForwarder f = NewForwarder(a, SyslogTransport::kTls, "cef", port);  // system CAs only
  ForwarderPump pump(*store_, clock_, f, {});
  Status s = Drain(pump);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  auto after = store_->GetSiemForwarder(a.id, f.id);
  EXPECT_NE(after->last_error.find("certificate"), std::string::npos) << after->last_error;
  EXPECT_EQ(*store_->CountSiemEvents(a.id, after->cursor, 1000), 10);
  EXPECT_TRUE(rs.Lines().empty());
}

TEST_F(SiemRsyslog, ReceiverOutageLosesNothingAndTheBacklogCatchesUp) {
  Rsyslog rs(SyslogTransport::kTcp, dir_);
  uint16_t port = rs.Start();
  ASSERT_NE(port, 0);
  Tenant a = NewTenant("a");
  std::vector<std::string> ids = StoreEvents(a, 500, "a");
  SiemForwarder f = NewForwarder(a, SyslogTransport::kTcp, "cef", port);
  ForwardingOptions o;
  o.batch = 200;
  o.send_timeout = std::chrono::seconds(2);
  ForwarderPump pump(*store_, clock_, f, o);
  ASSERT_TRUE(Drain(pump).ok());
  ASSERT_EQ(rs.WaitLines(500, std::chrono::seconds(30)).size(), 500u);
  rs.Stop();
  // The receiver is down: events keep being stored, forwarding fails and says why.
  std::vector<std::string> more = StoreEvents(a, 5000, "late");
  ids.insert(ids.end(), more.begin(), more.end());
  Status down = Drain(pump);
  EXPECT_EQ(down.code(), StatusCode::kUnavailable);
  down = Drain(pump);  // reconnecting fails too
  EXPECT_EQ(down.code(), StatusCode::kUnavailable);
  auto during = store_->GetSiemForwarder(a.id, f.id);
  EXPECT_FALSE(during->last_error.empty());
  EXPECT_EQ(*store_->CountSiemEvents(a.id, during->cursor, 1'000'000), 5000);
  // Back on the same port: the backlog goes out, nothing lost.
  ASSERT_EQ(rs.Start(port), port);
  ASSERT_TRUE(Drain(pump).ok());
  auto lines = WaitIds(rs, ids, "cef", std::chrono::seconds(30));
  std::multiset<std::string> got;
  for (const auto& l : lines) got.insert(EventIdOf(l, "cef"));
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()),
            std::set<std::string>(ids.begin(), ids.end()));
  auto after = store_->GetSiemForwarder(a.id, f.id);
  const int64_t duplicates = static_cast<int64_t>(got.size()) - static_cast<int64_t>(ids.size());
  EXPECT_LE(duplicates, after->resent);
  EXPECT_EQ(after->last_error, "");
  EXPECT_EQ(*store_->CountSiemEvents(a.id, after->cursor, 1'000'000), 0);
}

// The real ward-manager forwards; kill -9 it in the middle, start it again: every event arrives,
// duplicates only from the batch in flight at the kill, and no more than it counted as resent.
TEST_F(SiemRsyslog, KillNineOfTheManagerLosesNothingAndCountsItsDuplicates) {
  Rsyslog rs(SyslogTransport::kTcp, dir_);
  uint16_t port = rs.Start();
  ASSERT_NE(port, 0);
  // init makes the primary tenant; forwarders go through the API.
  std::string out_file = dir_.Sub("init.out");
  ASSERT_EQ(Child({WARD_MANAGER_BINARY, "init", "--db", db_url_, "--json"}, out_file).Wait(), 0)
      << ReadAll(out_file);
  std::string key;
  {
    std::string o = ReadAll(out_file);
    json j = json::parse(o.substr(0, o.find('\n')), nullptr, false);
    if (j.is_object()) key = j.value("api_key", "");
  }
  ASSERT_FALSE(key.empty()) << ReadAll(out_file);
  auto serve = [&](const std::string& log) {
    return std::make_unique<Child>(
        std::vector<std::string>{WARD_MANAGER_BINARY, "serve", "--db", db_url_, "--listen",
                                 "127.0.0.1:0", "--state-dir", dir_.Sub("state"), "--lease-ttl",
                                 "2s"},
        log);
  };
  auto api_port_of = [](const std::string& log) {
    std::regex listening(R"(listening: https://127\.0\.0\.1:(\d+))");
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      std::smatch sm;
      std::string o = ReadAll(log);
      if (std::regex_search(o, sm, listening)) return std::stoi(sm[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  };
  auto m = serve(dir_.Sub("serve1.log"));
  int api_port = api_port_of(dir_.Sub("serve1.log"));
  ASSERT_NE(api_port, 0) << ReadAll(dir_.Sub("serve1.log"));
  std::string cert = dir_.Sub("state/tls/cert.pem");
  // The tenant's events are stored first, then a forwarder is made to send them all ("oldest"),
  // so that the kill comes in the middle of its work.
  const std::string tenant_id = store_->ListTenants()->front().id;
  Tenant primary = *store_->GetTenant(tenant_id);
  std::vector<std::string> ids = StoreEvents(primary, 100'000, "k");
  test::Reply r = test::Call(api_port, cert, "POST", "/api/v1/siem-forwarders", key,
                             json{{"name", "soc"},
                                  {"transport", "tcp"},
                                  {"host", "127.0.0.1"},
                                  {"port", port},
                                  {"format", "cef"},
                                  {"start", "oldest"}}
                                 .dump());
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["backlog"], 100'000);
  const std::string fwd = r.body["id"];
  // Kill it once a part has arrived (2 MB of messages), while the rest is still being sent.
  std::error_code ec;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto received_bytes = [&] {
    auto n = std::filesystem::file_size(dir_.Sub("rsyslog/out.log"), ec);
    return ec ? 0 : n;
  };
  while (received_bytes() < 2'000'000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  m->Kill(SIGKILL);
  const size_t at_kill = rs.Lines().size();
  EXPECT_GE(at_kill, 1000u);
  EXPECT_LT(at_kill, ids.size()) << "all sent before the kill: the test proves nothing";
  m = serve(dir_.Sub("serve2.log"));
  api_port = api_port_of(dir_.Sub("serve2.log"));
  ASSERT_NE(api_port, 0) << ReadAll(dir_.Sub("serve2.log"));
  auto lines = rs.WaitLines(ids.size(), std::chrono::seconds(90));
  // Wait until the backlog is empty (duplicates make more lines than events).
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto f = store_->GetSiemForwarder(tenant_id, fwd);
    if (f.has_value() && *store_->CountSiemEvents(tenant_id, f->cursor, 1'000'000) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  lines = WaitIds(rs, ids, "cef", std::chrono::seconds(30));
  std::multiset<std::string> got;
  for (const auto& l : lines) got.insert(EventIdOf(l, "cef"));
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()),
            std::set<std::string>(ids.begin(), ids.end()));
  auto f = store_->GetSiemForwarder(tenant_id, fwd);
  const int64_t duplicates = static_cast<int64_t>(got.size()) - static_cast<int64_t>(ids.size());
  EXPECT_LE(duplicates, f->resent);
  EXPECT_LE(f->resent, ForwardingOptions{}.batch);  // at most the one batch in flight at the kill
  std::cout << "kill -9 at " << at_kill << " lines; duplicates " << duplicates << ", resent "
            << f->resent << "\n";
  // Progress and backlog through the API of the second node.
  r = test::Call(api_port, cert, "GET", "/api/v1/siem-forwarders/" + fwd + "/backlog", key);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["backlog"], 0);
  // `sent` counts each event once per batch that moved the cursor: the batch in flight at the
  // kill moved it only once, on the second node.
  EXPECT_EQ(r.body["sent"].get<int64_t>(), static_cast<int64_t>(ids.size()));
  EXPECT_EQ(r.body["resent"].get<int64_t>(), f->resent);
}

}  // namespace
}  // namespace ward::manager::siem

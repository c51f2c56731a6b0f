// The manager's network front under hostile connections (issue #13): idle sockets, stalled TLS
// handshakes, trickled headers, bodies that must never be read, chunked bodies over the limit,
// header limits, per-address connection limits and the throttle on failed authentication.
// Real sockets and TLS on loopback (a raw OpenSSL client, so the test controls every byte), the
// real HttpsServer over a real SQLite store.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "manager/api/manager_api.h"
#include "manager/api/server.h"
#include "manager/services/bootstrap.h"
#include "manager/services/tls.h"
#include "manager/store/store.h"
#include "testing/temp_dir.h"

namespace ward::test {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// A client connection: TCP from a chosen loopback source address, optionally TLS.
class Conn {
 public:
  Conn(int port, const std::string& source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &src.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0;
    timeval tv{10, 0};  // no test ever hangs on a socket
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Conn() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  bool Handshake() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    // TLS 1.2: no session tickets after the handshake, so a readable socket means the server
    // answered or closed.
    SSL_CTX_set_max_proto_version(ctx_, TLS1_2_VERSION);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }
  bool Send(std::string_view data) {
    size_t off = 0;
    while (off < data.size()) {
      int n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
      sent_ += static_cast<size_t>(n);
    }
    return true;
  }
  size_t sent() const { return sent_; }

  // Reads one response (headers, then Content-Length bytes). Status 0 when the connection
  // closed or failed first.
  struct Response {
    int status = 0;
    std::string head;
    std::string body;
    std::string Header(const std::string& name) const {
      std::string lower_head = Lower(head);
      auto pos = lower_head.find("\r\n" + Lower(name) + ":");
      if (pos == std::string::npos) return "";
      pos += name.size() + 3;
      auto end = head.find("\r\n", pos);
      std::string v = head.substr(pos, end - pos);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
    static std::string Lower(std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    }
  };
  Response Read() {
    Response r;
    std::string data;
    char buf[16384];
    size_t header_end = std::string::npos;
    while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return r;
      data.append(buf, static_cast<size_t>(n));
    }
    r.head = data.substr(0, header_end + 2);
    data.erase(0, header_end + 4);
    r.status = std::atoi(r.head.substr(9, 3).c_str());
    size_t length = std::strtoul(r.Header("Content-Length").c_str(), nullptr, 10);
    while (data.size() < length) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return Response{};
      data.append(buf, static_cast<size_t>(n));
    }
    r.body = data.substr(0, length);
    return r;
  }

  // True when the server closes the connection before `deadline` (reading and discarding what
  // arrives; `tls` selects SSL_read over read).
  bool ClosedBy(SteadyClock::time_point deadline, bool tls) {
    char buf[4096];
    for (;;) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return false;
      if (tls && SSL_pending(ssl_) == 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) == 0) return false;
      } else if (!tls) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) == 0) return false;
      }
      ssize_t n = tls ? SSL_read(ssl_, buf, sizeof buf) : ::read(fd_, buf, sizeof buf);
      if (n <= 0) return true;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  size_t sent_ = 0;
};

std::string Request(const std::string& method, const std::string& path, const std::string& key,
                    const std::string& body, const std::string& extra = "") {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!key.empty()) r += "Authorization: Bearer " + key + "\r\n";
  if (!body.empty()) {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + extra + "\r\n" + body;
}

int64_t RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

class ManagerFront : public ::testing::Test {
 protected:
  void StartServer(manager::ServerOptions options, manager::ApiOptions api_options = {}) {
    auto store = manager::Store::Open("sqlite:" + dir_.Sub("manager.db"));
    ASSERT_TRUE(store.has_value());
    store_ = std::move(*store);
    ASSERT_TRUE(store_->Migrate().ok());
    auto boot = manager::InitPrimaryTenant(*store_, SystemClock(), "primary");
    ASSERT_TRUE(boot.has_value());
    key_ = boot->api_key;
    tenant_ = boot->tenant_id;
    auto tls = manager::EnsureSelfSignedCertificate(dir_.path(), "test-host");
    ASSERT_TRUE(tls.has_value());
    api_ = std::make_unique<manager::ManagerApi>(*store_, SystemClock(), api_options);
    auto server =
        manager::HttpsServer::Create(*api_, tls->cert.string(), tls->key.string(), options);
    ASSERT_TRUE(server.has_value()) << server.error().ToString();
    server_ = std::move(*server);
    auto port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.has_value());
    port_ = *port;
  }
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  // One request on a new TLS connection.
  Conn::Response Call(const std::string& method, const std::string& path, const std::string& key,
                      const std::string& body = "", const std::string& source = "127.0.0.1") {
    Conn c(port_, source);
    if (!c.connected() || !c.Handshake()) return {};
    if (!c.Send(Request(method, path, key, body))) return {};
    return c.Read();
  }

  // An activated agent's credential.
  std::string NewAgentCredential() {
    auto t = Call("POST", "/api/v1/activation-tokens", key_, "{}");
    EXPECT_EQ(t.status, 201) << t.body;
    auto token = nlohmann::json::parse(t.body, nullptr, false).value("token", "");
    nlohmann::json act = {{"token", token}, {"hostname", "h1"}, {"machine_id", "m1"}};
    auto a = Call("POST", "/agent/v1/activate", "", act.dump());
    EXPECT_EQ(a.status, 201) << a.body;
    return nlohmann::json::parse(a.body, nullptr, false).value("credential", "");
  }

  TempDir dir_;
  std::unique_ptr<manager::Store> store_;
  std::unique_ptr<manager::ManagerApi> api_;
  std::unique_ptr<manager::HttpsServer> server_;
  int port_ = 0;
  std::string key_;
  std::string tenant_;
};

TEST_F(ManagerFront, IdleAndHalfOpenConnectionsDoNotDelayRequests) {
  manager::ServerOptions o;
  o.threads = 4;  // the old server served one connection per worker: 4 idle sockets silenced it
  StartServer(o);
  std::vector<std::unique_ptr<Conn>> idle;
  for (int i = 0; i < 100; ++i) {  // plain TCP, nothing sent (a stalled TLS handshake)
    idle.push_back(std::make_unique<Conn>(port_));
    ASSERT_TRUE(idle.back()->connected());
  }
  for (int i = 0; i < 50; ++i) {  // TLS established, no request
    idle.push_back(std::make_unique<Conn>(port_));
    ASSERT_TRUE(idle.back()->Handshake());
  }
  for (int i = 0; i < 50; ++i) {  // a request line and half a header, then silence
    idle.push_back(std::make_unique<Conn>(port_));
    ASSERT_TRUE(idle.back()->Handshake());
    ASSERT_TRUE(idle.back()->Send("GET /api/v1/tenants HTTP/1.1\r\nHost: loc"));
  }
  for (int i = 0; i < 10; ++i) {
    auto start = SteadyClock::now();
    auto r = Call("GET", "/api/v1/tenants", key_);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_LT(SteadyClock::now() - start, 2s);
  }
  EXPECT_GE(server_->stats().connections_open, 200u);
}

TEST_F(ManagerFront, StalledTlsHandshakeIsClosedAtItsDeadline) {
  manager::ServerOptions o;
  o.handshake_timeout = 300ms;
  StartServer(o);
  Conn silent(port_);
  Conn partial(port_);
  ASSERT_TRUE(silent.connected() && partial.connected());
  // The first bytes of a TLS record header (handshake, TLS 1.0 record version), then silence.
  ASSERT_EQ(::write(partial.fd(), "\x16\x03\x01", 3), 3);
  auto start = SteadyClock::now();
  EXPECT_TRUE(silent.ClosedBy(start + 5s, false));
  EXPECT_TRUE(partial.ClosedBy(start + 5s, false));
  EXPECT_LT(SteadyClock::now() - start, 3s);
  // The server counts a timeout right after it closes the socket.
  const auto deadline = SteadyClock::now() + 5s;
  while (server_->stats().timeouts < 2 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // polling a counter, bounded
  }
  EXPECT_GE(server_->stats().timeouts, 2u);
}

TEST_F(ManagerFront, TrickledHeadersAreCutAtTheHeaderDeadline) {
  manager::ServerOptions o;
  o.header_timeout = 500ms;
  StartServer(o);
  Conn c(port_);
  ASSERT_TRUE(c.Handshake());
  const std::string request = Request("GET", "/api/v1/tenants", key_, "");
  auto start = SteadyClock::now();
  bool cut = false;
  // One byte every 50 ms would take > 5 s for the whole request; each byte is well inside any
  // per-read timeout, so only a deadline for the whole header stops it.
  for (size_t i = 0; i < request.size() && SteadyClock::now() - start < 5s; ++i) {
    if (!c.Send(std::string_view(request).substr(i, 1))) {
      cut = true;
      break;
    }
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 50) == 1) {  // the server closed (or answered)
      cut = c.ClosedBy(SteadyClock::now() + 2s, true);
      break;
    }
  }
  EXPECT_TRUE(cut);
  EXPECT_LT(SteadyClock::now() - start, 3s);
  const auto deadline = SteadyClock::now() + 5s;
  while (server_->stats().timeouts < 1 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // polling a counter, bounded
  }
  EXPECT_GE(server_->stats().timeouts, 1u);
}

TEST_F(ManagerFront, IdleKeptAliveConnectionIsClosed) {
  manager::ServerOptions o;
  o.keep_alive_timeout = 300ms;
  StartServer(o);
  Conn c(port_);
  ASSERT_TRUE(c.Handshake());
  ASSERT_TRUE(c.Send(Request("GET", "/api/v1/tenants", key_, "")));
  EXPECT_EQ(c.Read().status, 200);
  ASSERT_TRUE(c.Send(Request("GET", "/api/v1/tenants", key_, "")));  // keep-alive works
  EXPECT_EQ(c.Read().status, 200);
  auto start = SteadyClock::now();
  EXPECT_TRUE(c.ClosedBy(start + 5s, true));
  EXPECT_LT(SteadyClock::now() - start, 3s);
}

TEST_F(ManagerFront, UnauthenticatedHugePostIsAnsweredWithoutReadingItsBody) {
  StartServer({});
  const int64_t rss_before = RssKb();
  for (const std::string path : {"/api/v1/policies", "/agent/v1/events"}) {
    Conn c(port_);
    ASSERT_TRUE(c.Handshake());
    // Headers of a 500 MB upload with a wrong credential: the answer comes before any body byte.
    ASSERT_TRUE(c.Send("POST " + path +
                       " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
                       "Content-Type: application/json\r\nContent-Length: 500000000\r\n\r\n"));
    auto r = c.Read();
    EXPECT_EQ(r.status, 401) << path << " " << r.body;
    EXPECT_EQ(r.Header("Connection"), "close");
    // Sending the body anyway goes nowhere: the connection closes.
    const std::string chunk(1 << 20, 'x');
    while (c.sent() < 500u * 1000 * 1000 && c.Send(chunk)) {
    }
    EXPECT_LT(c.sent(), 64u << 20) << path;
  }
  EXPECT_EQ(server_->stats().body_bytes_read, 0u);
  EXPECT_LT(RssKb() - rss_before, 64 * 1024);
}

TEST_F(ManagerFront, ContentLengthOverTheLimitIsRefusedBeforeReading) {
  manager::ApiOptions api;
  api.body_limit = 100 * 1000;
  api.agent_body_limit = 200 * 1000;
  StartServer({}, api);
  const std::string credential = NewAgentCredential();
  const uint64_t read_before = server_->stats().body_bytes_read;
  struct Case {
    std::string path, key;
    int status;
    std::string code;
  };
  for (const Case& k : {Case{"/api/v1/policies", key_, 400, "body_too_large"},
                        Case{"/agent/v1/events", credential, 413, "too_large"}}) {
    Conn c(port_);
    ASSERT_TRUE(c.Handshake());
    ASSERT_TRUE(c.Send("POST " + k.path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + k.key +
                       "\r\nContent-Length: 300001\r\n\r\n"));
    auto r = c.Read();
    EXPECT_EQ(r.status, k.status) << r.body;
    EXPECT_NE(r.body.find(k.code), std::string::npos) << r.body;
    EXPECT_TRUE(c.ClosedBy(SteadyClock::now() + 5s, true));
  }
  EXPECT_EQ(server_->stats().body_bytes_read, read_before);
}

TEST_F(ManagerFront, ChunkedBodyStopsAtTheLimit) {
  manager::ApiOptions api;
  api.body_limit = 100 * 1000;
  StartServer({}, api);
  const uint64_t read_before = server_->stats().body_bytes_read;
  Conn c(port_);
  ASSERT_TRUE(c.Handshake());
  ASSERT_TRUE(c.Send("POST /api/v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                     "\r\nTransfer-Encoding: chunked\r\n\r\n"));
  // 300 KB in 10 KB chunks: three times the limit (the socket buffers take what is not read).
  const std::string chunk = "2800\r\n" + std::string(10240, ' ') + "\r\n";
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(c.Send(chunk));
  auto r = c.Read();
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("body_too_large"), std::string::npos) << r.body;
  const uint64_t read = server_->stats().body_bytes_read - read_before;
  EXPECT_GT(read, 0u);
  EXPECT_LT(read, 100u * 1000 + 64 * 1024);  // the limit plus at most one read
}

TEST_F(ManagerFront, WithinTheLimitChunkedAndGzipBodiesStillWork) {
  StartServer({});
  Conn c(port_);
  ASSERT_TRUE(c.Handshake());
  const std::string body = R"({"name": "p1", "document": {}})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  ASSERT_TRUE(c.Send("POST /api/v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                     "\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"));
  auto cont = c.Read();
  EXPECT_EQ(cont.status, 100);
  ASSERT_TRUE(c.Send(std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n"));
  auto r = c.Read();
  EXPECT_EQ(r.status, 201) << r.body;
  // Kept alive after a body; a large answer is compressed when the client accepts gzip.
  ASSERT_TRUE(c.Send(Request("GET", "/api/v1/openapi.json", "", "", "Accept-Encoding: gzip\r\n")));
  auto doc = c.Read();
  EXPECT_EQ(doc.status, 200);
  EXPECT_EQ(doc.Header("Content-Encoding"), "gzip");
}

TEST_F(ManagerFront, FailedAuthenticationIsThrottledPerAddressAndAudited) {
  manager::ServerOptions o;
  o.auth_failures_per_minute = 5;
  o.audit_interval = 100ms;
  StartServer(o);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Call("GET", "/api/v1/tenants", "wrong-key").status, 401);
  }
  auto throttled = Call("GET", "/api/v1/tenants", "wrong-key");
  EXPECT_EQ(throttled.status, 429) << throttled.body;
  EXPECT_GE(std::atoi(throttled.Header("Retry-After").c_str()), 1);
  // A failed body upload counts too, and its body is not read.
  EXPECT_EQ(Call("POST", "/api/v1/policies", "wrong-key", "{}").status, 429);
  // The address is throttled, whatever key it presents; another address is not.
  EXPECT_EQ(Call("GET", "/api/v1/tenants", key_).status, 429);
  EXPECT_EQ(Call("GET", "/api/v1/tenants", key_, "", "127.0.0.2").status, 200);
  // One audit row for the address, with the counts, in the primary tenant's log.
  nlohmann::json detail;
  const auto deadline = SteadyClock::now() + 10s;
  while (detail.is_null() && SteadyClock::now() < deadline) {
    auto rows = store_->QueryAudit(tenant_, std::nullopt, 100);
    ASSERT_TRUE(rows.has_value());
    int64_t failures = 0, refused = 0;
    for (const auto& e : *rows) {
      if (e.actor != "address:127.0.0.1") continue;
      failures += e.detail.value("failures", int64_t{0});
      refused += e.detail.value("throttled", int64_t{0});
      if (failures == 5 && refused == 3) detail = e.detail;
    }
    if (detail.is_null()) std::this_thread::sleep_for(20ms);  // polling the store, bounded
  }
  ASSERT_FALSE(detail.is_null());
  EXPECT_EQ(detail.value("source_address", ""), "127.0.0.1");
}

TEST_F(ManagerFront, HeaderCountAndSizeAreLimited) {
  manager::ServerOptions o;
  o.max_header_fields = 20;
  o.max_header_bytes = 4096;
  StartServer(o);
  std::string many;
  for (int i = 0; i < 21; ++i) many += "X-F" + std::to_string(i) + ": v\r\n";
  Conn a(port_);
  ASSERT_TRUE(a.Handshake());
  ASSERT_TRUE(a.Send(Request("GET", "/api/v1/tenants", key_, "", many)));
  EXPECT_EQ(a.Read().status, 431);
  Conn b(port_);
  ASSERT_TRUE(b.Handshake());
  ASSERT_TRUE(b.Send(
      Request("GET", "/api/v1/tenants", key_, "", "X-Big: " + std::string(5000, 'a') + "\r\n")));
  EXPECT_EQ(b.Read().status, 431);
  EXPECT_EQ(Call("GET", "/api/v1/tenants", key_).status, 200);
}

TEST_F(ManagerFront, ConnectionsPerAddressAreLimited) {
  manager::ServerOptions o;
  o.max_connections_per_address = 4;
  StartServer(o);
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<Conn>(port_));
    ASSERT_TRUE(held.back()->Handshake());
  }
  Conn fifth(port_);
  EXPECT_TRUE(fifth.ClosedBy(SteadyClock::now() + 5s, false));
  EXPECT_EQ(Call("GET", "/api/v1/tenants", key_, "", "127.0.0.3").status, 200);
  held.clear();
  // Slots free again once the connections close.
  const auto deadline = SteadyClock::now() + 5s;
  int status = 0;
  while (status != 200 && SteadyClock::now() < deadline) {
    status = Call("GET", "/api/v1/tenants", key_).status;
  }
  EXPECT_EQ(status, 200);
  EXPECT_GE(server_->stats().connections_refused, 1u);
}

}  // namespace
}  // namespace ward::test

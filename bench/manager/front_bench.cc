// manager_front_bench: the manager under hostile connections (issue #13), as a client of a
// running `ward-manager serve` (bench/manager/front.sh starts one). Not a test.
//
//   latency: N hostile connections (a third each: stalled mid-TLS-handshake, TLS established and
//            idle, trickling one header byte a second; reopened when the server closes them),
//            from --sources loopback addresses 127.0.0.2.., while an authenticated API request
//            (GET /api/v1/agents) and an agent heartbeat are measured from 127.0.0.1, each on a
//            new TLS connection: p50, p99, max, failures (no answer within --timeout).
//   body-unauth: a 500 MB POST with a wrong key (Content-Length, then chunked), body streamed
//            until the server answers or closes; the server's peak RSS (VmHWM of --pid) before
//            and after.
//   body-auth: four concurrent 100 MB POSTs with a valid key (Content-Length, then chunked).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using SteadyClock = std::chrono::steady_clock;

SSL_CTX* g_ctx = nullptr;
int g_port = 0;

int Connect(const std::string& source, int timeout_s) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(g_port));
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Tls {
  int fd = -1;
  SSL* ssl = nullptr;
  void Close() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
    ssl = nullptr;
    fd = -1;
  }
};

bool Handshake(Tls& t) {
  t.ssl = SSL_new(g_ctx);
  SSL_set_fd(t.ssl, t.fd);
  return SSL_connect(t.ssl) == 1;
}

bool SendAll(SSL* ssl, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    int n = SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off));
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Status and body of one response (0 on failure).
std::pair<int, std::string> ReadResponse(SSL* ssl) {
  std::string data;
  char buf[16384];
  size_t end;
  while ((end = data.find("\r\n\r\n")) == std::string::npos) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return {0, ""};
    data.append(buf, static_cast<size_t>(n));
  }
  std::string head = data.substr(0, end);
  int status = std::atoi(head.c_str() + 9);
  size_t length = 0;
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto p = head.find("content-length:");
  if (p != std::string::npos) length = std::strtoul(head.c_str() + p + 15, nullptr, 10);
  std::string body = data.substr(end + 4);
  while (body.size() < length) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return {0, ""};
    body.append(buf, static_cast<size_t>(n));
  }
  return {status, body};
}

std::string Request(const std::string& method, const std::string& path, const std::string& key,
                    const std::string& body) {
  return method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" +
         (key.empty() ? "" : "Authorization: Bearer " + key + "\r\n") +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::pair<int, std::string> Call(const std::string& method, const std::string& path,
                                 const std::string& key, const std::string& body,
                                 int timeout_s = 30) {
  Tls t;
  t.fd = Connect("127.0.0.1", timeout_s);
  if (t.fd < 0) return {0, ""};
  std::pair<int, std::string> r{0, ""};
  if (Handshake(t) && SendAll(t.ssl, Request(method, path, key, body))) r = ReadResponse(t.ssl);
  t.Close();
  return r;
}

int64_t StatusKb(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atoll(line.c_str() + std::strlen(field));
  }
  return -1;
}

// ---- hostile connections ---------------------------------------------------------------------

enum class Kind { kStalledHandshake, kIdle, kTrickle };
struct Hostile {
  Kind kind;
  std::string source;
  Tls t;
  size_t sent = 0;
  SteadyClock::time_point next;
};

std::atomic<bool> g_stop{false};
std::atomic<int64_t> g_open{0}, g_reopened{0};

bool Open(Hostile& h) {
  h.t.fd = Connect(h.source, 5);
  if (h.t.fd < 0) return false;
  h.sent = 0;
  h.next = SteadyClock::now();
  if (h.kind == Kind::kStalledHandshake) {
    return ::write(h.t.fd, "\x16\x03\x01", 3) == 3;  // a TLS record header, then silence
  }
  return Handshake(h.t);
}

void Attack(std::vector<Hostile>& all) {
  static const std::string kTrickle =
      "GET /api/v1/agents HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + std::string(4000, 'a');
  while (!g_stop) {
    std::vector<pollfd> fds;
    for (auto& h : all) fds.push_back({h.t.fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 100);
    const auto now = SteadyClock::now();
    int64_t open = 0;
    for (size_t i = 0; i < all.size() && !g_stop; ++i) {
      Hostile& h = all[i];
      bool closed = h.t.fd < 0;
      if (!closed && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[4096];
        ssize_t n = ::recv(h.t.fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
        closed = n <= 0 || (fds[i].revents & (POLLHUP | POLLERR)) != 0;
        if (!closed && n > 0) (void)::recv(h.t.fd, buf, sizeof buf, MSG_DONTWAIT);
      }
      if (!closed && h.kind == Kind::kTrickle && now >= h.next) {
        h.next = now + std::chrono::seconds(1);
        closed = !SendAll(h.t.ssl, std::string_view(kTrickle).substr(h.sent % kTrickle.size(), 1));
        ++h.sent;
      }
      if (closed) {
        h.t.Close();
        if (Open(h)) ++g_reopened;
      }
      if (h.t.fd >= 0) ++open;
    }
    g_open = open;
  }
}

struct Figures {
  std::vector<double> ms;
  int failures = 0;
};

void Report(const char* what, Figures f) {
  std::sort(f.ms.begin(), f.ms.end());
  auto pct = [&](double p) {
    return f.ms.empty() ? 0.0
                        : f.ms[std::min(f.ms.size() - 1, static_cast<size_t>(p * f.ms.size()))];
  };
  std::printf("%-10s n=%zu failures=%d p50=%.1f ms p99=%.1f ms max=%.1f ms\n", what,
              f.ms.size() + static_cast<size_t>(f.failures), f.failures, pct(0.5), pct(0.99),
              f.ms.empty() ? 0.0 : f.ms.back());
}

std::string Arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (name == argv[i]) return argv[i + 1];
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  g_port = std::atoi(Arg(argc, argv, "--port", "0").c_str());
  const std::string mode = Arg(argc, argv, "--mode", "latency");
  const std::string key = Arg(argc, argv, "--api-key", "");
  const int pid = std::atoi(Arg(argc, argv, "--pid", "0").c_str());
  const int hostile = std::atoi(Arg(argc, argv, "--hostile", "1000").c_str());
  const int sources = std::atoi(Arg(argc, argv, "--sources", "10").c_str());
  const int requests = std::atoi(Arg(argc, argv, "--requests", "200").c_str());
  const int timeout_s = std::atoi(Arg(argc, argv, "--timeout", "10").c_str());
  if (g_port == 0 || key.empty()) {
    std::fprintf(stderr,
                 "usage: %s --port P --api-key K [--mode latency|body-unauth|body-auth]\n"
                 "  [--pid SERVER_PID] [--hostile 1000] [--sources 10] [--requests 200]\n",
                 argv[0]);
    return 2;
  }
  g_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(g_ctx, TLS1_2_VERSION);  // no post-handshake messages

  if (mode == "latency") {
    // An agent to send heartbeats.
    auto tok = Call("POST", "/api/v1/activation-tokens", key, "{}");
    auto token = nlohmann::json::parse(tok.second, nullptr, false).value("token", "");
    nlohmann::json act = {{"token", token}, {"hostname", "bench"}, {"machine_id", "bench-1"}};
    auto a = Call("POST", "/agent/v1/activate", "", act.dump());
    const std::string credential =
        nlohmann::json::parse(a.second, nullptr, false).value("credential", "");
    if (credential.empty()) {
      std::fprintf(stderr, "activation failed: %d %s\n", a.first, a.second.c_str());
      return 1;
    }
    std::vector<Hostile> all(static_cast<size_t>(hostile));
    for (size_t i = 0; i < all.size(); ++i) {
      all[i].kind = static_cast<Kind>(i % 3);
      all[i].source = "127.0.0." + std::to_string(2 + i % static_cast<size_t>(sources));
      if (Open(all[i])) ++g_open;
    }
    std::printf("hostile connections open: %lld of %d (from %d addresses)\n",
                static_cast<long long>(g_open.load()), hostile, sources);
    std::thread attacker([&] { Attack(all); });
    Figures api, heartbeat;
    const std::string hb =
        R"({"machine_id":"bench-1","status":{"version":"0.1.0","hostname":"bench"}})";
    for (int i = 0; i < requests; ++i) {
      for (int which = 0; which < 2; ++which) {
        auto start = SteadyClock::now();
        auto r = which == 0 ? Call("GET", "/api/v1/agents", key, "", timeout_s)
                            : Call("POST", "/agent/v1/heartbeat", credential, hb, timeout_s);
        double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
        Figures& f = which == 0 ? api : heartbeat;
        if (r.first == 200) {
          f.ms.push_back(ms);
        } else {
          if (f.failures++ == 0) {
            std::fprintf(stderr, "%s: HTTP %d %s\n", which == 0 ? "api" : "heartbeat", r.first,
                         r.second.substr(0, 200).c_str());
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::printf("hostile connections open at the end: %lld (reopened %lld times)\n",
                static_cast<long long>(g_open.load()), static_cast<long long>(g_reopened.load()));
    g_stop = true;
    attacker.join();
    Report("api", api);
    Report("heartbeat", heartbeat);
    for (auto& h : all) h.t.Close();
    return 0;
  }

  auto post = [&](const std::string& bearer, uint64_t size, bool chunked) {
    Tls t;
    t.fd = Connect("127.0.0.1", 30);
    auto start = SteadyClock::now();
    uint64_t sent = 0;
    int status = 0;
    if (t.fd >= 0 && Handshake(t)) {
      std::string head = "POST /api/v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                         bearer + "\r\nContent-Type: application/json\r\n" +
                         (chunked ? std::string("Transfer-Encoding: chunked\r\n")
                                  : "Content-Length: " + std::to_string(size) + "\r\n") +
                         "\r\n";
      if (SendAll(t.ssl, head)) {
        const std::string piece(1 << 20, ' ');
        char hex[32];
        std::snprintf(hex, sizeof hex, "%zx\r\n", piece.size());
        const std::string chunk = std::string(hex) + piece + "\r\n";
        while (sent < size) {
          pollfd p{t.fd, POLLIN, 0};
          if (::poll(&p, 1, 0) == 1) break;  // answered early (TLS 1.2: nothing else arrives)
          if (!SendAll(t.ssl, chunked ? std::string_view(chunk) : std::string_view(piece))) break;
          sent += piece.size();
        }
        if (chunked && sent >= size) (void)SendAll(t.ssl, "0\r\n\r\n");
        status = ReadResponse(t.ssl).first;
      }
    }
    t.Close();
    double s = std::chrono::duration<double>(SteadyClock::now() - start).count();
    std::printf("  %s %s %llu MB: HTTP %d after %.2f s, %llu MB sent\n",
                bearer == key ? "authenticated" : "unauthenticated",
                chunked ? "chunked" : "Content-Length", static_cast<unsigned long long>(size >> 20),
                status, s, static_cast<unsigned long long>(sent >> 20));
  };
  const int64_t rss0 = StatusKb(pid, "VmRSS:"), hwm0 = StatusKb(pid, "VmHWM:");
  std::printf("server RSS before: %lld MB (peak %lld MB)\n", static_cast<long long>(rss0 / 1024),
              static_cast<long long>(hwm0 / 1024));
  if (mode == "body-unauth") {
    post("wrong-key", 500ull << 20, false);
    post("wrong-key", 500ull << 20, true);
  } else {
    for (bool chunked : {false, true}) {
      std::vector<std::thread> ts;
      for (int i = 0; i < 4; ++i) ts.emplace_back([&] { post(key, 100ull << 20, chunked); });
      for (auto& t : ts) t.join();
    }
  }
  const int64_t rss1 = StatusKb(pid, "VmRSS:"), hwm1 = StatusKb(pid, "VmHWM:");
  std::printf("server RSS after: %lld MB (peak %lld MB, +%lld MB)\n",
              static_cast<long long>(rss1 / 1024), static_cast<long long>(hwm1 / 1024),
              static_cast<long long>((hwm1 - hwm0) / 1024));
  return 0;
}

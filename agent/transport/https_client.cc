#include "agent/transport/https_client.h"

#include <fmt/format.h>
#include <httplib.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <mutex>

#include "agent/transport/gzip.h"
#include "common/hash.h"
#include "common/text.h"

namespace ward::agent::transport {

struct HttpsClient::PinState {
  std::mutex mu;
  std::string expected;  // "" = trust on first use
  std::string observed;
  bool mismatch = false;
};

namespace {

int ParsePort(std::string_view text, int fallback, bool* ok) {
  *ok = true;
  if (text.empty()) return fallback;
  int port = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || p != text.data() + text.size() || port < 1 || port > 65535) {
    *ok = false;
  }
  return port;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// Splits "host[:port]" (IPv6 literals in brackets).
Status SplitHostPort(std::string_view hp, int default_port, std::string& host, int& port,
                     std::string_view what) {
  std::string_view port_text;
  if (!hp.empty() && hp.front() == '[') {
    size_t close = hp.find(']');
    if (close == std::string_view::npos)
      return InvalidArgument(fmt::format("{}: unclosed [", what));
    host = std::string(hp.substr(1, close - 1));
    std::string_view rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return InvalidArgument(fmt::format("{}: bad host", what));
      port_text = rest.substr(1);
    }
  } else {
    size_t colon = hp.rfind(':');
    host = std::string(hp.substr(0, colon));
    if (colon != std::string_view::npos) port_text = hp.substr(colon + 1);
  }
  if (host.empty()) return InvalidArgument(fmt::format("{}: no host", what));
  for (char c : host) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '@' || c == '?' || c == '#') {
      return InvalidArgument(fmt::format("{}: bad character in host", what));
    }
  }
  bool ok = true;
  port = ParsePort(port_text, default_port, &ok);
  if (!ok) return InvalidArgument(fmt::format("{}: bad port \"{}\"", what, port_text));
  return Status::Ok();
}

std::string_view StripSlash(std::string_view s) {
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

int VerifyPin(int preverify_ok, X509_STORE_CTX* store) {
  (void)preverify_ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return 0;
  auto* pin = static_cast<HttpsClient::PinState*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (pin == nullptr) return 0;
  if (X509_STORE_CTX_get_error_depth(store) > 0) return 1;  // only the leaf is pinned
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (cert == nullptr) return 0;
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) return 0;
  std::string hex =
      DigestHex(Sha256::Of(std::string_view(reinterpret_cast<const char*>(der), len)));
  OPENSSL_free(der);
  std::lock_guard lock(pin->mu);
  pin->observed = hex;
  if (pin->expected.empty() || pin->expected == hex) {
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  pin->mismatch = true;
  return 0;
}

// A connected TCP socket with send/receive timeouts, or an error.
Result<int> ConnectTcp(const std::string& host, int port, std::chrono::seconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res);
  if (rc != 0) return Unavailable(fmt::format("resolve {}: {}", host, gai_strerror(rc)));
  int err = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      freeaddrinfo(res);
      return fd;
    }
    err = errno;
    ::close(fd);
  }
  freeaddrinfo(res);
  return ErrnoStatus(err, fmt::format("connect {}:{}", host, port));
}

}  // namespace

Result<ProxyConfig> ParseProxyUrl(std::string_view url) {
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return InvalidArgument(
        fmt::format("proxy URL \"{}\": only http:// proxies are supported", url));
  }
  rest = StripSlash(rest);
  ProxyConfig p;
  size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    size_t colon = cred.find(':');
    p.user = PercentDecode(cred.substr(0, colon));
    if (colon != std::string_view::npos) p.password = PercentDecode(cred.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  if (rest.find('/') != std::string_view::npos) {
    return InvalidArgument(fmt::format("proxy URL: a path is not allowed"));
  }
  WARD_RETURN_IF_ERROR(SplitHostPort(rest, 3128, p.host, p.port, "proxy URL"));
  return p;
}

std::string ProxyFromEnvironment() {
  for (const char* name : {"https_proxy", "HTTPS_PROXY"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return v;
  }
  return "";
}

Result<ManagerAddress> ParseManagerUrl(std::string_view url) {
  std::string_view rest = url;
  if (!rest.starts_with("https://")) {
    return InvalidArgument(fmt::format("manager URL \"{}\": must start with https://", url));
  }
  rest.remove_prefix(8);
  rest = StripSlash(rest);
  if (rest.find('/') != std::string_view::npos || rest.find('@') != std::string_view::npos) {
    return InvalidArgument(fmt::format("manager URL \"{}\": expected https://HOST[:PORT]", url));
  }
  ManagerAddress a;
  WARD_RETURN_IF_ERROR(SplitHostPort(rest, 4119, a.host, a.port, "manager URL"));
  return a;
}

Result<std::string> NormalizeFingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return InvalidArgument("fingerprint: expected 64 hex digits (SHA-256), colons allowed");
    }
    out.push_back(c);
  }
  if (out.size() != 64) {
    return InvalidArgument(
        fmt::format("fingerprint: expected 64 hex digits (SHA-256), got {}", out.size()));
  }
  return out;
}

Result<std::unique_ptr<HttpsClient>> HttpsClient::Create(const ClientOptions& options) {
  // OpenSSL writes to the socket with write(): a peer that closed a kept-alive connection would
  // otherwise kill the agent with SIGPIPE. The write then fails with EPIPE and is retried.
  static const bool sigpipe_ignored = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
  std::unique_ptr<HttpsClient> c(new HttpsClient());
  c->options_ = options;
  WARD_ASSIGN_OR_RETURN(c->address_, ParseManagerUrl(options.manager_url));
  if (!options.proxy_url.empty()) {
    WARD_ASSIGN_OR_RETURN(c->proxy_, ParseProxyUrl(options.proxy_url));
  }
  c->pin_ = std::make_unique<PinState>();
  if (!options.fingerprint.empty()) {
    WARD_ASSIGN_OR_RETURN(c->pin_->expected, NormalizeFingerprint(options.fingerprint));
  }
  c->client_ = std::make_unique<httplib::SSLClient>(c->address_.host, c->address_.port);
  auto& cli = *c->client_;
  if (!cli.is_valid()) return Internal("TLS client: cannot create the SSL context");
  cli.enable_server_certificate_verification(false);  // the pin callback decides (see header)
  SSL_CTX* ctx = cli.ssl_context();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_app_data(ctx, c->pin_.get());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &VerifyPin);
  cli.set_connection_timeout(options.connect_timeout);
  cli.set_read_timeout(options.read_timeout);
  cli.set_write_timeout(options.read_timeout);
  // One request per connection: a kept-alive idle connection occupies one of the manager's
  // worker threads (cpp-httplib serves a connection per thread), so a fleet of idle agents
  // would starve it. A TLS handshake per batch (at most one a second) is cheap by comparison.
  cli.set_keep_alive(false);
  // cpp-httplib writes a request's headers and body separately; without TCP_NODELAY the body
  // waits for the manager's delayed ACK (~40 ms per batch).
  cli.set_tcp_nodelay(true);
  if (!c->proxy_.empty()) {
    cli.set_proxy(c->proxy_.host, c->proxy_.port);
    if (!c->proxy_.user.empty()) cli.set_proxy_basic_auth(c->proxy_.user, c->proxy_.password);
  }
  return c;
}

HttpsClient::~HttpsClient() = default;

std::string HttpsClient::observed_fingerprint() const {
  std::lock_guard lock(pin_->mu);
  return pin_->observed;
}

Result<HttpReply> HttpsClient::Post(std::string_view path, std::string_view body,
                                    std::string_view content_type, bool gzip,
                                    std::string_view bearer) {
  {
    std::lock_guard lock(pin_->mu);
    pin_->mismatch = false;
  }
  httplib::Headers headers;
  if (!bearer.empty()) headers.emplace("Authorization", fmt::format("Bearer {}", bearer));
  std::string payload;
  if (gzip) {
    headers.emplace("Content-Encoding", "gzip");
    payload = Gzip(body);
  } else {
    payload = std::string(body);
  }
  auto res = client_->Post(std::string(path), headers, payload, std::string(content_type));
  if (!res) {
    client_->stop();  // start the next request on a fresh connection
    return ExplainFailure(fmt::format("POST {}: {}", path, httplib::to_string(res.error())));
  }
  if (res->status == 407 && !proxy_.empty()) {
    ++proxy_errors_;
    return Unavailable(
        fmt::format("proxy {}:{} refused the credentials (407)", proxy_.host, proxy_.port));
  }
  HttpReply reply;
  reply.status = res->status;
  reply.body = std::move(res->body);
  reply.retry_after = res->get_header_value("Retry-After");
  return reply;
}

Status HttpsClient::ExplainFailure(std::string_view what) {
  {
    std::lock_guard lock(pin_->mu);
    if (pin_->mismatch) {
      return PermissionDenied(fmt::format(
          "{}: the manager's certificate (SHA-256 {}) does not match the pinned fingerprint {}",
          what, pin_->observed, pin_->expected));
    }
  }
  std::string target = fmt::format("{}:{}", address_.host, address_.port);
  if (proxy_.empty()) return Unavailable(fmt::format("{} ({})", what, target));
  auto code = ProbeProxyConnect(proxy_, address_, options_.connect_timeout);
  ++proxy_errors_;
  if (!code) {
    return Unavailable(fmt::format("{}: proxy {}:{} failed: {}", what, proxy_.host, proxy_.port,
                                   code.error().message()));
  }
  switch (*code) {
    case 200:
      --proxy_errors_;  // the proxy let us through: the failure is past it
      return Unavailable(
          fmt::format("{} ({} via proxy {}:{})", what, target, proxy_.host, proxy_.port));
    case 407:
      return Unavailable(fmt::format("{}: proxy {}:{} requires (other) credentials (407)", what,
                                     proxy_.host, proxy_.port));
    case 403:
      return Unavailable(fmt::format("{}: proxy {}:{} refused CONNECT to {} (403)", what,
                                     proxy_.host, proxy_.port, target));
    default:
      return Unavailable(fmt::format("{}: proxy {}:{} answered CONNECT to {} with {}", what,
                                     proxy_.host, proxy_.port, target, *code));
  }
}

Result<int> ProbeProxyConnect(const ProxyConfig& proxy, const ManagerAddress& target,
                              std::chrono::seconds timeout) {
  WARD_ASSIGN_OR_RETURN(int fd, ConnectTcp(proxy.host, proxy.port, timeout));
  std::string hp = target.host.find(':') != std::string::npos
                       ? fmt::format("[{}]:{}", target.host, target.port)
                       : fmt::format("{}:{}", target.host, target.port);
  std::string req = fmt::format("CONNECT {} HTTP/1.1\r\nHost: {}\r\n", hp, hp);
  if (!proxy.user.empty()) {
    req += fmt::format("Proxy-Authorization: Basic {}\r\n",
                       Base64Encode(proxy.user + ":" + proxy.password));
  }
  req += "\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "send CONNECT");
  }
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  // "HTTP/1.1 200 Connection established"
  if (!head.starts_with("HTTP/1.") || head.size() < 12) {
    return Unavailable("proxy: no HTTP answer to CONNECT");
  }
  int code = 0;
  auto [p, ec] = std::from_chars(head.data() + 9, head.data() + 12, code);
  if (ec != std::errc() || p != head.data() + 12)
    return Unavailable("proxy: malformed status line");
  return code;
}

}  // namespace ward::agent::transport

// HttpsClient: HTTPS to the manager, optionally through an HTTP CONNECT proxy, with the manager's
// certificate pinned by the SHA-256 of its DER encoding.
//
// Built on cpp-httplib's SSLClient (0.11.4), which does the CONNECT step (with basic auth) itself
// but has no certificate-verify hook. Pinning is done in OpenSSL directly: httplib's own
// verification is turned off, and the client's SSL_CTX gets SSL_VERIFY_PEER with our callback,
// which every SSL object httplib creates inherits. The callback accepts the handshake only when
// the leaf certificate's fingerprint equals the pin (no CA, no host name: the pin is the
// identity, as with SSH). With no pin (first activation, trust on first use) it accepts any
// certificate and records its fingerprint, which the caller then pins.
// When a request fails and a proxy is configured, the client asks the proxy itself (a plain
// CONNECT on a fresh socket) to tell a proxy refusal (403), an authentication failure (407), a
// proxy that is down, and a proxy that cannot reach the manager (502/503) apart; those failures
// are counted (proxy_errors) and their reason is in the error message.
// Thread-safety: one thread at a time per object; use one object per thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace httplib {
class SSLClient;
}

namespace ward::agent::transport {

struct ProxyConfig {
  std::string host;
  int port = 3128;
  std::string user;
  std::string password;
  bool empty() const { return host.empty(); }
};

// "http://[user:pass@]host[:port][/]"; user and password may be percent-encoded.
Result<ProxyConfig> ParseProxyUrl(std::string_view url);
// $https_proxy, else $HTTPS_PROXY, else "".
std::string ProxyFromEnvironment();

struct ManagerAddress {
  std::string host;
  int port = 4119;
};
// "https://host[:port][/]" (HTTPS only; default port 4119).
Result<ManagerAddress> ParseManagerUrl(std::string_view url);

// 64 lowercase hex digits from hex with or without colons (any case); error otherwise.
Result<std::string> NormalizeFingerprint(std::string_view text);

struct HttpReply {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, when present
};

struct ClientOptions {
  std::string manager_url;
  std::string proxy_url;    // "" = direct
  std::string fingerprint;  // "" = trust on first use
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds read_timeout{30};
};

class HttpsClient {
 public:
  static Result<std::unique_ptr<HttpsClient>> Create(const ClientOptions& options);
  ~HttpsClient();

  // POSTs body; `gzip` compresses it (Content-Encoding: gzip). bearer "" sends no Authorization.
  // Returns the reply for any HTTP status; an error when no HTTP reply came back (network, TLS,
  // pin mismatch — kPermissionDenied —, proxy).
  Result<HttpReply> Post(std::string_view path, std::string_view body,
                         std::string_view content_type, bool gzip, std::string_view bearer);

  // The fingerprint of the certificate the manager presented in the last handshake ("" if none).
  std::string observed_fingerprint() const;
  uint64_t proxy_errors() const { return proxy_errors_.load(); }
  bool via_proxy() const { return !proxy_.empty(); }

  struct PinState;

 private:
  HttpsClient() = default;
  Status ExplainFailure(std::string_view what);

  ClientOptions options_;
  ManagerAddress address_;
  ProxyConfig proxy_;
  std::unique_ptr<PinState> pin_;
  std::unique_ptr<httplib::SSLClient> client_;
  std::atomic<uint64_t> proxy_errors_{0};
};

// Asks the proxy for a CONNECT to host:port on a fresh socket and returns the proxy's status code
// (200 on success), or an error when the proxy cannot be reached.
Result<int> ProbeProxyConnect(const ProxyConfig& proxy, const ManagerAddress& target,
                              std::chrono::seconds timeout);

}  // namespace ward::agent::transport

// HttpsServer: the manager's one listener (TLS 1.2+) in front of ManagerApi. An event-driven
// front on Boost.Asio/Beast (docs/manager.md, "The network front"): a few I/O threads own every
// socket; no thread ever waits on one client. Each connection has deadlines — the TLS handshake,
// the request headers (in total, so trickling bytes does not extend them), the body, and the
// keep-alive idle time — and the front limits connections per source address and in total, and
// the size and number of header fields (431).
//
// Bodies: a request with a body is authenticated on its headers first (ManagerApi::
// CheckBeforeBody, on a worker): an unauthenticated request gets its 401 without one body byte
// being read, and the connection closes. A Content-Length over the path's limit is refused
// before reading (the limit error, connection closed); chunked bodies are counted as they arrive
// and stop at the limit; gzip is inflated with the limit on the output. Memory per request is
// bounded by the limit.
//
// Failed authentication (any 401) is counted per source address (IPv6 per /64): past
// `auth_failures_per_minute` the address gets 429 with Retry-After; the counts go to the log and,
// every `audit_interval`, to the audit log as one row per address.
//
// Complete requests run on a bounded pool of worker threads (`threads`), so handlers stay
// synchronous; when its queue is full the answer is 503 with Retry-After.
// Thread-safety: Start/Stop from one thread; stats() from any.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "manager/api/manager_api.h"

namespace ward::manager {

struct ServerOptions {
  int threads = 8;         // workers running handlers
  int io_threads = 2;      // event loop threads (TLS handshakes, reads, writes)
  size_t queue_limit = 0;  // requests waiting for a worker; 0 = 64 per worker
  std::chrono::milliseconds handshake_timeout{10'000};  // TCP accept to TLS established
  std::chrono::milliseconds header_timeout{10'000};     // first byte to the end of the headers
  std::chrono::milliseconds body_timeout{60'000};       // the whole body
  std::chrono::milliseconds keep_alive_timeout{5'000};  // idle between requests
  std::chrono::milliseconds write_timeout{30'000};      // one response
  int max_connections = 10'000;                         // in total; also capped by RLIMIT_NOFILE
  int max_connections_per_address = 256;
  size_t max_header_bytes = 16 * 1024;  // request line + header fields
  int max_header_fields = 100;
  size_t activate_body_limit = 64 * 1024;  // /agent/v1/activate (read before authentication)
  int auth_failures_per_minute = 30;       // per address; 0 = never throttle
  std::chrono::milliseconds audit_interval{60'000};  // aggregated auth-failure audit rows
};

// Counters since Start, for tests and benchmarks.
struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over the per-address or total limit
  uint64_t connections_open = 0;
  uint64_t timeouts = 0;         // connections closed by a deadline
  uint64_t body_bytes_read = 0;  // request body bytes taken off sockets (after TLS)
  uint64_t requests = 0;         // complete requests handed to a worker
};

class HttpsServer {
 public:
  // REQUIRES: api outlives the server.
  static Result<std::unique_ptr<HttpsServer>> Create(ManagerApi& api, const std::string& cert_file,
                                                     const std::string& key_file,
                                                     ServerOptions options);
  static Result<std::unique_ptr<HttpsServer>> Create(ManagerApi& api, const std::string& cert_file,
                                                     const std::string& key_file, int threads = 8) {
    ServerOptions o;
    o.threads = threads;
    return Create(api, cert_file, key_file, o);
  }
  ~HttpsServer();

  // Binds host:port (port 0 picks a free one) and serves on background threads.
  // Returns the bound port.
  Result<int> Start(const std::string& host, int port);
  // Stops accepting, finishes in-flight requests, writes the pending audit rows and joins the
  // threads. Idempotent.
  void Stop();

  ServerStats stats() const;

  struct Front;  // the implementation (server.cc)

 private:
  HttpsServer() = default;
  std::unique_ptr<Front> front_;
};

}  // namespace ward::manager

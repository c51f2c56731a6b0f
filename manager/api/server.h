// HttpsServer: the manager's one listener (TLS 1.2+, cpp-httplib SSLServer) in front of
// ManagerApi. It reads each body with the limit that applies to its path, counting the bytes
// after decompression (gzip is inflated here, bounded, so a gzip bomb stops at the limit), turns
// the request into an HttpRequest, and writes the HttpResponse back. A handler that throws (it
// should not) answers 500; nothing a client sends stops the server.
// Thread-safety: Start/Stop from one thread; requests are served on a pool of threads.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "manager/api/manager_api.h"

namespace httplib {
class SSLServer;
}

namespace ward::manager {

class HttpsServer {
 public:
  // REQUIRES: api outlives the server.
  static Result<std::unique_ptr<HttpsServer>> Create(ManagerApi& api, const std::string& cert_file,
                                                     const std::string& key_file, int threads = 8);
  ~HttpsServer();

  // Binds host:port (port 0 picks a free one) and serves on a background thread.
  // Returns the bound port.
  Result<int> Start(const std::string& host, int port);
  // Stops accepting, finishes in-flight requests and joins the thread. Idempotent.
  void Stop();

 private:
  HttpsServer() = default;
  ManagerApi* api_ = nullptr;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
};

}  // namespace ward::manager

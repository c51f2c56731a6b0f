#include "manager/api/server.h"

#include <httplib.h>
#include <openssl/ssl.h>

#include <charconv>

#include "common/log.h"
#include "manager/api/event_batch.h"

namespace ward::manager {
namespace {

constexpr const char* kEncodingHeader = "X-Ward-Original-Content-Encoding";

HttpRequest ToRequest(const httplib::Request& r) {
  HttpRequest out;
  out.method = r.method;
  out.path = r.path;
  for (const auto& [k, v] : r.params) out.query.emplace_back(k, v);
  for (const auto& [k, v] : r.headers) out.headers.Add(k, v);
  out.remote_addr = r.remote_addr;
  return out;
}

void WriteResponse(const HttpResponse& in, httplib::Response& out) {
  out.status = in.status;
  for (const auto& [k, v] : in.headers) out.set_header(k, v);
  if (!in.content_type.empty()) out.set_content(in.body, in.content_type);
}

ApiError TooLarge(bool agent, size_t limit) {
  if (agent) {
    return {413, "too_large", fmt::format("body larger than {} bytes", limit), "body"};
  }
  return {400, "body_too_large", fmt::format("body: larger than {} bytes", limit), "body"};
}

// Reads the body (bounded) and decodes its Content-Encoding. Sets req.body or req.body_error.
void ReadBody(const httplib::Request& r, const httplib::ContentReader& reader, size_t limit,
              HttpRequest& req) {
  const bool agent = req.path.starts_with("/agent/");
  auto bad = [&](std::string message) {
    req.body_error = ApiError{400, agent ? "invalid" : "invalid_body", std::move(message), "body"};
  };
  std::string encoding = r.get_header_value(kEncodingHeader);
  if (!encoding.empty() && encoding != "gzip" && encoding != "x-gzip" && encoding != "identity") {
    bad(fmt::format("Content-Encoding {} not supported (use gzip)", encoding.substr(0, 32)));
    return;
  }
  // Over the limit, the rest of the body is still read (up to kDrain more bytes) and dropped, so
  // that the client, still sending, gets to read the answer; beyond that the connection is cut.
  constexpr uint64_t kDrain = 16 << 20;
  if (r.has_header("Content-Length")) {
    const std::string& cl = r.get_header_value("Content-Length");
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (ec != std::errc() || p != cl.data() + cl.size()) {
      bad("Content-Length: not a number");
      return;
    }
    if (n > limit) {
      req.body_error = TooLarge(agent, limit);
      if (n <= limit + kDrain) (void)reader([](const char*, size_t) { return true; });
      return;
    }
  }
  std::string raw;
  bool over = false;
  uint64_t drained = 0;
  bool ok = reader([&](const char* data, size_t len) {
    if (!over && raw.size() + len <= limit) {
      raw.append(data, len);
      return true;
    }
    over = true;
    raw.clear();
    drained += len;
    return drained <= kDrain;
  });
  if (over) {
    req.body_error = TooLarge(agent, limit);
    return;
  }
  if (!ok) {
    bad("body could not be read");
    return;
  }
  if (encoding == "gzip" || encoding == "x-gzip") {
    auto inflated = GunzipBounded(raw, limit);
    if (!inflated) {
      if (inflated.error().code() == StatusCode::kFailedPrecondition) {
        req.body_error = TooLarge(agent, limit);
      } else {
        bad(fmt::format("body: {}", inflated.error().message()));
      }
      return;
    }
    req.body = std::move(*inflated);
  } else {
    req.body = std::move(raw);
  }
}

}  // namespace

Result<std::unique_ptr<HttpsServer>> HttpsServer::Create(ManagerApi& api,
                                                         const std::string& cert_file,
                                                         const std::string& key_file, int threads) {
  std::unique_ptr<HttpsServer> s(new HttpsServer());
  s->api_ = &api;
  s->server_ = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
  if (!s->server_->is_valid()) {
    return InvalidArgument(
        fmt::format("cannot load TLS certificate {} and key {}", cert_file, key_file));
  }
  SSL_CTX* ctx = s->server_->ssl_context();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  auto& srv = *s->server_;
  const int n = std::max(2, threads);
  srv.new_task_queue = [n] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  srv.set_payload_max_length(std::max(api.options().body_limit, api.options().agent_body_limit) +
                             1);
  srv.set_read_timeout(30, 0);
  srv.set_write_timeout(30, 0);
  // cpp-httplib serves one connection per worker thread: an idle kept-alive connection holds a
  // worker, so idle connections are closed soon.
  srv.set_keep_alive_timeout(5);
  // cpp-httplib writes a response's headers and body separately: with Nagle's algorithm on, the
  // body waits for the client's delayed ACK (~40 ms per request on Linux).
  srv.set_tcp_nodelay(true);
  // cpp-httplib would inflate gzip bodies itself with no bound on the output; hide the header so
  // the raw bytes reach ReadBody, which inflates them with the path's limit.
  srv.set_pre_routing_handler([](const httplib::Request& r, httplib::Response&) {
    auto& req = const_cast<httplib::Request&>(r);  // the request object itself is not const
    auto it = req.headers.find("Content-Encoding");
    if (it != req.headers.end()) {
      std::string v = it->second;
      req.headers.erase(it);
      req.headers.emplace(kEncodingHeader, v);
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  HttpsServer* self = s.get();
  auto plain = [self](const httplib::Request& r, httplib::Response& res) {
    HttpRequest req = ToRequest(r);
    req.body = r.body.size() <= self->api_->BodyLimitFor(r.path) ? r.body : std::string();
    WriteResponse(self->api_->Handle(req), res);
  };
  auto with_body = [self](const httplib::Request& r, httplib::Response& res,
                          const httplib::ContentReader& reader) {
    HttpRequest req = ToRequest(r);
    ReadBody(r, reader, self->api_->BodyLimitFor(r.path), req);
    HttpResponse out = self->api_->Handle(req);
    if (req.body_error) out.headers.Add("Connection", "close");
    WriteResponse(out, res);
  };
  const std::string any = R"(/.*)";
  srv.Get(any, plain);
  srv.Post(any, with_body);
  srv.Put(any, with_body);
  srv.Patch(any, with_body);
  srv.Delete(any, with_body);
  srv.Delete(any, plain);
  srv.set_exception_handler(
      [](const httplib::Request& r, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("{} {}: exception: {}", r.method, r.path, what);
        WriteResponse(ErrorResponse({500, "internal", "internal error", ""}), res);
      });
  srv.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        int st = res.status;
        std::string code = st == 404 ? "not_found" : st == 413 ? "too_large" : "invalid";
        WriteResponse(ErrorResponse({st, code, fmt::format("HTTP error {}", st), ""}), res);
        return httplib::Server::HandlerResponse::Handled;
      }));
  return s;
}

HttpsServer::~HttpsServer() { Stop(); }

Result<int> HttpsServer::Start(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
    if (bound <= 0) return Unavailable(fmt::format("cannot bind {}:0", host));
  } else if (!server_->bind_to_port(host, port)) {
    return Unavailable(fmt::format("cannot bind {}:{}", host, port));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

void HttpsServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ward::manager

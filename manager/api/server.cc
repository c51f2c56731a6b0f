#include "manager/api/server.h"

#include <sys/resource.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "manager/api/event_batch.h"
#include "manager/auth/auth_failures.h"
#include "manager/net/http_head.h"
#include "manager/net/worker_pool.h"

namespace ward::manager {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

using Clock = std::chrono::steady_clock;
using Parser = http::request_parser<http::string_body>;
using Response = http::response<http::string_body>;

// Answers shorter than this are not worth compressing.
constexpr size_t kGzipMinBytes = 1024;
// How long a refused connection stays open after its answer, so the answer is delivered before
// the close (the unread body would otherwise make the kernel reset the connection at once).
constexpr auto kRefusalLinger = std::chrono::milliseconds(1000);

ApiError TooLarge(bool agent, size_t limit) {
  if (agent) {
    return {413, "too_large", fmt::format("body larger than {} bytes", limit), "body"};
  }
  return {400, "body_too_large", fmt::format("body: larger than {} bytes", limit), "body"};
}

// Decodes the body's Content-Encoding (gzip inflated with the limit on the output). Sets
// req.body or req.body_error.
void DecodeBody(const std::string& encoding, std::string raw, size_t limit, HttpRequest& req) {
  const bool agent = req.path.starts_with("/agent/");
  auto bad = [&](std::string message) {
    req.body_error = ApiError{400, agent ? "invalid" : "invalid_body", std::move(message), "body"};
  };
  if (!encoding.empty() && encoding != "gzip" && encoding != "x-gzip" && encoding != "identity") {
    bad(fmt::format("Content-Encoding {} not supported (use gzip)", encoding.substr(0, 32)));
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

std::optional<std::string> Gzip(std::string_view in) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

// "gzip" listed in Accept-Encoding and not refused with q=0.
bool AcceptsGzip(std::string_view accept) {
  std::string lower(accept);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto pos = lower.find("gzip");
  if (pos == std::string::npos) return false;
  const auto end = lower.find(',', pos);
  const std::string params =
      lower.substr(pos + 4, end == std::string::npos ? std::string::npos : end - pos - 4);
  const auto q = params.find("q=");
  if (q == std::string::npos) return true;
  return std::strtod(params.c_str() + q + 2, nullptr) > 0;
}

bool IsHttpSyntaxError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

bool Compressible(std::string_view content_type) {
  return content_type.starts_with("application/json") || content_type.starts_with("text/");
}

std::shared_ptr<Response> MakeResponse(const HttpResponse& in, unsigned version, bool keep_alive,
                                       bool gzip_ok) {
  auto res = std::make_shared<Response>();
  res->version(version);
  res->result(static_cast<unsigned>(in.status));
  for (const auto& [k, v] : in.headers) {
    if (beast::iequals(k, "Connection") || beast::iequals(k, "Content-Length") ||
        beast::iequals(k, "Transfer-Encoding")) {
      continue;
    }
    res->insert(k, v);
  }
  if (!in.content_type.empty()) {
    res->set(http::field::content_type, in.content_type);
    std::string body = in.body;
    if (gzip_ok && body.size() >= kGzipMinBytes && Compressible(in.content_type) &&
        !in.headers.Has("Content-Encoding")) {
      if (auto z = Gzip(body)) {
        body = std::move(*z);
        res->set(http::field::content_encoding, "gzip");
        res->set(http::field::vary, "Accept-Encoding");
      }
    }
    res->body() = std::move(body);
  }
  res->keep_alive(keep_alive);
  res->prepare_payload();
  return res;
}

// IPv4 (and IPv4-mapped IPv6) addresses as themselves; other IPv6 addresses as their /64, the
// unit a single host or site usually holds.
std::string AddressKey(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_string();
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes).to_string() + "/64";
}

std::string AddressText(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

}  // namespace

struct HttpsServer::Front {
  Front(ManagerApi& a, ServerOptions o)
      : api(a), opt(o), throttle(o.auth_failures_per_minute, SystemClock()) {}
  ~Front() {
    // Pending handlers own sessions, whose destructors use the connection table: destroy the
    // event loop while everything else is still alive.
    acceptor.reset();
    audit_timer.reset();
    ioc.reset();
    tls.reset();
    pool.reset();
  }

  // Counts a new connection from `key`; false when a limit is reached.
  bool Admit(const std::string& key) {
    std::lock_guard lock(conn_mu);
    int& n = per_address[key];
    if (total >= max_total || n >= opt.max_connections_per_address) {
      if (n == 0) per_address.erase(key);
      return false;
    }
    ++n;
    ++total;
    return true;
  }
  void Release(const std::string& key) {
    std::lock_guard lock(conn_mu);
    auto it = per_address.find(key);
    if (it != per_address.end() && --it->second <= 0) per_address.erase(it);
    --total;
  }

  void DoAccept();
  void ScheduleAudit();
  void FlushAudit() { api.AuditAuthFailures(throttle.TakeSummaries()); }

  ManagerApi& api;
  const ServerOptions opt;
  AuthFailureThrottle throttle;
  std::atomic<uint64_t> accepted{0}, refused{0}, open{0}, timeouts{0}, body_bytes{0}, requests{0};
  std::atomic<int64_t> responding{0};  // requests handed to a worker, answer not yet written
  std::atomic<bool> stopping{false};   // streamed answers stop at their next piece
  std::mutex conn_mu;
  std::unordered_map<std::string, int> per_address;
  int total = 0;
  int max_total = 0;

  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<ssl::context> tls;
  std::unique_ptr<asio::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> audit_timer;
  std::unique_ptr<asio::steady_timer> accept_retry;
  std::vector<std::thread> io_threads;
  bool started = false;
  bool stopped = false;
};

namespace {

// One client connection. Lives on its own strand; owned by the pending asynchronous operation
// (shared_from_this), so it ends when nothing waits on it any more.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpsServer::Front& f, tcp::socket socket, std::string key, std::string remote)
      : f_(f),
        stream_(std::move(socket), *f.tls),
        buffer_(f.opt.max_header_bytes + 64 * 1024),
        key_(std::move(key)),
        remote_(std::move(remote)),
        linger_(stream_.get_executor()) {
    ++f_.open;
  }
  ~Session() {
    --f_.open;
    f_.Release(key_);
  }

  void Start() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(stream_).expires_after(f_.opt.handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code e) {
                              if (e) return self->Fail(e);
                              self->ReadRequest();
                            });
  }

 private:
  void Fail(beast::error_code ec) {
    if (ec == beast::error::timeout) ++f_.timeouts;
    // Nothing more to do: the session ends when this handler returns.
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(f_.opt.max_header_bytes));
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // checked against the path's
                                                                     // limit after the headers
    close_after_ = false;
    if (!first_ && buffer_.size() == 0) {
      // Keep-alive: wait for the next request's first bytes for the idle time only.
      beast::get_lowest_layer(stream_).expires_after(f_.opt.keep_alive_timeout);
      stream_.async_read_some(buffer_.prepare(std::min<size_t>(4096, buffer_.max_size())),
                              [self = shared_from_this()](beast::error_code ec, size_t n) {
                                if (ec) return;  // idle connection closed (or the client went away)
                                self->buffer_.commit(n);
                                self->ReadHeader();
                              });
      return;
    }
    ReadHeader();
  }

  void ReadHeader() {
    // One deadline for the whole header: trickling bytes does not extend it.
    beast::get_lowest_layer(stream_).expires_after(f_.opt.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return Refuse(ErrorResponse(
          {431, "headers_too_large",
           fmt::format("request headers larger than {} bytes", f_.opt.max_header_bytes), ""}));
    }
    if (ec == beast::error::timeout) return Fail(ec);
    if (ec && IsHttpSyntaxError(ec)) {
      return Refuse(
          ErrorResponse({400, "bad_request", "malformed HTTP request: " + ec.message(), ""}));
    }
    if (ec) return Fail(ec);
    first_ = false;
    auto& h = parser_->get();
    const auto fields = static_cast<size_t>(std::distance(h.begin(), h.end()));
    if (fields > static_cast<size_t>(f_.opt.max_header_fields)) {
      return Refuse(ErrorResponse(
          {431, "headers_too_large",
           fmt::format("more than {} request header fields", f_.opt.max_header_fields), ""}));
    }
    version_ = h.version();
    keep_alive_ = h.keep_alive();
    head_ = HttpRequest{};
    head_.method = std::string(h.method_string());
    if (!SplitTarget(h.target(), head_.path, head_.query)) {
      return Refuse(ErrorResponse({400, "bad_request", "malformed request target", ""}));
    }
    for (const auto& field : h) {
      head_.headers.Add(std::string(field.name_string()), std::string(field.value()));
    }
    head_.remote_addr = remote_;
    encoding_ = std::string(h[http::field::content_encoding]);
    gzip_ok_ = AcceptsGzip(h[http::field::accept_encoding]);
    expect_continue_ = beast::iequals(h[http::field::expect], "100-continue");
    if (int wait = f_.throttle.Check(key_); wait > 0) {
      HttpResponse r =
          ErrorResponse({429, "rate_limited",
                         fmt::format("too many failed authentications; retry in {} s", wait), ""});
      r.headers.Add("Retry-After", std::to_string(wait));
      return Refuse(r);
    }
    const bool has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;
    if (!has_body) {
      // Headers only: the handler authenticates as usual.
      return Dispatch(std::string());
    }
    limit_ = f_.api.BodyLimitFor(head_.path);
    if (head_.path == "/agent/v1/activate") limit_ = std::min(limit_, f_.opt.activate_body_limit);
    // Authenticate on the headers (a store lookup: on a worker) before reading any body byte.
    HttpRequest head = head_;
    bool queued = f_.pool->TrySubmit([self = shared_from_this(), head = std::move(head)] {
      std::optional<HttpResponse> answer;
      try {
        answer = self->f_.api.CheckBeforeBody(head);
      } catch (const std::exception& e) {
        spdlog::error("{} {}: exception: {}", head.method, head.path, e.what());
        answer = ErrorResponse({500, "internal", "internal error", ""});
      }
      asio::post(self->stream_.get_executor(),
                 [self, answer = std::move(answer)]() mutable { self->OnChecked(answer); });
    });
    if (!queued) return Busy();
  }

  void OnChecked(std::optional<HttpResponse>& answer) {
    if (answer) {
      if (answer->status == 401 && answer->counts_as_auth_failure) {
        f_.throttle.RecordFailure(key_);
      }
      return Refuse(*answer);
    }
    const bool agent = head_.path.starts_with("/agent/");
    auto length = parser_->content_length();
    if (length && *length > limit_) {
      // Refused by its length, before reading: the handler answers (after its checks).
      head_.body_error = TooLarge(agent, limit_);
      close_after_ = true;
      return Dispatch(std::string());
    }
    if (expect_continue_) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      beast::get_lowest_layer(stream_).expires_after(f_.opt.write_timeout);
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) return self->Fail(ec);
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    parser_->body_limit(limit_);  // chunked bodies stop here as they stream
    beast::get_lowest_layer(stream_).expires_after(f_.opt.body_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnBody(ec, n); });
  }

  void OnBody(beast::error_code ec, size_t n) {
    f_.body_bytes += n;
    if (ec == http::error::body_limit) {
      head_.body_error = TooLarge(head_.path.starts_with("/agent/"), limit_);
      close_after_ = true;
      return Dispatch(std::string());
    }
    if (ec == beast::error::timeout) return Fail(ec);
    if (ec && IsHttpSyntaxError(ec)) {
      return Refuse(ErrorResponse({400, "bad_request", "malformed request body framing", ""}));
    }
    if (ec) return Fail(ec);
    Dispatch(std::move(parser_->get().body()));
  }

  // Hands the complete request to a worker; the answer comes back to this strand.
  void Dispatch(std::string raw) {
    ++f_.requests;
    ++f_.responding;
    const bool keep = keep_alive_ && !close_after_;
    bool queued = f_.pool->TrySubmit([self = shared_from_this(), req = std::move(head_),
                                      raw = std::move(raw), encoding = encoding_, limit = limit_,
                                      keep, version = version_, gzip_ok = gzip_ok_]() mutable {
      if (!req.body_error && !raw.empty()) DecodeBody(encoding, std::move(raw), limit, req);
      HttpResponse out;
      try {
        out = self->f_.api.Handle(req);
      } catch (const std::exception& e) {
        spdlog::error("{} {}: exception: {}", req.method, req.path, e.what());
        out = ErrorResponse({500, "internal", "internal error", ""});
      }
      if (out.status == 401 && out.counts_as_auth_failure) {
        self->f_.throttle.RecordFailure(self->key_);
      }
      if (out.stream && req.method != "HEAD") {
        self->Stream(out, version, keep && !req.body_error);
        return;
      }
      out.stream = nullptr;
      auto res = MakeResponse(out, version, keep && !req.body_error, gzip_ok);
      if (req.method == "HEAD") res->body().clear();  // Content-Length stays, no body
      const bool close = !res->keep_alive();
      asio::post(self->stream_.get_executor(), [self, res = std::move(res), close]() mutable {
        self->Write(std::move(res), close, true);
      });
    });
    if (!queued) {
      --f_.responding;
      Busy();
    }
  }

  // Runs on a worker: sends `out` with chunked transfer coding, one piece of out.stream at a time,
  // each written (on the strand) before the next is produced, so at most one piece is held.
  void Stream(HttpResponse& out, unsigned version, bool keep) {
    auto header = std::make_shared<http::response<http::empty_body>>();
    header->version(version);
    header->result(static_cast<unsigned>(out.status));
    for (const auto& [k, v] : out.headers) {
      if (beast::iequals(k, "Connection") || beast::iequals(k, "Content-Length") ||
          beast::iequals(k, "Transfer-Encoding")) {
        continue;
      }
      header->insert(k, v);
    }
    if (!out.content_type.empty()) header->set(http::field::content_type, out.content_type);
    header->keep_alive(keep);
    header->chunked(true);
    // Keeps the I/O threads running until this answer is done: between two writes the stream has
    // no operation pending, and during Stop() the event loop would otherwise run out of work and
    // leave this worker waiting for a write that never starts.
    auto work = asio::make_work_guard(*f_.ioc);
    http::response_serializer<http::empty_body> serializer(*header);
    bool ok =
        WriteFromWorker([&](auto done) { http::async_write_header(stream_, serializer, done); });
    // Two pieces: the next one is produced (database, formatting) while the previous one is
    // encrypted and sent by the I/O thread; one write at a time on the stream.
    std::string pieces[2];
    int cur = 0;
    std::future<bool> sending;  // the write of pieces[1 - cur]
    auto wait_sent = [&] {
      if (sending.valid() && !sending.get()) ok = false;
    };
    while (ok) {
      if (f_.stopping.load()) {
        ok = false;
        break;
      }
      std::string& piece = pieces[cur];
      piece.clear();
      Result<bool> more = false;
      try {
        more = out.stream(piece);
      } catch (const std::exception& e) {
        more = Internal(e.what());
      }
      if (!more) {
        spdlog::warn("streamed answer cut short: {}", more.error().ToString());
        ok = false;
        break;
      }
      wait_sent();
      if (!ok) break;
      if (!piece.empty()) sending = StartChunk(piece);
      if (!*more) {
        wait_sent();
        if (ok) {
          ok = WriteFromWorker(
              [&](auto done) { asio::async_write(stream_, http::make_chunk_last(), done); });
        }
        break;
      }
      cur = 1 - cur;
    }
    wait_sent();  // no write may outlive the pieces it sends
    asio::post(stream_.get_executor(), [self = shared_from_this(), ok, keep] {
      --self->f_.responding;
      if (ok && keep) return self->ReadRequest();
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
  }

  // Starts writing `piece` as one chunk (on the strand, with the write deadline); the future says
  // whether all of it was written. `piece` must stay unchanged until then.
  std::future<bool> StartChunk(const std::string& piece) {
    auto written = std::make_shared<std::promise<bool>>();
    auto result = written->get_future();
    asio::post(stream_.get_executor(), [this, &piece, written] {
      beast::get_lowest_layer(stream_).expires_after(f_.opt.write_timeout);
      asio::async_write(stream_, http::make_chunk(asio::buffer(piece)),
                        [written](beast::error_code ec, size_t) { written->set_value(!ec); });
    });
    return result;
  }

  // Starts `op(handler)` on the strand with the write deadline and waits for it: true when it
  // wrote everything. Called from a worker only (never from the strand itself).
  template <typename Op>
  bool WriteFromWorker(Op op) {
    std::promise<bool> written;
    auto result = written.get_future();
    asio::post(stream_.get_executor(), [this, &op, &written] {
      beast::get_lowest_layer(stream_).expires_after(f_.opt.write_timeout);
      op([&written](beast::error_code ec, size_t) { written.set_value(!ec); });
    });
    return result.get();
  }

  void Busy() {
    HttpResponse r = ErrorResponse({503, "unavailable", "the manager is busy; retry shortly", ""});
    r.headers.Add("Retry-After", "1");
    Refuse(r);
  }

  // Answers and closes without reading anything more from the client.
  void Refuse(const HttpResponse& r) {
    Write(MakeResponse(r, version_ ? version_ : 11, false, false), true, false);
  }

  void Write(std::shared_ptr<Response> res, bool close, bool counted) {
    beast::get_lowest_layer(stream_).expires_after(f_.opt.write_timeout);
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res, close, counted](beast::error_code ec, size_t) {
          if (counted) --self->f_.responding;
          if (ec) return self->Fail(ec);
          if (close) return self->Linger();
          self->ReadRequest();
        });
  }

  // Sends FIN after the answer and closes a little later without reading: an unread body in the
  // receive queue makes close() reset the connection, which must not overtake the answer.
  void Linger() {
    beast::error_code ec;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_send, ec);
    beast::get_lowest_layer(stream_).expires_never();
    linger_.expires_after(kRefusalLinger);
    linger_.async_wait([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
  }

  HttpsServer::Front& f_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  std::string key_;
  std::string remote_;
  asio::steady_timer linger_;
  HttpRequest head_;
  std::string encoding_;
  size_t limit_ = 0;
  unsigned version_ = 11;
  bool first_ = true;
  bool keep_alive_ = false;
  bool close_after_ = false;
  bool gzip_ok_ = false;
  bool expect_continue_ = false;
};

}  // namespace

void HttpsServer::Front::DoAccept() {
  acceptor->async_accept(asio::make_strand(*ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: try again shortly instead of spinning.
      spdlog::warn("accept: {}", ec.message());
      accept_retry->expires_after(std::chrono::milliseconds(50));
      accept_retry->async_wait([this](beast::error_code e) {
        if (!e) DoAccept();
      });
      return;
    }
    beast::error_code pe;
    auto peer = socket.remote_endpoint(pe);
    if (!pe) {
      std::string key = AddressKey(peer.address());
      if (Admit(key)) {
        ++accepted;
        std::make_shared<Session>(*this, std::move(socket), std::move(key),
                                  AddressText(peer.address()))
            ->Start();
      } else {
        ++refused;
        beast::error_code ignored;
        socket.set_option(asio::socket_base::linger(true, 0), ignored);
        socket.close(ignored);
      }
    }
    DoAccept();
  });
}

void HttpsServer::Front::ScheduleAudit() {
  audit_timer->expires_after(opt.audit_interval);
  audit_timer->async_wait([this](beast::error_code ec) {
    if (ec) return;
    auto summaries = throttle.TakeSummaries();
    if (!summaries.empty() &&
        !pool->TrySubmit([this, s = std::move(summaries)] { api.AuditAuthFailures(s); })) {
      spdlog::warn("audit of authentication failures delayed: workers busy");
    }
    ScheduleAudit();
  });
}

Result<std::unique_ptr<HttpsServer>> HttpsServer::Create(ManagerApi& api,
                                                         const std::string& cert_file,
                                                         const std::string& key_file,
                                                         ServerOptions options) {
  std::unique_ptr<HttpsServer> s(new HttpsServer());
  options.threads = std::max(1, options.threads);
  options.io_threads = std::max(1, options.io_threads);
  if (options.queue_limit == 0) options.queue_limit = 64 * static_cast<size_t>(options.threads);
  s->front_ = std::make_unique<Front>(api, options);
  Front& f = *s->front_;
  beast::error_code ec;
  f.tls = std::make_unique<ssl::context>(ssl::context::tls_server);
  f.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::single_dh_use,
                     ec);
  SSL_CTX_set_min_proto_version(f.tls->native_handle(), TLS1_2_VERSION);
  f.tls->use_certificate_chain_file(cert_file, ec);
  if (!ec) f.tls->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(f.tls->native_handle()) != 1) {
    return InvalidArgument(
        fmt::format("cannot load TLS certificate {} and key {}", cert_file, key_file));
  }
  // Every connection holds a descriptor: use what the system allows, keep some for the database
  // and files, and never promise more connections than that.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      (void)setrlimit(RLIMIT_NOFILE, &rl);
      (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    const auto usable = static_cast<int64_t>(rl.rlim_cur) - 128;
    f.max_total = static_cast<int>(std::clamp<int64_t>(usable, 16, options.max_connections));
  } else {
    f.max_total = options.max_connections;
  }
  return s;
}

HttpsServer::~HttpsServer() { Stop(); }

Result<int> HttpsServer::Start(const std::string& host, int port) {
  Front& f = *front_;
  if (f.started) return FailedPrecondition("server already started");
  beast::error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return InvalidArgument(fmt::format("cannot listen on {}: not an IP address", host));
  f.ioc = std::make_unique<asio::io_context>(f.opt.io_threads);
  f.acceptor = std::make_unique<tcp::acceptor>(asio::make_strand(*f.ioc));
  tcp::endpoint ep(address, static_cast<unsigned short>(port));
  f.acceptor->open(ep.protocol(), ec);
  if (!ec) f.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) f.acceptor->bind(ep, ec);
  if (!ec) f.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable(fmt::format("cannot bind {}:{}: {}", host, port, ec.message()));
  const int bound = f.acceptor->local_endpoint(ec).port();
  f.audit_timer = std::make_unique<asio::steady_timer>(asio::make_strand(*f.ioc));
  f.accept_retry = std::make_unique<asio::steady_timer>(f.acceptor->get_executor());
  f.pool = std::make_unique<WorkerPool>(f.opt.threads, f.opt.queue_limit);
  f.started = true;
  f.DoAccept();
  f.ScheduleAudit();
  for (int i = 0; i < f.opt.io_threads; ++i) {
    f.io_threads.emplace_back([&f] { f.ioc->run(); });
  }
  return bound;
}

void HttpsServer::Stop() {
  if (!front_) return;
  Front& f = *front_;
  if (!f.started || f.stopped) return;
  f.stopped = true;
  f.stopping = true;
  // Stop accepting (on the acceptor's strand) and the audit timer.
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  asio::post(f.acceptor->get_executor(), [&] {
    beast::error_code ignored;
    f.acceptor->close(ignored);
    f.accept_retry->cancel();
    std::lock_guard lock(mu);
    closed = true;
    cv.notify_all();
  });
  asio::post(f.audit_timer->get_executor(), [&f] { f.audit_timer->cancel(); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return closed; });
  }
  // In-flight requests finish (their handlers run to the end) and their answers are written.
  f.pool->Shutdown();
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (f.responding.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  f.ioc->stop();
  for (auto& t : f.io_threads) t.join();
  f.io_threads.clear();
  f.FlushAudit();
}

ServerStats HttpsServer::stats() const {
  ServerStats s;
  if (!front_) return s;
  s.connections_accepted = front_->accepted.load();
  s.connections_refused = front_->refused.load();
  s.connections_open = front_->open.load();
  s.timeouts = front_->timeouts.load();
  s.body_bytes_read = front_->body_bytes.load();
  s.requests = front_->requests.load();
  return s;
}

}  // namespace ward::manager

// HttpConnection: the HTTP/1.1 exchanges of one TCP connection, parsed with libhttp-parser from the
// reassembled bytes of both directions and run through the WAF.
//
// Requests: phase 1 when the request head is complete, the (de-chunked) body appended up to the
// limit, phase 2 when the message is complete. Pipelined requests queue for their responses;
// a response runs phases 3-4 for the oldest waiting request and finishes it. A request head that
// libhttp-parser rejects (broken request line, bad header) is still inspected from its raw bytes
// by a lenient parser, like a forgiving web server would; when its body can be framed
// (Content-Length or none) parsing resumes after it, otherwise parsing of that connection stops.
// CONNECT and Upgrade requests end inspection of the connection when the server answers 101 (2xx
// to CONNECT); until then what follows is parsed as HTTP. In prevent mode, once a request is
// blocked the connection is blocked: nothing more is parsed.
//
// Framing follows RFC 9112 section 6.3 (CheckFraming): a request whose framing is ambiguous
// (Content-Length with Transfer-Encoding, duplicate Content-Length, obs-fold, whitespace before a
// colon) or impossible (Transfer-Encoding without chunked last, differing or invalid
// Content-Length, a bare CR, ...), and bytes Ward can no longer parse, are reported through the
// anomaly handler; in prevent mode the connection is refused (ClientData returns true, refused()).
// An HTTP/0.9 request line (`GET /path` and a line end, no version) is a whole request, as nginx
// and Apache take it. Thread-safety: none; one connection belongs to one thread.
#pragma once

#include <http_parser.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "agent/modules/ips/waf.h"

namespace ward::agent::ips {

class HttpConnection {
 public:
  // Called once per finished transaction (response seen, connection closed, or blocked).
  // `delivered`: the request's bytes reached the server (a transaction the WAF wanted to block at
  // the end of the connection could not be blocked any more).
  using DoneFn = std::function<void(std::unique_ptr<WafTransaction>, bool delivered)>;
  // A framing or parsing anomaly: `kind` is a short code (framing_ambiguous, framing_invalid,
  // unparsable), `reason` says what was seen; `refused` when the connection is refused for it
  // (prevent mode).
  using AnomalyFn =
      std::function<void(std::string_view kind, std::string_view reason, bool refused)>;

  HttpConnection(std::shared_ptr<const WafRules> rules, Endpoints ep, DoneFn done);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  void SetAnomalyHandler(AnomalyFn fn) { anomaly_ = std::move(fn); }

  // Client-to-server bytes, in order. Returns true when these bytes completed a blocked request,
  // or the connection is refused (the caller must not deliver them).
  bool ClientData(std::string_view data);
  // Server-to-client bytes, in order (also after a block: the requests before it get their
  // responses).
  void ServerData(std::string_view data);
  // The connection ended: finishes every transaction still open.
  void Close();

  bool blocked() const { return blocked_; }
  // Prevent mode: the connection was refused for its framing or for bytes Ward cannot parse.
  bool refused() const { return refused_; }
  // Requests whose response has not been seen yet (complete requests, oldest first).
  size_t waiting() const { return waiting_.size(); }
  // A request reached the server whose response Ward cannot pair with it (one read by the lenient
  // parser, or HTTP/0.9): where the server's answers end is not known.
  bool untracked_responses() const { return untracked_responses_; }
  // Bytes held for parsing (request head, response body).
  size_t buffered() const { return raw_head_.size() + resp_body_.size(); }

  // libhttp-parser callbacks (p->data is the connection).
  static int OnReqBegin(http_parser* p);
  static int OnReqUrl(http_parser* p, const char* at, size_t n);
  static int OnReqField(http_parser* p, const char* at, size_t n);
  static int OnReqValue(http_parser* p, const char* at, size_t n);
  static int OnReqHeadersDone(http_parser* p);
  static int OnReqBody(http_parser* p, const char* at, size_t n);
  static int OnReqDone(http_parser* p);
  static int OnRespBegin(http_parser* p);
  static int OnRespField(http_parser* p, const char* at, size_t n);
  static int OnRespValue(http_parser* p, const char* at, size_t n);
  static int OnRespHeadersDone(http_parser* p);
  static int OnRespBody(http_parser* p, const char* at, size_t n);
  static int OnRespDone(http_parser* p);

 private:
  // Inspects the request in raw_head_ that libhttp-parser refused. When it can be framed
  // (Content-Length or no body) and `resume` is set, parsing restarts after it: *resume gets the
  // bytes that follow and true is returned. Otherwise parsing of the connection stops.
  bool LenientRequest(std::string* resume);
  void FinishTransaction(std::unique_ptr<WafTransaction> t);
  // Reports an anomaly; in prevent mode refuses the connection (returns true).
  bool Anomaly(std::string_view kind, std::string_view reason);
  // Reports (and in prevent mode refuses) a head whose framing is not clean; true when refused.
  bool CheckHead(const RequestHead& head, std::string_view raw_head);
  // An HTTP/0.9 request line at the start of raw_head_: inspects it as a whole request and
  // resumes parsing after it (*resume gets the bytes that follow). False when there is none.
  bool Http09(std::string* resume);
  void RestartRequestParser();

  std::shared_ptr<const WafRules> rules_;
  Endpoints ep_;
  DoneFn done_;
  http_parser req_{};
  http_parser resp_{};
  bool req_stopped_ = false;
  bool resp_stopped_ = false;
  bool blocked_ = false;
  bool refused_ = false;
  bool closing_ = false;
  bool upgrade_requested_ = false;  // a CONNECT or Upgrade request was seen
  bool switched_ = false;           // ... and the server answered 101 (2xx to CONNECT)
  bool untracked_responses_ = false;
  AnomalyFn anomaly_;
  bool lenient_wait_ = false;  // gathering a refused head until its empty line
  uint64_t skip_ = 0;          // body bytes of a leniently framed request still to come

  // Request being parsed.
  std::unique_ptr<WafTransaction> current_;
  RequestHead head_;
  bool in_value_ = false;
  bool head_done_ = false;
  std::string raw_head_;
  // Requests waiting for their response, oldest first.
  std::deque<std::unique_ptr<WafTransaction>> waiting_;

  // Response being parsed.
  ResponseHead resp_head_;
  bool resp_in_value_ = false;
  std::string resp_body_;
};

// A forgiving parse of a request head (request line and header lines, LF or CRLF), for requests
// libhttp-parser rejects. Never fails: missing parts stay empty.
RequestHead LenientRequestHead(std::string_view raw, size_t* head_len);

// RFC 9112 section 6.3 framing of a request head (`raw`: its bytes up to the empty line, when
// known). kAmbiguous: framable, but servers and proxies disagree on such heads (Content-Length
// with Transfer-Encoding: chunked wins; duplicate equal Content-Length; obs-fold; whitespace
// before a colon). kInvalid: a server must refuse it (Transfer-Encoding without chunked as the
// final coding, or in HTTP/1.0; invalid or differing Content-Length; a bare CR).
struct Framing {
  enum class Kind { kClean, kAmbiguous, kInvalid };
  Kind kind = Kind::kClean;
  std::string reason;
};
Framing CheckFraming(const RequestHead& head, std::string_view raw);

// The length of an HTTP/0.9 request line at the start of `raw` (leading empty lines, the
// `METHOD URI` line and its line end), or 0 when `raw` does not start with a complete one.
size_t Http09LineLength(std::string_view raw, std::string* method, std::string* uri);

}  // namespace ward::agent::ips

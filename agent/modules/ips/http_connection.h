// HttpConnection: the HTTP/1.1 exchanges of one TCP connection, parsed with libhttp-parser from the
// reassembled bytes of both directions and run through the WAF.
//
// Requests: phase 1 when the request head is complete, the (de-chunked) body appended up to the
// limit, phase 2 when the message is complete. Pipelined requests queue for their responses;
// a response runs phases 3-4 for the oldest waiting request and finishes it. A request head that
// libhttp-parser rejects (broken request line, bad header) is still inspected from its raw bytes
// by a lenient parser, like a forgiving web server would; when its body can be framed
// (Content-Length or none) parsing resumes after it, otherwise parsing of that connection stops.
// Upgrades (CONNECT, WebSocket) end inspection of the connection. In prevent mode, once a request
// is blocked the connection is blocked: nothing more is parsed. Thread-safety: none; one connection
// belongs to one thread.
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
  using DoneFn = std::function<void(std::unique_ptr<WafTransaction>)>;

  HttpConnection(std::shared_ptr<const WafRules> rules, Endpoints ep, DoneFn done);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Client-to-server bytes, in order. Returns true when these bytes completed a blocked request
  // (the caller must not deliver them).
  bool ClientData(std::string_view data);
  // Server-to-client bytes, in order.
  void ServerData(std::string_view data);
  // The connection ended: finishes every transaction still open.
  void Close();

  bool blocked() const { return blocked_; }
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

  std::shared_ptr<const WafRules> rules_;
  Endpoints ep_;
  DoneFn done_;
  http_parser req_{};
  http_parser resp_{};
  bool req_stopped_ = false;
  bool resp_stopped_ = false;
  bool blocked_ = false;
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

}  // namespace ward::agent::ips

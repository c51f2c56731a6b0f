#include "agent/modules/ips/http_connection.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <strings.h>

#include <algorithm>
#include <functional>
#include <vector>

namespace ward::agent::ips {
namespace {

constexpr size_t kMaxRawHead = 96 * 1024;
constexpr size_t kMaxWaiting = 64;
constexpr size_t kMaxHeaderValue = 64 * 1024;

HttpConnection* Self(http_parser* p) { return static_cast<HttpConnection*>(p->data); }

const http_parser_settings& RequestSettings();
const http_parser_settings& ResponseSettings();

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

void AddHeaderPiece(HeaderList& headers, bool& in_value, bool value, const char* at, size_t n) {
  if (!value) {
    if (in_value || headers.empty()) headers.emplace_back();
    in_value = false;
    if (headers.back().first.size() < kMaxHeaderValue) headers.back().first.append(at, n);
  } else {
    if (headers.empty()) headers.emplace_back();
    in_value = true;
    if (headers.back().second.size() < kMaxHeaderValue) headers.back().second.append(at, n);
  }
}

// True once a request head's terminating empty line is in `raw` (lines end in LF or CRLF).
bool HeadComplete(std::string_view raw) {
  return raw.find("\r\n\r\n") != std::string_view::npos ||
         raw.find("\n\n") != std::string_view::npos || raw.find("\n\r\n") != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

// The elements of a comma-separated header value, trimmed; empty elements are skipped.
std::vector<std::string> ListElements(std::string_view v) {
  std::vector<std::string> out;
  while (true) {
    size_t comma = v.find(',');
    std::string_view e = TrimSpace(v.substr(0, comma));
    if (!e.empty()) out.emplace_back(e);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

bool HeaderIs(const std::string& name, std::string_view want) {
  return name.size() == want.size() && strncasecmp(name.c_str(), want.data(), want.size()) == 0;
}

// Best-effort de-chunking of a body whose framing libhttp-parser refused: stops at the last chunk
// or at the first malformed size line.
std::string Dechunk(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) break;
    std::string_view size_line = in.substr(0, nl);
    in.remove_prefix(nl + 1);
    size_t n = 0;
    size_t digits = 0;
    for (char ch : size_line) {
      int v = (ch >= '0' && ch <= '9')   ? ch - '0'
              : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
              : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                         : -1;
      if (v < 0) break;
      if (++digits > 8) return out;
      n = n * 16 + static_cast<size_t>(v);
    }
    if (digits == 0 || n == 0) break;
    out.append(in.substr(0, n));
    in.remove_prefix(std::min(n, in.size()));
    if (in.starts_with("\r\n")) {
      in.remove_prefix(2);
    } else if (in.starts_with("\n")) {
      in.remove_prefix(1);
    }
  }
  return out;
}

}  // namespace

Framing CheckFraming(const RequestHead& h, std::string_view raw) {
  Framing f;
  auto note = [&](Framing::Kind k, std::string reason) {
    if (static_cast<int>(k) > static_cast<int>(f.kind)) {
      f.kind = k;
      f.reason = std::move(reason);
    }
  };
  // The head's lines: obs-fold, whitespace before a colon and bare CRs are where parsers differ.
  bool request_line = true;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t nl = raw.find('\n', pos);
    std::string_view line = raw.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? raw.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) {
      note(Framing::Kind::kInvalid, "a bare CR in the request head");
    }
    if (request_line) {
      request_line = line.empty();  // empty lines before the request line are skipped
      continue;
    }
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      note(Framing::Kind::kAmbiguous, "obs-fold (a header continued on the next line)");
      continue;
    }
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && colon > 0 &&
        (line[colon - 1] == ' ' || line[colon - 1] == '\t')) {
      note(Framing::Kind::kAmbiguous, "whitespace between a header name and its colon");
    }
  }
  // RFC 9112 6.3: Transfer-Encoding, then Content-Length.
  bool te = false;
  std::vector<std::string> codings;
  std::vector<std::string> lengths;
  for (const auto& [k, v] : h.headers) {
    std::string name = Lower(TrimSpace(k));
    if (name == "transfer-encoding") {
      te = true;
      for (auto& e : ListElements(v)) codings.push_back(Lower(e));
    } else if (name == "content-length") {
      auto elements = ListElements(v);
      if (elements.empty()) elements.emplace_back();
      lengths.insert(lengths.end(), elements.begin(), elements.end());
    }
  }
  if (te) {
    if (h.version == "1.0" || h.version == "0.9") {
      note(Framing::Kind::kInvalid, "Transfer-Encoding in an HTTP/1.0 request");
    }
    if (codings.empty() || codings.back() != "chunked") {
      note(Framing::Kind::kInvalid,
           fmt::format("Transfer-Encoding without chunked as the final coding ({})",
                       fmt::join(codings, ", ")));
    } else if (std::count(codings.begin(), codings.end(), "chunked") > 1) {
      note(Framing::Kind::kInvalid, "Transfer-Encoding with chunked more than once");
    }
    if (!lengths.empty()) {
      note(Framing::Kind::kAmbiguous, "Content-Length with Transfer-Encoding (chunked wins)");
    }
  } else if (!lengths.empty()) {
    for (const auto& l : lengths) {
      if (l.empty() || l.size() > 15 || l.find_first_not_of("0123456789") != std::string::npos) {
        note(Framing::Kind::kInvalid, "an invalid Content-Length");
      }
    }
    if (std::adjacent_find(lengths.begin(), lengths.end(), std::not_equal_to<>()) !=
        lengths.end()) {
      note(Framing::Kind::kInvalid, "differing Content-Length values");
    } else if (lengths.size() > 1) {
      note(Framing::Kind::kAmbiguous, "duplicate Content-Length");
    }
  }
  return f;
}

size_t Http09LineLength(std::string_view raw, std::string* method, std::string* uri) {
  size_t pos = 0;
  while (pos < raw.size() && (raw[pos] == '\r' || raw[pos] == '\n')) ++pos;
  size_t nl = raw.find('\n', pos);
  if (nl == std::string_view::npos) return 0;
  std::string_view line = raw.substr(pos, nl - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return 0;
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  if (tokens.size() != 2) return 0;
  for (char ch : tokens[0]) {
    if (ch < 'A' || ch > 'Z') return 0;
  }
  if (method != nullptr) *method = std::string(tokens[0]);
  if (uri != nullptr) *uri = std::string(tokens[1]);
  return nl + 1;
}

RequestHead LenientRequestHead(std::string_view raw, size_t* head_len) {
  RequestHead h;
  h.version.clear();
  size_t pos = 0;
  auto next_line = [&](std::string_view& line) -> bool {
    if (pos >= raw.size()) return false;
    size_t nl = raw.find('\n', pos);
    if (nl == std::string_view::npos) {
      line = raw.substr(pos);
      pos = raw.size();
    } else {
      line = raw.substr(pos, nl - pos);
      pos = nl + 1;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  };
  std::string_view line;
  // Skip empty lines before the request line, as servers do.
  while (next_line(line) && line.empty()) {
  }
  std::string_view rl = line;
  size_t sp = rl.find(' ');
  h.method = std::string(rl.substr(0, sp));
  if (sp != std::string_view::npos) {
    std::string_view rest = rl.substr(sp + 1);
    size_t last = rest.rfind(' ');
    if (last != std::string_view::npos && rest.substr(last + 1).starts_with("HTTP/")) {
      h.version = std::string(rest.substr(last + 1 + 5));
      rest = rest.substr(0, last);
    }
    h.uri = std::string(TrimSpace(rest));
  }
  if (h.version.empty()) h.version = "1.1";
  while (next_line(line)) {
    if (line.empty()) break;
    if ((line.front() == ' ' || line.front() == '\t') && !h.headers.empty()) {
      h.headers.back().second += " ";
      h.headers.back().second += std::string(TrimSpace(line));
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      h.headers.emplace_back(std::string(TrimSpace(line)), "");
    } else {
      h.headers.emplace_back(std::string(TrimSpace(line.substr(0, colon))),
                             std::string(TrimSpace(line.substr(colon + 1))));
    }
  }
  if (head_len != nullptr) *head_len = pos;
  return h;
}

HttpConnection::HttpConnection(std::shared_ptr<const WafRules> rules, Endpoints ep, DoneFn done)
    : rules_(std::move(rules)), ep_(std::move(ep)), done_(std::move(done)) {
  http_parser_init(&req_, HTTP_REQUEST);
  req_.data = this;
  req_.lenient_http_headers = 1;
  http_parser_init(&resp_, HTTP_RESPONSE);
  resp_.data = this;
  resp_.lenient_http_headers = 1;
}

HttpConnection::~HttpConnection() { Close(); }

void HttpConnection::FinishTransaction(std::unique_ptr<WafTransaction> t) {
  if (!t) return;
  t->Finish();
  // Blocking means the bytes were not delivered; at the connection's end they already were.
  const bool delivered = closing_ || !t->blocked();
  if (done_) done_(std::move(t), delivered);
}

bool HttpConnection::Anomaly(std::string_view kind, std::string_view reason) {
  const bool prevent = rules_->config().mode == Mode::kPrevent;
  if (anomaly_) anomaly_(kind, reason, prevent);
  if (prevent) {
    refused_ = true;
    blocked_ = true;
    req_stopped_ = true;
  }
  return prevent;
}

bool HttpConnection::CheckHead(const RequestHead& head, std::string_view raw_head) {
  Framing f = CheckFraming(head, raw_head);
  if (f.kind == Framing::Kind::kClean) return false;
  return Anomaly(f.kind == Framing::Kind::kAmbiguous ? "framing_ambiguous" : "framing_invalid",
                 f.reason);
}

bool HttpConnection::Http09(std::string* resume) {
  std::string method, uri;
  size_t n = Http09LineLength(raw_head_, &method, &uri);
  if (n == 0) return false;
  RequestHead h;
  h.method = std::move(method);
  h.uri = std::move(uri);
  h.version = "0.9";
  current_ = rules_->Begin(ep_);
  bool block = current_->RequestHeaders(h);
  if (!block) block = current_->RequestBody();
  *resume = raw_head_.substr(n);
  raw_head_.clear();
  if (block) {
    blocked_ = true;
    FinishTransaction(std::move(current_));
    return true;
  }
  untracked_responses_ = true;  // the answer has no head to parse
  waiting_.push_back(std::move(current_));
  if (waiting_.size() > kMaxWaiting) {
    auto t = std::move(waiting_.front());
    waiting_.pop_front();
    FinishTransaction(std::move(t));
  }
  // The server answers and closes; whatever follows is parsed as further requests all the same.
  http_parser_init(&req_, HTTP_REQUEST);
  req_.data = this;
  req_.lenient_http_headers = 1;
  head_done_ = false;
  return true;
}

void HttpConnection::Close() {
  closing_ = true;
  if (current_ && current_->request_seen()) {
    if (head_done_) current_->RequestBody();
    FinishTransaction(std::move(current_));
  } else if (!req_stopped_ && (lenient_wait_ || (!head_done_ && !raw_head_.empty()))) {
    LenientRequest(nullptr);
  }
  current_.reset();
  while (!waiting_.empty()) {
    auto t = std::move(waiting_.front());
    waiting_.pop_front();
    FinishTransaction(std::move(t));
  }
  req_stopped_ = resp_stopped_ = true;
}

bool HttpConnection::LenientRequest(std::string* resume) {
  lenient_wait_ = false;
  req_stopped_ = true;
  if (!current_) current_ = rules_->Begin(ep_);
  if (head_done_) {
    // The head was fine, the body framing was not (bad chunk): inspect what came, then report
    // (prevent: refuse) the rest Ward cannot parse.
    if (current_->RequestBody()) blocked_ = true;
    FinishTransaction(std::move(current_));
    raw_head_.clear();
    if (!blocked_ && resume != nullptr) Anomaly("unparsable", "a request body Ward cannot frame");
    return false;
  }
  size_t head_len = 0;
  RequestHead h = LenientRequestHead(raw_head_, &head_len);
  if (h.method.empty() && h.uri.empty() && h.headers.empty()) {
    current_.reset();
    raw_head_.clear();
    if (resume != nullptr) Anomaly("unparsable", "bytes that are not an HTTP request");
    return false;
  }
  const Framing framing = CheckFraming(h, std::string_view(raw_head_).substr(0, head_len));
  if (resume != nullptr && framing.kind != Framing::Kind::kClean &&
      CheckHead(h, std::string_view(raw_head_).substr(0, head_len))) {
    current_.reset();
    raw_head_.clear();
    return false;
  }
  if (resume != nullptr && framing.kind == Framing::Kind::kAmbiguous && head_len > 0 &&
      raw_head_.size() < kMaxRawHead) {
    // Reported (detect mode): framed as RFC 9112 says. libhttp-parser refuses Content-Length
    // with Transfer-Encoding: chunked, which wins, so the head is parsed again without it.
    std::string rewritten;
    bool dropped = false;
    std::string_view head = std::string_view(raw_head_).substr(0, head_len);
    while (!head.empty()) {
      size_t nl = head.find('\n');
      std::string_view line = head.substr(0, nl == std::string_view::npos ? nl : nl + 1);
      head.remove_prefix(line.size());
      size_t colon = line.find(':');
      if (colon != std::string_view::npos &&
          HeaderIs(std::string(TrimSpace(line.substr(0, colon))), "content-length")) {
        dropped = true;
        continue;
      }
      rewritten.append(line);
    }
    bool chunked_te = false;
    for (const auto& [k, v] : h.headers) {
      if (HeaderIs(k, "transfer-encoding")) chunked_te = true;
    }
    if (dropped && chunked_te) {
      rewritten.append(std::string_view(raw_head_).substr(head_len));
      current_.reset();
      raw_head_.clear();
      *resume = std::move(rewritten);
      http_parser_init(&req_, HTTP_REQUEST);
      req_.data = this;
      req_.lenient_http_headers = 1;
      req_stopped_ = false;
      return true;
    }
  }
  bool chunked = false;
  bool framed = raw_head_.size() < kMaxRawHead && head_len > 0;
  uint64_t length = 0;
  for (const auto& [k, v] : h.headers) {
    if (HeaderIs(k, "transfer-encoding")) {
      chunked = v.find("chunked") != std::string::npos;
      framed = false;  // a body we cannot frame reliably
    }
    if (HeaderIs(k, "content-length")) {
      if (v.empty() || v.size() > 15 || v.find_first_not_of("0123456789") != std::string::npos) {
        framed = false;
      } else {
        length = std::stoull(v);
      }
    }
  }
  if (chunked) {
    // As for parsed requests: Transfer-Encoding overrides Content-Length (RFC 7230 3.3.3).
    std::erase_if(h.headers, [](const auto& kv) { return HeaderIs(kv.first, "content-length"); });
  }
  std::string_view rest = std::string_view(raw_head_).substr(head_len);
  std::string_view body = framed ? rest.substr(0, std::min<uint64_t>(length, rest.size())) : rest;
  bool block = current_->RequestHeaders(h);
  if (!block) {
    current_->AppendRequestBody(chunked ? Dechunk(body) : std::string(body));
    block = current_->RequestBody();
  }
  if (block) {
    blocked_ = true;
  } else {
    untracked_responses_ = true;
  }
  FinishTransaction(std::move(current_));
  if (blocked_ || !framed || resume == nullptr) {
    if (!blocked_ && !framed && resume != nullptr && framing.kind == Framing::Kind::kClean) {
      Anomaly("unparsable", raw_head_.size() >= kMaxRawHead
                                ? "a request head larger than 96 KiB"
                                : "a malformed request head whose body cannot be framed");
    }
    raw_head_.clear();
    return false;
  }
  // The request could be framed: carry on with the bytes after it (and skip the part of its body
  // that has not arrived yet), so a malformed request cannot hide the ones pipelined after it.
  skip_ = length - body.size();
  *resume = std::string(rest.substr(body.size()));
  raw_head_.clear();
  http_parser_init(&req_, HTTP_REQUEST);
  req_.data = this;
  req_.lenient_http_headers = 1;
  req_stopped_ = false;
  head_done_ = false;
  return true;
}

bool HttpConnection::ClientData(std::string_view data) {
  std::string pending;
  while (!blocked_) {
    if (skip_ > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(skip_, data.size()));
      data.remove_prefix(k);
      skip_ -= k;
    }
    if (data.empty() || req_stopped_) break;
    if (lenient_wait_) {
      // A head libhttp-parser refused: gather it whole, then inspect it leniently.
      if (raw_head_.size() < kMaxRawHead) {
        raw_head_.append(data.substr(0, kMaxRawHead - raw_head_.size()));
      }
      data = {};
      if (!HeadComplete(raw_head_) && raw_head_.size() < kMaxRawHead) break;
      if (!LenientRequest(&pending)) break;
      data = pending;
      continue;
    }
    if (!head_done_ && raw_head_.size() < kMaxRawHead) {
      raw_head_.append(data.substr(0, kMaxRawHead - raw_head_.size()));
    }
    if (!head_done_ && Http09(&pending)) {
      data = pending;
      continue;
    }
    size_t n = http_parser_execute(&req_, &RequestSettings(), data.data(), data.size());
    auto err = HTTP_PARSER_ERRNO(&req_);
    if (err == HPE_PAUSED) {
      http_parser_pause(&req_, 0);
      data.remove_prefix(std::min(n, data.size()));
      if (blocked_) {
        if (current_) FinishTransaction(std::move(current_));
        req_stopped_ = true;
        break;
      }
      if (req_.upgrade) RestartRequestParser();
      continue;
    }
    if (err != HPE_OK) {
      if (!head_done_) {
        lenient_wait_ = true;
        data = {};
        if (!HeadComplete(raw_head_) && raw_head_.size() < kMaxRawHead) break;
      }
      if (!LenientRequest(&pending)) break;
      data = pending;
      continue;
    }
    data.remove_prefix(std::min(n, data.size()));
    if (req_.upgrade) {
      // After CONNECT or an Upgrade request: the server decides whether the protocol switches.
      RestartRequestParser();
      continue;
    }
    if (n == 0) break;
  }
  return blocked_;
}

void HttpConnection::RestartRequestParser() {
  // CONNECT or Upgrade: until the server answers 101 (2xx to CONNECT) the bytes that follow are
  // parsed as HTTP, as a server that ignores the upgrade reads them; the answer ends inspection.
  http_parser_init(&req_, HTTP_REQUEST);
  req_.data = this;
  req_.lenient_http_headers = 1;
  head_done_ = false;
}

void HttpConnection::ServerData(std::string_view data) {
  // After a block the responses to the requests delivered before it still finish their
  // transactions (the blocked request's answer waits for them: IpsEngine).
  while (!data.empty() && !resp_stopped_) {
    size_t n = http_parser_execute(&resp_, &ResponseSettings(), data.data(), data.size());
    auto err = HTTP_PARSER_ERRNO(&resp_);
    if (err == HPE_PAUSED) {
      http_parser_pause(&resp_, 0);
      data.remove_prefix(std::min(n, data.size()));
      continue;
    }
    if (err != HPE_OK || resp_.upgrade) {
      resp_stopped_ = true;
      return;
    }
    data.remove_prefix(std::min(n, data.size()));
    if (n == 0) break;
  }
}

// --- request callbacks ---

int HttpConnection::OnReqBegin(http_parser* p) {
  auto* c = Self(p);
  // The WAF transaction (~50 KB in libmodsecurity) is made when the head is complete, so a
  // connection trickling a head in holds only its bytes (counted in the buffer budget).
  c->current_.reset();
  c->head_ = RequestHead{};
  c->in_value_ = false;
  c->head_done_ = false;
  return 0;
}

int HttpConnection::OnReqUrl(http_parser* p, const char* at, size_t n) {
  auto* c = Self(p);
  if (c->head_.uri.size() < kMaxRawHead) c->head_.uri.append(at, n);
  return 0;
}

int HttpConnection::OnReqField(http_parser* p, const char* at, size_t n) {
  auto* c = Self(p);
  AddHeaderPiece(c->head_.headers, c->in_value_, false, at, n);
  return 0;
}

int HttpConnection::OnReqValue(http_parser* p, const char* at, size_t n) {
  auto* c = Self(p);
  AddHeaderPiece(c->head_.headers, c->in_value_, true, at, n);
  return 0;
}

int HttpConnection::OnReqHeadersDone(http_parser* p) {
  auto* c = Self(p);
  c->head_done_ = true;
  c->head_.method = http_method_str(static_cast<http_method>(p->method));
  c->head_.version = fmt::format("{}.{}", p->http_major, p->http_minor);
  const bool refused = c->CheckHead(c->head_, c->raw_head_);
  c->raw_head_.clear();
  if (refused) {
    http_parser_pause(p, 1);
    return 0;
  }
  c->current_ = c->rules_->Begin(c->ep_);
  if ((p->flags & F_CHUNKED) != 0) {
    // RFC 7230 3.3.3: Transfer-Encoding overrides Content-Length, which a server or proxy must
    // remove; the body is framed (and inspected) as chunked, as the web server behind sees it.
    std::erase_if(c->head_.headers,
                  [](const auto& h) { return HeaderIs(h.first, "content-length"); });
  }
  if (c->current_->RequestHeaders(c->head_)) {
    c->blocked_ = true;
    http_parser_pause(p, 1);
  }
  return 0;
}

int HttpConnection::OnReqBody(http_parser* p, const char* at, size_t n) {
  auto* c = Self(p);
  if (c->current_) c->current_->AppendRequestBody(std::string_view(at, n));
  return 0;
}

int HttpConnection::OnReqDone(http_parser* p) {
  auto* c = Self(p);
  if (!c->current_) return 0;
  if (p->upgrade) c->upgrade_requested_ = true;
  bool block = c->blocked_ || c->current_->RequestBody();
  c->head_done_ = false;
  c->raw_head_.clear();
  if (block) {
    c->blocked_ = true;
    c->FinishTransaction(std::move(c->current_));
  } else {
    c->waiting_.push_back(std::move(c->current_));
    if (c->waiting_.size() > kMaxWaiting) {
      auto t = std::move(c->waiting_.front());
      c->waiting_.pop_front();
      c->FinishTransaction(std::move(t));
    }
  }
  http_parser_pause(p, 1);
  return 0;
}

// --- response callbacks ---

int HttpConnection::OnRespBegin(http_parser* p) {
  auto* c = Self(p);
  c->resp_head_ = ResponseHead{};
  c->resp_in_value_ = false;
  c->resp_body_.clear();
  return 0;
}

int HttpConnection::OnRespField(http_parser* p, const char* at, size_t n) {
  auto* c = Self(p);
  AddHeaderPiece(c->resp_head_.headers, c->resp_in_value_, false, at, n);
  return 0;
}

int HttpConnection::OnRespValue(http_parser* p, const char* at, size_t n) {
  auto* c = Self(p);
  AddHeaderPiece(c->resp_head_.headers, c->resp_in_value_, true, at, n);
  return 0;
}

int HttpConnection::OnRespHeadersDone(http_parser* p) {
  auto* c = Self(p);
  c->resp_head_.status = static_cast<int>(p->status_code);
  c->resp_head_.version = fmt::format("{}.{}", p->http_major, p->http_minor);
  if (c->upgrade_requested_ && !c->waiting_.empty()) {
    const bool connect = c->waiting_.front()->request().method == "CONNECT";
    if (p->status_code == 101 || (connect && p->status_code / 100 == 2)) c->switched_ = true;
  }
  if (!c->waiting_.empty() && c->waiting_.front()->request().method == "HEAD") return 1;
  return 0;
}

int HttpConnection::OnRespBody(http_parser* p, const char* at, size_t n) {
  auto* c = Self(p);
  uint64_t limit = c->rules_->config().limits.response_body;
  if (c->resp_body_.size() < limit) {
    c->resp_body_.append(at, std::min<uint64_t>(n, limit - c->resp_body_.size()));
  }
  return 0;
}

int HttpConnection::OnRespDone(http_parser* p) {
  auto* c = Self(p);
  if (c->switched_) {
    // The protocol switched (WebSocket, h2c, a CONNECT tunnel): what follows is not HTTP/1.1.
    if (!c->waiting_.empty()) {
      auto t = std::move(c->waiting_.front());
      c->waiting_.pop_front();
      t->Response(c->resp_head_, c->resp_body_);
      c->FinishTransaction(std::move(t));
    }
    c->req_stopped_ = true;
    c->resp_stopped_ = true;
    http_parser_pause(p, 1);
    return 0;
  }
  if (c->resp_head_.status >= 100 && c->resp_head_.status < 200) return 0;  // interim
  if (!c->waiting_.empty()) {
    auto t = std::move(c->waiting_.front());
    c->waiting_.pop_front();
    t->Response(c->resp_head_, c->resp_body_);
    c->FinishTransaction(std::move(t));
  }
  c->resp_body_.clear();
  c->resp_body_.shrink_to_fit();
  http_parser_pause(p, 1);
  return 0;
}

namespace {

const http_parser_settings& RequestSettings() {
  static const http_parser_settings s = [] {
    http_parser_settings x{};
    x.on_message_begin = &HttpConnection::OnReqBegin;
    x.on_url = &HttpConnection::OnReqUrl;
    x.on_header_field = &HttpConnection::OnReqField;
    x.on_header_value = &HttpConnection::OnReqValue;
    x.on_headers_complete = &HttpConnection::OnReqHeadersDone;
    x.on_body = &HttpConnection::OnReqBody;
    x.on_message_complete = &HttpConnection::OnReqDone;
    return x;
  }();
  return s;
}

const http_parser_settings& ResponseSettings() {
  static const http_parser_settings s = [] {
    http_parser_settings x{};
    x.on_message_begin = &HttpConnection::OnRespBegin;
    x.on_header_field = &HttpConnection::OnRespField;
    x.on_header_value = &HttpConnection::OnRespValue;
    x.on_headers_complete = &HttpConnection::OnRespHeadersDone;
    x.on_body = &HttpConnection::OnRespBody;
    x.on_message_complete = &HttpConnection::OnRespDone;
    return x;
  }();
  return s;
}

}  // namespace

}  // namespace ward::agent::ips

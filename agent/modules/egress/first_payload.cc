#include "agent/modules/egress/first_payload.h"

#include <cstdint>

namespace ward::agent::egress {
namespace {

// A cursor over untrusted bytes: every read checks what is left.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool U8(uint8_t& v) {
    if (b_.size() < 1) return false;
    v = static_cast<uint8_t>(b_[0]);
    b_.remove_prefix(1);
    return true;
  }
  bool U16(uint16_t& v) {
    if (b_.size() < 2) return false;
    v = static_cast<uint16_t>((static_cast<uint8_t>(b_[0]) << 8) | static_cast<uint8_t>(b_[1]));
    b_.remove_prefix(2);
    return true;
  }
  bool U24(uint32_t& v) {
    if (b_.size() < 3) return false;
    v = (static_cast<uint32_t>(static_cast<uint8_t>(b_[0])) << 16) |
        (static_cast<uint32_t>(static_cast<uint8_t>(b_[1])) << 8) | static_cast<uint8_t>(b_[2]);
    b_.remove_prefix(3);
    return true;
  }
  bool Bytes(size_t n, std::string_view& v) {
    if (b_.size() < n) return false;
    v = b_.substr(0, n);
    b_.remove_prefix(n);
    return true;
  }
  bool Skip(size_t n) {
    std::string_view ignored;
    return Bytes(n, ignored);
  }
  size_t left() const { return b_.size(); }

 private:
  std::string_view b_;
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// "example.com:8080" → "example.com"; "[2001:db8::1]:80" → "2001:db8::1".
std::string HostWithoutPort(std::string_view h) {
  if (!h.empty() && h.front() == '[') {
    size_t close = h.find(']');
    return Lower(close == std::string_view::npos ? h.substr(1) : h.substr(1, close - 1));
  }
  size_t colon = h.rfind(':');
  if (colon != std::string_view::npos && h.find(':') == colon) h = h.substr(0, colon);
  while (!h.empty() && h.back() == '.') h.remove_suffix(1);
  return Lower(h);
}

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_';
}

}  // namespace

Parsed ParseClientHello(std::string_view payload, ClientHello& out) {
  out = {};
  Reader rec(payload);
  uint8_t type = 0, major = 0, minor = 0;
  uint16_t rec_len = 0;
  if (!rec.U8(type) || type != 22) return Parsed::kNotThis;
  if (!rec.U8(major)) return Parsed::kIncomplete;
  if (major != 3) return Parsed::kNotThis;
  if (!rec.U8(minor) || !rec.U16(rec_len)) return Parsed::kIncomplete;
  uint8_t hs_type = 0;
  uint32_t hs_len = 0;
  if (!rec.U8(hs_type)) return Parsed::kIncomplete;
  if (hs_type != 1) return Parsed::kNotThis;
  if (!rec.U24(hs_len)) return Parsed::kIncomplete;
  // The ClientHello may be longer than this packet (post-quantum key shares make it ~1.7 kB):
  // read what is here, and say kIncomplete only when the server name is not in it.
  Reader r = rec;
  uint8_t sid_len = 0, comp_len = 0;
  uint16_t suites_len = 0, ext_total = 0;
  if (!r.Skip(2 + 32) || !r.U8(sid_len) || !r.Skip(sid_len) || !r.U16(suites_len) ||
      !r.Skip(suites_len) || !r.U8(comp_len) || !r.Skip(comp_len)) {
    return Parsed::kIncomplete;
  }
  if (!r.U16(ext_total)) {
    // No extensions at all (the whole ClientHello is here): a ClientHello without SNI.
    return rec.left() >= hs_len ? Parsed::kFound : Parsed::kIncomplete;
  }
  bool found_sni = false;
  while (r.left() > 0) {
    uint16_t ext_type = 0, ext_len = 0;
    std::string_view body;
    if (!r.U16(ext_type) || !r.U16(ext_len) || !r.Bytes(ext_len, body)) break;
    if (ext_type == 0xfe0d) out.ech = true;
    if (ext_type != 0 || found_sni) continue;
    Reader s(body);
    uint16_t list_len = 0;
    if (!s.U16(list_len)) continue;
    while (s.left() > 0) {
      uint8_t name_type = 0;
      uint16_t name_len = 0;
      std::string_view name;
      if (!s.U8(name_type) || !s.U16(name_len) || !s.Bytes(name_len, name)) break;
      if (name_type == 0) {
        std::string_view n = name;
        while (!n.empty() && n.back() == '.') n.remove_suffix(1);
        out.server_name = Lower(n);
        found_sni = true;
        break;
      }
    }
  }
  if (found_sni) return Parsed::kFound;
  // Every extension was read: a ClientHello without SNI. Otherwise the rest is in a later segment.
  return r.left() == 0 && rec.left() >= hs_len ? Parsed::kFound : Parsed::kIncomplete;
}

Parsed ParseHttpRequestHead(std::string_view payload, HttpRequestHead& out) {
  out = {};
  size_t sp = 0;
  while (sp < payload.size() && sp < 16 && IsTokenChar(payload[sp])) ++sp;
  if (sp == 0) return Parsed::kNotThis;
  if (sp == payload.size()) return Parsed::kIncomplete;
  if (payload[sp] != ' ') return Parsed::kNotThis;
  size_t eol = payload.find('\n');
  std::string_view line = payload.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string_view rest = line.substr(sp + 1);
  size_t sp2 = rest.rfind(' ');
  if (eol == std::string_view::npos) {
    if (payload.size() > 8192) return Parsed::kNotThis;
    return Parsed::kIncomplete;
  }
  if (sp2 == std::string_view::npos || rest.substr(sp2 + 1).substr(0, 5) != "HTTP/") {
    return Parsed::kNotThis;
  }
  out.method = std::string(payload.substr(0, sp));
  out.target = std::string(rest.substr(0, sp2));
  bool complete = false;
  size_t pos = eol + 1;
  while (pos < payload.size()) {
    size_t end = payload.find('\n', pos);
    if (end == std::string_view::npos) break;
    std::string_view h = payload.substr(pos, end - pos);
    pos = end + 1;
    if (h.empty() || h == "\r") {
      complete = true;
      break;
    }
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    if (IEquals(Trim(h.substr(0, colon)), "host") && out.host.empty()) {
      out.host = HostWithoutPort(Trim(h.substr(colon + 1)));
    }
  }
  std::string_view t = out.target;
  if (t.size() > 7 && IEquals(t.substr(0, 7), "http://")) {
    // Absolute form (a request to a proxy): the authority in it names the destination.
    std::string_view authority = t.substr(7);
    size_t slash = authority.find('/');
    std::string host = HostWithoutPort(authority.substr(0, slash));
    if (out.host.empty()) out.host = host;
    out.url = "http://" + host +
              std::string(slash == std::string_view::npos ? "/" : authority.substr(slash));
  } else if (!out.host.empty()) {
    out.url = "http://" + out.host + out.target;
  }
  if (out.host.empty() && !complete) return Parsed::kIncomplete;
  return Parsed::kFound;
}

}  // namespace ward::agent::egress

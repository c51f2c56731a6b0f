#include "agent/modules/egress/dns_message.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace ward::agent::egress {
namespace {

uint16_t U16(std::string_view b, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[at]) << 8) |
                               static_cast<uint8_t>(b[at + 1]));
}

uint32_t U32(std::string_view b, size_t at) {
  return (static_cast<uint32_t>(U16(b, at)) << 16) | U16(b, at + 2);
}

// Reads the name at `pos`, following compression pointers (each must point backwards, which
// excludes loops); `pos` moves past the name as it is written at its place.
Status ReadName(std::string_view b, size_t& pos, std::string& out) {
  out.clear();
  size_t at = pos;
  bool jumped = false;
  size_t lowest = pos;  // a pointer must go below every place read so far
  int labels = 0;
  while (true) {
    if (at >= b.size()) return InvalidArgument(fmt::format("name at {} runs past the end", pos));
    uint8_t len = static_cast<uint8_t>(b[at]);
    if ((len & 0xC0) == 0xC0) {
      if (at + 1 >= b.size()) return InvalidArgument("compression pointer past the end");
      size_t target = static_cast<size_t>(((len & 0x3F) << 8) | static_cast<uint8_t>(b[at + 1]));
      if (target < 12) return InvalidArgument("compression pointer into the header");
      if (target >= lowest) {
        return InvalidArgument(fmt::format("compression pointer at {} does not point back", at));
      }
      if (!jumped) pos = at + 2;
      jumped = true;
      lowest = target;
      at = target;
      continue;
    }
    if ((len & 0xC0) != 0) return InvalidArgument(fmt::format("label type 0x{:x}", len & 0xC0));
    if (len == 0) {
      if (!jumped) pos = at + 1;
      return Status::Ok();
    }
    if (at + 1 + len > b.size()) return InvalidArgument("label runs past the end");
    if (++labels > 127 || out.size() + len + 1 > 255) {
      return InvalidArgument("name longer than 255 bytes");
    }
    if (!out.empty()) out.push_back('.');
    for (size_t i = 0; i < len; ++i) {
      char c = b[at + 1 + i];
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    at += 1 + len;
  }
}

}  // namespace

Result<DnsMessage> ParseDnsMessage(std::string_view b) {
  if (b.size() < 12) return InvalidArgument("DNS message shorter than its 12-byte header");
  DnsMessage m;
  m.id = U16(b, 0);
  uint16_t flags = U16(b, 2);
  m.response = (flags & 0x8000) != 0;
  m.opcode = static_cast<uint8_t>((flags >> 11) & 0xF);
  m.rcode = static_cast<uint8_t>(flags & 0xF);
  uint16_t qd = U16(b, 4);
  uint16_t an = U16(b, 6);
  size_t pos = 12;
  for (uint16_t i = 0; i < qd; ++i) {
    DnsQuestion q;
    WARD_RETURN_IF_ERROR(ReadName(b, pos, q.name));
    if (pos + 4 > b.size()) return InvalidArgument("question runs past the end");
    q.type = U16(b, pos);
    q.klass = U16(b, pos + 2);
    pos += 4;
    m.questions.push_back(std::move(q));
  }
  m.question_end = pos;
  for (uint16_t i = 0; i < an; ++i) {
    DnsRecord r;
    WARD_RETURN_IF_ERROR(ReadName(b, pos, r.name));
    if (pos + 10 > b.size()) return InvalidArgument("answer record runs past the end");
    r.type = U16(b, pos);
    r.ttl = U32(b, pos + 4);
    uint16_t rdlen = U16(b, pos + 8);
    pos += 10;
    if (pos + rdlen > b.size()) return InvalidArgument("answer data runs past the end");
    char text[INET6_ADDRSTRLEN] = {};
    if (r.type == kDnsTypeA && rdlen == 4) {
      ::inet_ntop(AF_INET, b.data() + pos, text, sizeof text);
      r.data = text;
    } else if (r.type == kDnsTypeAaaa && rdlen == 16) {
      ::inet_ntop(AF_INET6, b.data() + pos, text, sizeof text);
      r.data = text;
    } else if (r.type == kDnsTypeCname) {
      size_t at = pos;
      WARD_RETURN_IF_ERROR(ReadName(b.substr(0, pos + rdlen), at, r.data));
    }
    pos += rdlen;
    m.answers.push_back(std::move(r));
  }
  return m;
}

std::vector<ResolvedName> ResolvedAddresses(const DnsMessage& m) {
  std::vector<ResolvedName> out;
  if (m.questions.empty()) return out;
  const std::string& asked = m.questions.front().name;
  // Names that stand for the question: itself and the CNAME chain from it.
  std::vector<std::string> chain = {asked};
  for (int round = 0; round < 8; ++round) {
    bool grew = false;
    for (const DnsRecord& r : m.answers) {
      if (r.type != kDnsTypeCname || r.data.empty()) continue;
      if (r.name == chain.back() && std::find(chain.begin(), chain.end(), r.data) == chain.end()) {
        chain.push_back(r.data);
        grew = true;
      }
    }
    if (!grew) break;
  }
  for (const DnsRecord& r : m.answers) {
    if ((r.type != kDnsTypeA && r.type != kDnsTypeAaaa) || r.data.empty()) continue;
    if (std::find(chain.begin(), chain.end(), r.name) == chain.end()) continue;
    ResolvedName n;
    n.name = asked;
    n.address = r.data;
    n.aliases.assign(chain.begin() + 1, chain.end());
    out.push_back(std::move(n));
  }
  return out;
}

std::string NxDomainReply(std::string_view message, const DnsMessage& parsed) {
  std::string out(message.substr(0, parsed.question_end));
  uint16_t flags = U16(message, 2);
  // QR=1, opcode kept, AA=0, TC=0, RD kept, RA=1, Z/AD/CD=0, rcode=3.
  uint16_t nf = static_cast<uint16_t>(0x8000 | (flags & 0x7800) | (flags & 0x0100) | 0x0080 |
                                      kDnsRcodeNxDomain);
  out[2] = static_cast<char>(nf >> 8);
  out[3] = static_cast<char>(nf & 0xFF);
  std::memset(out.data() + 6, 0, 6);  // ancount, nscount, arcount
  return out;
}

std::string NxDomainReplyOfSize(std::string_view message, const DnsMessage& parsed, size_t size) {
  std::string out = NxDomainReply(message, parsed);
  if (out.size() == size) return out;
  // An OPT record (root name, type 41, UDP size, extended rcode/flags 0, RDLENGTH) holding one
  // Padding option (code 12) of zeros: 11 + 4 bytes at least.
  constexpr size_t kOptOverhead = 15;
  if (size > 65535 || size < out.size() + kOptOverhead) return "";
  const size_t pad = size - out.size() - kOptOverhead;
  auto put16 = [&out](size_t v) {
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
    out.push_back(static_cast<char>(v & 0xFF));
  };
  out[10] = 0;
  out[11] = 1;  // arcount
  out.push_back(0);
  put16(41);
  put16(1232);
  out.append(4, '\0');
  put16(4 + pad);
  put16(12);
  put16(pad);
  out.append(pad, '\0');
  return out;
}

std::vector<DnsTcpStream::Message> DnsTcpStream::Add(uint32_t seq, std::string_view data) {
  std::vector<Message> out;
  if (done_ || data.empty()) return out;
  if (!started_) {
    started_ = true;
    next_seq_ = seq;
    buffer_seq_ = seq;
  }
  const uint32_t len = static_cast<uint32_t>(data.size());
  const uint32_t first_new = next_seq_;
  if (seq != next_seq_) {
    const auto behind = static_cast<int32_t>(next_seq_ - seq);
    if (behind < 0) {
      done_ = true;  // a gap: the segment before this one has not been seen
      return out;
    }
    if (static_cast<uint32_t>(behind) >= len) return out;  // a retransmission of what was read
    data.remove_prefix(static_cast<uint32_t>(behind));     // new bytes after old ones
  }
  if (read_ + data.size() > kMaxBytes) data = data.substr(0, kMaxBytes - read_);
  buffer_.append(data);
  read_ += data.size();
  next_seq_ += static_cast<uint32_t>(data.size());
  size_t at = 0;
  while (buffer_.size() - at >= 2) {
    const size_t n = U16(buffer_, at);
    if (buffer_.size() - at - 2 < n) break;
    const uint32_t message_seq = buffer_seq_ + static_cast<uint32_t>(at + 2);
    out.push_back({buffer_.substr(at + 2, n), message_seq,
                   static_cast<int32_t>(message_seq - first_new) >= 0});
    at += 2 + n;
  }
  buffer_.erase(0, at);
  buffer_seq_ += static_cast<uint32_t>(at);
  // The next message (or its length) is not whole, and will not be within the cap.
  if (read_ >= kMaxBytes) done_ = true;
  if (buffer_.size() >= 2 && read_ - buffer_.size() + 2 + U16(buffer_, 0) > kMaxBytes) {
    done_ = true;
  }
  return out;
}

}  // namespace ward::agent::egress

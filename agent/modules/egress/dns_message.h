// DNS messages (RFC 1035) as egress reads them from the wire: the question and the answers of a
// UDP payload, names decompressed and lower-cased; and the NXDOMAIN reply egress puts in place of
// an answer for a blocked name. Untrusted bytes: every length and every compression pointer is
// checked (fuzz_egress_dns). Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::agent::egress {

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeCname = 5;
inline constexpr uint16_t kDnsTypeAaaa = 28;
inline constexpr uint8_t kDnsRcodeNxDomain = 3;

struct DnsQuestion {
  std::string name;  // lower case, no trailing dot ("" for the root)
  uint16_t type = 0;
  uint16_t klass = 0;
};

struct DnsRecord {
  std::string name;
  uint16_t type = 0;
  uint32_t ttl = 0;
  // A/AAAA: the address as text ("192.0.2.1", "2001:db8::1"); CNAME: the target name; else "".
  std::string data;
};

struct DnsMessage {
  uint16_t id = 0;
  bool response = false;
  uint8_t opcode = 0;
  uint8_t rcode = 0;
  std::vector<DnsQuestion> questions;
  std::vector<DnsRecord> answers;  // the answer section only
  size_t question_end = 0;         // offset of the first byte after the question section
};

// InvalidArgument naming what is wrong (truncated header, a label past the end, a pointer loop...).
// Authority and additional sections are not read.
Result<DnsMessage> ParseDnsMessage(std::string_view bytes);

// The addresses the answers give for `message`'s first question's name, following CNAMEs (at most
// 8 in a chain): pairs of (name asked, address). The CNAME targets are returned as well, so that a
// flow to the address can be named by any of them.
struct ResolvedName {
  std::string name;                  // the question's name
  std::string address;               // text
  std::vector<std::string> aliases;  // CNAME targets on the way
};
std::vector<ResolvedName> ResolvedAddresses(const DnsMessage& message);

// The reply that says "no such name" for `message` (a parsed query or response): the same id and
// question section, QR set, RD copied, RA set, rcode 3 and no records. REQUIRES: `parsed` is
// ParseDnsMessage(message).
std::string NxDomainReply(std::string_view message, const DnsMessage& parsed);

// The same reply made exactly `size` bytes long, for an answer rewritten in place inside a TCP
// stream (where the bytes that follow keep their sequence numbers): NxDomainReply plus, when it is
// shorter, an EDNS OPT record whose Padding option (RFC 7830) fills the rest. "" when no such
// reply exists (`size` is shorter than NxDomainReply, or longer by 1 to 14 bytes: less than an OPT
// record with an empty Padding option, or more than 65,535).
std::string NxDomainReplyOfSize(std::string_view message, const DnsMessage& parsed, size_t size);

// The answers of one DNS-over-TCP flow, read from the server's segments (RFC 7766: every message
// is preceded by its length, 2 bytes, and may be cut anywhere by segment boundaries). Only the
// first kMaxBytes of the flow are read; a gap (a segment not seen yet) ends the reading too.
// Untrusted bytes (fuzz_egress_dns_tcp). Not thread-safe; one per flow.
class DnsTcpStream {
 public:
  static constexpr size_t kMaxBytes = 8192;
  struct Message {
    std::string bytes;  // the DNS message, without its length
    uint32_t seq = 0;   // the sequence number of its first byte
    // Every byte of it was new in this Add (none went on earlier, also not in a segment this one
    // retransmits): only then may the segment's copy of it be rewritten.
    bool fresh = false;
  };
  // A segment of the server's stream whose first byte has sequence number `seq` (the first
  // segment given starts the stream): the messages it completes, in order. Retransmitted bytes
  // are not read twice.
  std::vector<Message> Add(uint32_t seq, std::string_view data);
  // Nothing more will be read (the cap, a gap, or a message that would cross the cap).
  bool done() const { return done_; }
  // The sequence number of the first byte not read yet (`seq` of the next Add when nothing was
  // read): where the client's next expected byte is, for a reset.
  uint32_t next_seq(uint32_t seq) const { return started_ ? next_seq_ : seq; }

 private:
  bool started_ = false;
  bool done_ = false;
  uint32_t next_seq_ = 0;  // the sequence number after the last byte read
  std::string buffer_;     // read and not yet part of a whole message
  uint32_t buffer_seq_ = 0;
  size_t read_ = 0;  // bytes of the flow read so far
};

}  // namespace ward::agent::egress

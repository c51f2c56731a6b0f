// DNS over TCP as egress reads it (agent/modules/egress/dns_message.h, DnsTcpStream): the input is
// a server's segments — each a 2-byte sequence offset, a length byte and its bytes (in any order,
// overlapping, with gaps; the first non-empty one starts the stream) — fed to one stream. Every
// message it gives must lie in the first kMaxBytes of the flow, come in order, and, when it parses,
// have an NXDOMAIN reply of its own size that is either impossible ("") or exactly that size and
// parses again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/modules/egress/dns_message.h"

using namespace ward::agent::egress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  DnsTcpStream stream;
  constexpr uint32_t kIsn = 0xFFFFF000u;  // sequence numbers wrap inside the flow
  size_t read = 0;
  bool started = false;
  uint32_t start = 0;  // the first byte's sequence number: the first non-empty segment's
  uint32_t last_end = 0;
  while (in.size() >= 3) {
    const uint32_t offset = (static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]);
    const size_t len = std::min<size_t>(static_cast<uint8_t>(in[2]), in.size() - 3);
    std::string_view segment = in.substr(3, len);
    in.remove_prefix(3 + len);
    if (!started && !segment.empty()) {
      started = true;
      start = kIsn + offset;
      last_end = start;
    }
    for (const DnsTcpStream::Message& m : stream.Add(kIsn + offset, segment)) {
      const uint32_t at = m.seq - start;
      if (at < 2 || at + m.bytes.size() > DnsTcpStream::kMaxBytes) std::abort();
      if (static_cast<int32_t>(m.seq - last_end) < 2) std::abort();  // after the previous one
      last_end = m.seq + static_cast<uint32_t>(m.bytes.size());
      read += m.bytes.size() + 2;
      if (read > DnsTcpStream::kMaxBytes) std::abort();
      auto parsed = ParseDnsMessage(m.bytes);
      if (!parsed) continue;
      std::string reply = NxDomainReplyOfSize(m.bytes, *parsed, m.bytes.size());
      if (reply.empty()) continue;
      if (reply.size() != m.bytes.size()) std::abort();
      auto again = ParseDnsMessage(reply);
      if (!again || again->id != parsed->id || again->rcode != kDnsRcodeNxDomain ||
          !again->answers.empty()) {
        std::abort();
      }
    }
  }
  return 0;
}

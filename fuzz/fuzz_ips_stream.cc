// Packets from the network drive the TCP reassembler and the HTTP parser: they must never crash,
// hang or grow without bound. Input: a script of segments
//   [ctl][seq_lo][seq_hi][len][len bytes]...
// ctl bit 0: direction (server->client), bits 1-5: TCP flags (FIN SYN RST PSH ACK), bit 6: the
// bytes are a whole raw IP packet instead (its checksums verified when the input's length is a
// multiple of 3), bit 7: URG with the urgent pointer seq_lo & 63 (taking the byte out of the
// stream, or refusing the connection in prevent mode); seq is an offset around the stream's
// start, so segments overlap, reorder and retransmit (with other bytes: the differing
// retransmission check). The HTTP side covers HTTP/0.9 lines and the RFC 9112 framing checks. The
// WAF runs a small rule set (the rules are not the target; our framing of requests is).
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/modules/ips/ips_engine.h"
#include "agent/net/packet.h"
#include "common/clock.h"

using namespace ward::agent::ips;
using namespace ward::net;

namespace {

// A rule set that blocks requests with "evil" in the URI or the body, so that prevent mode's
// answers (403 to the client, the server reset, pending behind earlier responses) are driven too.
std::string BlockingRules() {
  char path[] = "/tmp/ward-fuzz-ips-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) __builtin_trap();
  const std::string_view rules =
      "SecRule REQUEST_URI \"@contains evil\" \"id:1,phase:1,deny,log\"\n"
      "SecRule REQUEST_BODY \"@contains evil\" \"id:2,phase:2,deny,log\"\n";
  if (write(fd, rules.data(), rules.size()) != static_cast<ssize_t>(rules.size())) __builtin_trap();
  close(fd);
  return path;
}

std::shared_ptr<const WafRules> Load(Mode mode) {
  static const std::string rules = BlockingRules();
  IpsConfig c;
  c.mode = mode;
  c.crs.enabled = false;
  c.custom_rules = {rules};
  c.limits.flow_buffer = 8192;
  c.limits.total_buffer = 65536;
  c.limits.max_flows = 4;
  c.limits.request_body = 4096;
  auto r = WafRules::Load(c);
  if (!r.has_value()) __builtin_trap();
  return *r;
}

// Prevent mode (refusals, drops) or detect mode (urgent bytes taken out, anomalies reported).
std::shared_ptr<const WafRules> Rules(bool detect) {
  static std::shared_ptr<const WafRules> prevent = Load(Mode::kPrevent);
  static std::shared_ptr<const WafRules> detect_rules = Load(Mode::kDetect);
  return detect ? detect_rules : prevent;
}

// What Ward sends itself: whole, well-formed TCP packets (checksums right), never together with
// a reset decision, and a drop-free decision sends only re-sent answers or ACKs.
void Check(const PacketDecision& d) {
  if (d.send.empty()) return;
  if (d.reset) __builtin_trap();
  for (const std::string& p : d.send) {
    auto s = DecodeIpTcp(p);
    if (!s || !s->checksum_ok || s->src.v6 != d.send_v6) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One engine of one or two engine threads (the input's length decides, so the corpus format
  // stays): its share of max_flows must hold.
  const int shares = 1 + static_cast<int>(size % 2);
  IpsEngine engine(Rules(size % 4 >= 2), ward::SystemClock(), shares, [](ward::Event) {});
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const IpAddress client = Ipv4(10, 0, 0, 1), server = Ipv4(10, 0, 0, 2);
  const uint32_t kClientIsn = 0xfffff000u, kServerIsn = 7;
  int64_t now = 0;
  while (in.size() >= 4) {
    uint8_t ctl = static_cast<uint8_t>(in[0]);
    uint16_t off =
        static_cast<uint16_t>(static_cast<uint8_t>(in[1]) | static_cast<uint8_t>(in[2]) << 8);
    size_t len = static_cast<uint8_t>(in[3]);
    in.remove_prefix(4);
    len = std::min(len, in.size());
    std::string_view body = in.substr(0, len);
    in.remove_prefix(len);
    if (ctl & 0x40) {
      Check(engine.OnPacket(body, now++, size % 3 == 0));
      continue;
    }
    const bool from_server = ctl & 1;
    const uint8_t flags = static_cast<uint8_t>((ctl >> 1) & 0x1f);
    uint8_t tcp = 0;
    if (flags & 1) tcp |= tcp_flag::kFin;
    if (flags & 2) tcp |= tcp_flag::kSyn;
    if (flags & 4) tcp |= tcp_flag::kRst;
    if (flags & 8) tcp |= tcp_flag::kPsh;
    if (flags & 16) tcp |= tcp_flag::kAck;
    const uint16_t urgent = (ctl & 0x80) ? static_cast<uint16_t>(off & 63) : 0;
    if (ctl & 0x80) tcp |= tcp_flag::kUrg;
    uint32_t seq = (from_server ? kServerIsn : kClientIsn) + static_cast<uint32_t>(off) - 64;
    // The ACK number: what the other side sent so far, roughly (so that the retained bytes of a
    // direction are trimmed now and then).
    uint32_t ack = (from_server ? kClientIsn : kServerIsn) + static_cast<uint32_t>(now) * 16;
    std::string pkt =
        from_server ? BuildTcpPacket(server, 80, client, 40000, seq, ack, tcp, body, 65535, urgent)
                    : BuildTcpPacket(client, 40000, server, 80, seq, ack, tcp, body, 65535, urgent);
    Check(engine.OnPacket(pkt, now++));
    if (engine.buffered_bytes() > 65536) __builtin_trap();
    if (engine.flow_count() > 4 / static_cast<size_t>(shares)) __builtin_trap();
  }
  engine.Expire(now + 1'000'000);
  return 0;
}

#include "agent/net/packet.h"

#include <arpa/inet.h>

#include <cstring>

namespace ward::net {
namespace {

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

uint32_t Sum(const uint8_t* p, size_t n, uint32_t acc) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += Be16(p + i);
  if (n & 1) acc += static_cast<uint32_t>(p[n - 1]) << 8;
  return acc;
}
uint16_t Fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

// `pseudo`: the checksum of the pseudo-header's addresses.
std::optional<TcpSegment> DecodeTcp(TcpSegment seg, const uint8_t* p, size_t n, uint32_t pseudo) {
  if (n < 20) return std::nullopt;
  size_t off = static_cast<size_t>(p[12] >> 4) * 4;
  if (off < 20 || off > n) return std::nullopt;
  seg.sport = Be16(p);
  seg.dport = Be16(p + 2);
  seg.seq = Be32(p + 4);
  seg.ack = Be32(p + 8);
  seg.flags = p[13];
  seg.window = Be16(p + 14);
  seg.urgent = Be16(p + 18);
  seg.checksum_ok = Fold(Sum(p, n, pseudo + 6 + static_cast<uint32_t>(n))) == 0;
  seg.payload = std::string_view(reinterpret_cast<const char*>(p + off), n - off);
  return seg;
}

}  // namespace

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v6) {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  } else {
    inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

IpAddress Ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

std::optional<IpAddress> ParseIp(const std::string& text) {
  IpAddress ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) return ip;
  ip.v6 = true;
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) return ip;
  return std::nullopt;
}

std::optional<TcpSegment> DecodeIpTcp(std::string_view packet) {
  const auto* p = reinterpret_cast<const uint8_t*>(packet.data());
  size_t n = packet.size();
  if (n < 1) return std::nullopt;
  TcpSegment seg;
  int version = p[0] >> 4;
  if (version == 4) {
    if (n < 20) return std::nullopt;
    size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
    size_t total = Be16(p + 2);
    if (ihl < 20 || total < ihl || total > n) return std::nullopt;
    if (p[9] != 6) return std::nullopt;
    uint16_t frag = Be16(p + 6);
    if ((frag & 0x1fff) != 0 || (frag & 0x2000) != 0) return std::nullopt;  // fragmented
    // A bad header checksum: every receiver drops the packet (Linux in ip_rcv, before netfilter).
    // 0 is kept: captures of outgoing packets taken where the NIC fills it in show 0.
    if (Be16(p + 10) != 0 && Fold(Sum(p, ihl, 0)) != 0) return std::nullopt;
    std::memcpy(seg.src.bytes.data(), p + 12, 4);
    std::memcpy(seg.dst.bytes.data(), p + 16, 4);
    return DecodeTcp(seg, p + ihl, total - ihl, Sum(p + 12, 8, 0));
  }
  if (version == 6) {
    if (n < 40) return std::nullopt;
    size_t plen = Be16(p + 4);
    if (40 + plen > n) return std::nullopt;
    uint8_t next = p[6];
    size_t off = 40;
    size_t end = 40 + plen;
    // Hop-by-hop, routing and destination options headers; a fragment header ends decoding.
    while (next == 0 || next == 43 || next == 60) {
      if (off + 8 > end) return std::nullopt;
      next = p[off];
      off += (static_cast<size_t>(p[off + 1]) + 1) * 8;
      if (off > end) return std::nullopt;
    }
    if (next != 6) return std::nullopt;
    seg.src.v6 = seg.dst.v6 = true;
    std::memcpy(seg.src.bytes.data(), p + 8, 16);
    std::memcpy(seg.dst.bytes.data(), p + 24, 16);
    return DecodeTcp(seg, p + off, end - off, Sum(p + 8, 32, 0));
  }
  return std::nullopt;
}

std::optional<std::string_view> IpFromFrame(int linktype, std::string_view f) {
  const auto* p = reinterpret_cast<const uint8_t*>(f.data());
  auto ip_by_type = [&](uint16_t type, size_t off) -> std::optional<std::string_view> {
    if (off > f.size()) return std::nullopt;
    if (type == 0x0800 || type == 0x86dd) return f.substr(off);
    return std::nullopt;
  };
  switch (linktype) {
    case 1: {  // DLT_EN10MB
      if (f.size() < 14) return std::nullopt;
      size_t off = 12;
      uint16_t type = Be16(p + off);
      while ((type == 0x8100 || type == 0x88a8) && off + 6 <= f.size()) {  // VLAN tags
        off += 4;
        type = Be16(p + off);
      }
      return ip_by_type(type, off + 2);
    }
    case 12:   // DLT_RAW (some platforms)
    case 14:   // DLT_RAW (OpenBSD numbering)
    case 101:  // LINKTYPE_RAW
    case 228:  // IPv4
    case 229:  // IPv6
      return f;
    case 113:  // DLT_LINUX_SLL
      if (f.size() < 16) return std::nullopt;
      return ip_by_type(Be16(p + 14), 16);
    case 276:  // DLT_LINUX_SLL2
      if (f.size() < 20) return std::nullopt;
      return ip_by_type(Be16(p), 20);
    case 0:      // DLT_NULL: host-order family
    case 108: {  // DLT_LOOP: network-order family
      if (f.size() < 4) return std::nullopt;
      uint32_t fam;
      std::memcpy(&fam, p, 4);
      if (linktype == 108) fam = ntohl(fam);
      if (fam == 2 || fam == 24 || fam == 28 || fam == 30 || fam == 10 || fam == 0x02000000u ||
          fam == 0x18000000u || fam == 0x1c000000u || fam == 0x1e000000u) {
        return f.substr(4);
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::string BuildTcpPacket(const IpAddress& src, uint16_t sport, const IpAddress& dst,
                           uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                           std::string_view payload, uint16_t window, uint16_t urgent) {
  const size_t ip_len = src.v6 ? 40 : 20;
  std::string out(ip_len + 20 + payload.size(), '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  uint8_t* t = p + ip_len;
  size_t tcp_len = 20 + payload.size();
  if (src.v6) {
    p[0] = 0x60;
    Put16(p + 4, static_cast<uint16_t>(tcp_len));
    p[6] = 6;
    p[7] = 64;
    std::memcpy(p + 8, src.bytes.data(), 16);
    std::memcpy(p + 24, dst.bytes.data(), 16);
  } else {
    p[0] = 0x45;
    Put16(p + 2, static_cast<uint16_t>(out.size()));
    p[6] = 0x40;  // DF
    p[8] = 64;
    p[9] = 6;
    std::memcpy(p + 12, src.bytes.data(), 4);
    std::memcpy(p + 16, dst.bytes.data(), 4);
    Put16(p + 10, Fold(Sum(p, 20, 0)));
  }
  Put16(t, sport);
  Put16(t + 2, dport);
  Put32(t + 4, seq);
  Put32(t + 8, ack);
  t[12] = 5 << 4;
  t[13] = flags;
  Put16(t + 14, window);
  Put16(t + 18, urgent);
  std::memcpy(t + 20, payload.data(), payload.size());
  uint32_t acc = 0;
  if (src.v6) {
    acc = Sum(p + 8, 32, acc);
    acc += static_cast<uint32_t>(tcp_len);
    acc += 6;
  } else {
    acc = Sum(p + 12, 8, acc);
    acc += 6;
    acc += static_cast<uint32_t>(tcp_len);
  }
  acc = Sum(t, tcp_len, acc);
  Put16(t + 16, Fold(acc));
  return out;
}

}  // namespace ward::net

// Decoding of IPv4/IPv6 + TCP packets (as NFQUEUE gives them) and of link-layer frames (as libpcap
// gives them). Every length is checked against the buffer; a packet that is not well-formed IP+TCP
// yields nullopt, never a read past the end.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ward::net {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  bool operator==(const IpAddress&) const = default;
  auto operator<=>(const IpAddress&) const = default;
  std::string ToString() const;
};

namespace tcp_flag {
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20;
}

struct TcpSegment {
  IpAddress src, dst;
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint16_t urgent = 0;  // the urgent pointer (meaningful with kUrg)
  // The TCP checksum over the pseudo-header, header and payload is right.
  bool checksum_ok = false;
  std::string_view payload;  // points into the packet
};

// An IP packet (v4 or v6) carrying TCP; nullopt for anything else or anything malformed.
// Fragments other than the first-and-only are not decoded (nullopt), nor is an IPv4 packet whose
// header checksum is wrong (every receiver drops it; 0, as captured before a NIC fills it in, is
// accepted). The TCP checksum is checked and reported in
// TcpSegment::checksum_ok; whether it matters depends on where the packet was seen (a locally
// sent packet may carry a checksum the NIC or nobody fills in: CHECKSUM_PARTIAL).
std::optional<TcpSegment> DecodeIpTcp(std::string_view packet);

// libpcap link types Ward reads (DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, DLT_NULL, DLT_LOOP,
// DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL2): the IP packet inside the frame, or nullopt.
std::optional<std::string_view> IpFromFrame(int linktype, std::string_view frame);

// Builds an IPv4/IPv6 TCP packet with correct checksums (RSTs in inline mode, and tests).
std::string BuildTcpPacket(const IpAddress& src, uint16_t sport, const IpAddress& dst,
                           uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                           std::string_view payload, uint16_t window = 65535, uint16_t urgent = 0);

IpAddress Ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
std::optional<IpAddress> ParseIp(const std::string& text);

}  // namespace ward::net

#include "agent/modules/firewall/nflog.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>

extern "C" {
#include <libnetfilter_log/libnetfilter_log.h>
}

#include <cerrno>
#include <cstring>

namespace ward::agent::firewall {
namespace {

std::string Address(bool v6, const uint8_t* p) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, p, buf, sizeof buf);
  return buf;
}

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

std::string Interface(uint32_t index) {
  if (index == 0) return "";
  char name[IF_NAMESIZE] = {};
  if (::if_indextoname(index, name) == nullptr) return fmt::format("#{}", index);
  return name;
}

}  // namespace

Result<LoggedPacket> ParseLoggedPacket(std::string_view prefix, std::span<const uint8_t> packet) {
  LoggedPacket out;
  if (prefix.size() < 8 || !prefix.starts_with("ward:") || prefix[6] != ':') {
    return InvalidArgument("not a Ward log prefix");
  }
  switch (prefix[5]) {
    case 'd':
      out.kind = LogKind::kDenied;
      break;
    case 'w':
      out.kind = LogKind::kWouldDeny;
      break;
    case 'l':
      out.kind = LogKind::kLogged;
      break;
    default:
      return InvalidArgument("unknown log kind in the prefix");
  }
  out.rule_id = std::string(prefix.substr(7));
  for (char c : out.rule_id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return InvalidArgument("invalid rule id in the prefix");
    }
  }
  if (out.rule_id.empty() || out.rule_id.size() > 64) return InvalidArgument("bad rule id");
  if (packet.empty()) return InvalidArgument("empty packet");
  const uint8_t* p = packet.data();
  size_t n = packet.size();
  int version = p[0] >> 4;
  uint8_t proto = 0;
  size_t l4 = 0;
  if (version == 4) {
    if (n < 20) return InvalidArgument("truncated IPv4 header");
    size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > n) return InvalidArgument("bad IPv4 header length");
    proto = p[9];
    out.src_ip = Address(false, p + 12);
    out.dst_ip = Address(false, p + 16);
    l4 = ihl;
    // A fragment after the first has no transport header.
    if ((Be16(p + 6) & 0x1fff) != 0) l4 = n;
  } else if (version == 6) {
    if (n < 40) return InvalidArgument("truncated IPv6 header");
    out.v6 = true;
    out.src_ip = Address(true, p + 8);
    out.dst_ip = Address(true, p + 24);
    proto = p[6];
    l4 = 40;
    // Walk the usual extension headers (bounded: each one moves forward).
    for (int hops = 0; hops < 8; ++hops) {
      if (proto == 0 || proto == 43 || proto == 60) {  // hop-by-hop, routing, destination
        if (l4 + 2 > n) return InvalidArgument("truncated IPv6 extension header");
        uint8_t next = p[l4];
        l4 += (static_cast<size_t>(p[l4 + 1]) + 1) * 8;
        proto = next;
      } else if (proto == 44) {  // fragment
        if (l4 + 8 > n) return InvalidArgument("truncated IPv6 fragment header");
        uint8_t next = p[l4];
        bool later = (Be16(p + l4 + 2) & 0xfff8) != 0;
        l4 += 8;
        proto = next;
        if (later) {
          l4 = n;
          break;
        }
      } else {
        break;
      }
    }
  } else {
    return InvalidArgument(fmt::format("IP version {}", version));
  }
  switch (proto) {
    case 6:
      out.protocol = "tcp";
      break;
    case 17:
      out.protocol = "udp";
      break;
    case 1:
      out.protocol = "icmp";
      break;
    case 58:
      out.protocol = "ipv6-icmp";
      break;
    default:
      out.protocol = fmt::format("{}", proto);
  }
  if ((proto == 6 || proto == 17) && l4 + 4 <= n) {
    out.src_port = Be16(p + l4);
    out.dst_port = Be16(p + l4 + 2);
  }
  return out;
}

Result<std::unique_ptr<NflogReader>> NflogReader::Open(uint16_t group, OnPacket on_packet) {
  nflog_handle* h = nflog_open();
  if (h == nullptr) return Unavailable(fmt::format("nflog_open: {}", std::strerror(errno)));
  nflog_g_handle* g = nflog_bind_group(h, group);
  if (g == nullptr) {
    int err = errno;
    nflog_close(h);
    return Unavailable(fmt::format("NFLOG group {}: cannot bind ({}); is another agent running?",
                                   group, std::strerror(err)));
  }
  if (nflog_set_mode(g, NFULNL_COPY_PACKET, 128) < 0) {
    nflog_unbind_group(g);
    nflog_close(h);
    return Unavailable(fmt::format("NFLOG group {}: cannot set copy mode", group));
  }
  // One message per packet, at once (no batching delay).
  (void)nflog_set_qthresh(g, 1);
  (void)nflog_set_timeout(g, 0);
  auto reader = std::unique_ptr<NflogReader>(new NflogReader(h, g, std::move(on_packet)));
  nflog_callback_register(g, &NflogReader::Callback, reader.get());
  timeval tv{0, 100'000};
  ::setsockopt(nflog_fd(h), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int size = 1 << 20;
  ::setsockopt(nflog_fd(h), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  return reader;
}

NflogReader::~NflogReader() {
  nflog_unbind_group(g_);
  nflog_close(h_);
}

int NflogReader::Callback(nflog_g_handle* /*g*/, ::nfgenmsg* /*msg*/, ::nflog_data* data,
                          void* self_ptr) {
  auto* self = static_cast<NflogReader*>(self_ptr);
  const char* prefix = nflog_get_prefix(data);
  char* payload = nullptr;
  int len = nflog_get_payload(data, &payload);
  if (prefix == nullptr || len <= 0) {
    ++self->unparsed_;
    return 0;
  }
  auto parsed = ParseLoggedPacket(
      prefix, std::span(reinterpret_cast<const uint8_t*>(payload), static_cast<size_t>(len)));
  if (!parsed) {
    ++self->unparsed_;
    return 0;
  }
  parsed->in_interface = Interface(nflog_get_indev(data));
  parsed->out_interface = Interface(nflog_get_outdev(data));
  uint32_t uid = 0;
  if (nflog_get_uid(data, &uid) == 0) parsed->uid = uid;
  self->on_packet_(*parsed);
  return 0;
}

void NflogReader::Run(std::stop_token stop, const std::function<void(bool timed_out)>& tick) {
  alignas(8) char buf[65536];
  int fd = nflog_fd(h_);
  while (!stop.stop_requested()) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      nflog_handle_packet(h_, buf, static_cast<int>(n));
      tick(false);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOBUFS) {
      ::usleep(10'000);  // an unexpected error: do not spin
    }
    tick(true);
  }
}

}  // namespace ward::agent::firewall

#include "agent/modules/firewall/lockout.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>

namespace ward::agent::firewall {
namespace {

bool PortIn(const std::vector<PortRange>& ranges, uint16_t port) {
  if (ranges.empty()) return true;
  if (port == 0) return false;
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const PortRange& r) { return port >= r.first && port <= r.last; });
}

enum class Match { kNo, kYes, kUnknown };

Match Matches(const Rule& r, const Endpoint& e) {
  if (r.direction != e.direction) return Match::kNo;
  switch (r.protocol) {
    case Protocol::kAny:
      break;
    case Protocol::kTcp:
    case Protocol::kUdp:
      if (r.protocol != e.protocol) return Match::kNo;
      if (!PortIn(r.local_ports, e.local_port) || !PortIn(r.remote_ports, e.remote_port)) {
        return Match::kNo;
      }
      break;
    case Protocol::kIcmp:
    case Protocol::kIcmpv6:
      return Match::kNo;  // the endpoints are TCP
  }
  if (!r.remote.empty() && std::none_of(r.remote.begin(), r.remote.end(),
                                        [&](const Cidr& c) { return c.Contains(e.remote); })) {
    return Match::kNo;
  }
  if (!r.interfaces.empty()) {
    if (e.interface.empty()) return Match::kUnknown;
    if (std::find(r.interfaces.begin(), r.interfaces.end(), e.interface) == r.interfaces.end()) {
      return Match::kNo;
    }
  }
  return Match::kYes;
}

std::string Describe(const Endpoint& e) {
  std::string addr = e.remote.ToString();
  addr = addr.substr(0, addr.find('/'));
  return e.direction == Direction::kOutbound
             ? fmt::format("{} (tcp to {} port {})", e.what, addr, e.remote_port)
             : fmt::format("{} (tcp from {} to local port {})", e.what, addr, e.local_port);
}

}  // namespace

Status CheckLockout(const FirewallConfig& config, const std::vector<Endpoint>& endpoints) {
  if (config.mode == Mode::kDetect) return Status::Ok();
  for (const Endpoint& e : endpoints) {
    if (config.allow_loopback && e.interface == "lo") continue;
    const Rule* decided = nullptr;
    for (const Rule& r : config.rules) {
      Match m = Matches(r, e);
      if (m == Match::kYes) {
        decided = &r;
        break;
      }
    }
    Action action = decided ? decided->action
                            : (e.direction == Direction::kInbound ? config.default_inbound
                                                                  : config.default_outbound);
    if (action != Action::kDeny) continue;
    std::string rule =
        decided ? fmt::format("rule {}", decided->id)
                : fmt::format("the default for {} traffic (deny)", DirectionName(e.direction));
    return FailedPrecondition(
        fmt::format("{} would cut {}; allow it before the deny", rule, Describe(e)));
  }
  return Status::Ok();
}

std::vector<Endpoint> InboundSessions(const std::string& proc_net, uint16_t port) {
  std::vector<Endpoint> out;
  for (bool v6 : {false, true}) {
    std::ifstream in(proc_net + (v6 ? "/tcp6" : "/tcp"));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // "  0: 0100007F:0016 0100007F:D2F0 01 ..."
      char local[64] = {}, remote[64] = {};
      unsigned state = 0;
      if (std::sscanf(line.c_str(), " %*d: %63s %63s %x", local, remote, &state) != 3) continue;
      if (state != 1) continue;  // TCP_ESTABLISHED
      auto split = [](const char* s, std::string& addr, unsigned& p) {
        const char* colon = std::strchr(s, ':');
        if (!colon) return false;
        addr.assign(s, colon);
        return std::sscanf(colon + 1, "%x", &p) == 1;
      };
      std::string laddr, raddr;
      unsigned lport = 0, rport = 0;
      if (!split(local, laddr, lport) || !split(remote, raddr, rport)) continue;
      if (lport != port) continue;
      size_t want = v6 ? 32 : 8;
      if (raddr.size() != want) continue;
      Endpoint e;
      e.direction = Direction::kInbound;
      e.protocol = Protocol::kTcp;
      e.local_port = static_cast<uint16_t>(lport);
      e.remote_port = static_cast<uint16_t>(rport);
      e.remote.v6 = v6;
      e.remote.prefix = v6 ? 128 : 32;
      // /proc prints each 32-bit word in host byte order (little-endian here).
      for (size_t w = 0; w < want / 8; ++w) {
        uint32_t word = 0;
        std::from_chars(raddr.data() + w * 8, raddr.data() + w * 8 + 8, word, 16);
        std::memcpy(e.remote.addr + w * 4, &word, 4);
      }
      // IPv4-mapped peers of a v6 socket are IPv4 peers.
      static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (v6 && std::memcmp(e.remote.addr, kMapped, 12) == 0) {
        std::memmove(e.remote.addr, e.remote.addr + 12, 4);
        std::memset(e.remote.addr + 4, 0, 12);
        e.remote.v6 = false;
        e.remote.prefix = 32;
      }
      std::string a = e.remote.ToString();
      e.what = fmt::format("the SSH session from {}", a.substr(0, a.find('/')));
      if (port != 22) e.what = fmt::format("the session from {}", a.substr(0, a.find('/')));
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<Endpoint> ManagerEndpoints(std::string_view url) {
  std::vector<Endpoint> out;
  if (url.empty()) return out;
  std::string_view rest = url;
  uint16_t port = 443;
  if (size_t p = rest.find("://"); p != std::string_view::npos) {
    if (rest.substr(0, p) == "http") port = 80;
    rest = rest.substr(p + 3);
  }
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  std::string host;
  std::string_view port_text;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return out;
    host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size() && rest[close + 1] == ':') port_text = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (!port_text.empty()) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (ec != std::errc() || v == 0 || v > 65535) return out;
    port = static_cast<uint16_t>(v);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    Endpoint e;
    e.what = "the manager channel";
    e.direction = Direction::kOutbound;
    e.protocol = Protocol::kTcp;
    e.remote_port = port;
    if (ai->ai_family == AF_INET) {
      std::memcpy(e.remote.addr, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, 4);
      e.remote.prefix = 32;
    } else if (ai->ai_family == AF_INET6) {
      std::memcpy(e.remote.addr, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, 16);
      e.remote.v6 = true;
      e.remote.prefix = 128;
    } else {
      continue;
    }
    if ((!e.remote.v6 && e.remote.addr[0] == 127) ||
        (e.remote.v6 && e.remote.ToString() == "::1/128")) {
      e.interface = "lo";
    }
    if (std::none_of(out.begin(), out.end(),
                     [&](const Endpoint& o) { return o.remote == e.remote; })) {
      out.push_back(std::move(e));
    }
  }
  ::freeaddrinfo(res);
  return out;
}

}  // namespace ward::agent::firewall

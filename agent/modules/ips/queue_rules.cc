#include "agent/modules/ips/queue_rules.h"

#include <fmt/format.h>

#include <string>

namespace ward::agent::ips {

std::vector<net::Rule> QueueRules(const IpsConfig& c, bool v6) {
  std::vector<net::Rule> out;
  const int threads = c.EngineThreads();
  const unsigned mask = static_cast<unsigned>(threads - 1);
  auto target = [&](int i) {
    std::vector<std::string> t = {"-j", "NFQUEUE", "--queue-num", std::to_string(c.queue + i)};
    if (c.fail == FailMode::kOpen) t.push_back("--queue-bypass");
    return t;
  };
  for (uint16_t port : c.ports) {
    for (bool in : {true, false}) {
      const net::Hook hook = in ? net::Hook::kInput : net::Hook::kOutput;
      const std::vector<std::string> match = {"-p", "tcp", in ? "--dport" : "--sport",
                                              std::to_string(port)};
      // Segments without payload and without SYN/FIN/RST/URG (pure ACKs, window updates) carry
      // nothing to inspect: they are not queued (an urgent pointer alone changes what the
      // receiver reads later, so URG is always queued). The IP total length must equal the IP plus
      // the TCP header length exactly, for each possible TCP header length (IPv4 without IP
      // options; IPv6 with TCP as the next header). Anything else (options, extension headers) is
      // queued.
      for (unsigned doff = 5; doff <= 15; ++doff) {
        std::vector<std::string> r = match;
        r.insert(r.end(), {"--tcp-flags", "SYN,FIN,RST,URG", "NONE", "-m", "u32", "--u32"});
        r.push_back(
            v6 ? fmt::format("4>>8&0xFF=6&&4>>16=0x{:x}&&52>>28=0x{:x}", doff * 4, doff)
               : fmt::format("0>>24=0x45&&0&0xFFFF=0x{:x}&&32>>28=0x{:x}", 20 + doff * 4, doff));
        r.insert(r.end(), {"-j", "RETURN"});
        out.push_back({hook, std::move(r)});
      }
      // Engine threads: queue + ((client port >> 1) & (threads - 1)), so both directions of a flow
      // go to the same queue and thread (the kernel's --queue-balance hash uses the addresses only,
      // which puts every flow from one client, or on loopback, in one queue).
      for (int i = 1; i < threads; ++i) {
        std::vector<std::string> r = match;
        // The client's port: the source port of packets in, the destination port of packets out;
        // bits 1.. of it (Linux gives connect() even ports, so bit 0 is nearly always 0).
        std::string port_word =
            v6 ? (in ? "40>>17" : "40>>1") : (in ? "0>>22&0x3C@0>>17" : "0>>22&0x3C@0>>1");
        r.insert(r.end(), {"-m", "u32", "--u32"});
        r.push_back(v6 ? fmt::format("4>>8&0xFF=6&&{}&0x{:x}=0x{:x}", port_word, mask, i)
                       : fmt::format("{}&0x{:x}=0x{:x}", port_word, mask, i));
        auto t = target(i);
        r.insert(r.end(), t.begin(), t.end());
        out.push_back({hook, std::move(r)});
      }
      // Thread 0: the remaining client ports, and whatever the rules above could not place.
      std::vector<std::string> r = match;
      auto t = target(0);
      r.insert(r.end(), t.begin(), t.end());
      out.push_back({hook, std::move(r)});
    }
  }
  return out;
}

}  // namespace ward::agent::ips

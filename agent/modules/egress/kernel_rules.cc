#include "agent/modules/egress/kernel_rules.h"

#include <fmt/format.h>

namespace ward::agent::egress {
namespace {

std::string MarkMask() { return fmt::format("0x{:x}/0x{:x}", kDecidedMark, kDecidedMark); }

std::string Elements(const std::vector<Cidr>& cidrs) {
  std::string out;
  for (const Cidr& c : cidrs) {
    if (!out.empty()) out += ", ";
    out += c.ToString();
  }
  return out;
}

void AddSet(std::string& out, std::string_view name, bool v6, const std::vector<Cidr>& cidrs) {
  out += fmt::format("  set {} {{\n    type {}; flags interval; auto-merge;\n", name,
                     v6 ? "ipv6_addr" : "ipv4_addr");
  if (!cidrs.empty()) out += fmt::format("    elements = {{ {} }}\n", Elements(cidrs));
  out += "  }\n";
}

}  // namespace

std::vector<net::Rule> QueueRules(const EgressConfig& c) {
  std::vector<net::Rule> out;
  std::vector<std::string> target = {"-j", "NFQUEUE", "--queue-num", std::to_string(c.queue)};
  if (c.fail_open) target.push_back("--queue-bypass");
  // A packet egress answered with its mark (NF_REPEAT) puts the mark on the connection ...
  out.push_back(
      {net::Hook::kOutput,
       {"-m", "mark", "--mark", MarkMask(), "-j", "CONNMARK", "--set-xmark", MarkMask()}});
  // ... and every packet of a decided connection goes on.
  out.push_back({net::Hook::kOutput, {"-m", "connmark", "--mark", MarkMask(), "-j", "RETURN"}});
  std::vector<uint16_t> ports = c.http_ports;
  ports.insert(ports.end(), c.tls_ports.begin(), c.tls_ports.end());
  for (uint16_t port : ports) {
    // The SYN carries no payload: only the packets after it, and only the first few.
    std::vector<std::string> r = {"-p",
                                  "tcp",
                                  "--dport",
                                  std::to_string(port),
                                  "!",
                                  "--syn",
                                  "-m",
                                  "connbytes",
                                  "--connbytes",
                                  fmt::format("0:{}", kQueuedPackets),
                                  "--connbytes-dir",
                                  "original",
                                  "--connbytes-mode",
                                  "packets"};
    r.insert(r.end(), target.begin(), target.end());
    out.push_back({net::Hook::kOutput, std::move(r)});
  }
  if (c.dns) {
    std::vector<std::string> r = {"-p", "udp", "--sport", "53"};
    r.insert(r.end(), target.begin(), target.end());
    out.push_back({net::Hook::kInput, std::move(r)});
    // DNS over TCP: the server's first packets (never marked decided: the engine accepts them).
    std::vector<std::string> t = {"-p",
                                  "tcp",
                                  "--sport",
                                  "53",
                                  "-m",
                                  "connbytes",
                                  "--connbytes",
                                  fmt::format("0:{}", kQueuedDnsTcpPackets),
                                  "--connbytes-dir",
                                  "reply",
                                  "--connbytes-mode",
                                  "packets"};
    t.insert(t.end(), target.begin(), target.end());
    out.push_back({net::Hook::kInput, std::move(t)});
  }
  return out;
}

std::string CidrTableText(const EgressRules& rules) {
  const SecurityLevel level = rules.config.security_level;
  struct Set {
    std::string_view name;
    bool v6;
    std::vector<Cidr> cidrs;
  };
  const Set sets[] = {{"allow4", false, rules.reputation.AllowedCidrs(false)},
                      {"allow6", true, rules.reputation.AllowedCidrs(true)},
                      {"block4", false, rules.reputation.BlockedCidrs(false, level)},
                      {"block6", true, rules.reputation.BlockedCidrs(true, level)}};
  // Priority 10: after Ward's firewall (-10) and iptables' filter chains (0), where the IPS and
  // egress queue rules are.
  constexpr std::string_view kChain =
      "  chain output {\n    type filter hook output priority 10; policy accept;\n";
  // One transaction that keeps the table, its sets and its base chain and replaces what is in
  // them: the kernel swaps a chain's rules at once, whereas a deleted and re-created table has a
  // moment, under load, when neither the old chain nor the new one drops (docs/egress.md).
  std::string out = fmt::format("table inet {} {{\n", kTableName);
  for (const Set& set : sets) AddSet(out, set.name, set.v6, {});
  out += fmt::format("{}  }}\n}}\n", kChain);
  out += fmt::format("flush chain inet {} output\n", kTableName);
  for (const Set& set : sets) out += fmt::format("flush set inet {} {}\n", kTableName, set.name);
  out += fmt::format("table inet {} {{\n", kTableName);
  for (const Set& set : sets) AddSet(out, set.name, set.v6, set.cidrs);
  // Each drop (or, in detect mode, each packet that would be dropped) is logged to user space for
  // its event, at most 50 a second per family; the drop itself is not limited.
  const bool prevent = rules.config.mode == Mode::kPrevent;
  const std::string prefix = fmt::format("ward:{}:egress.cidr", prevent ? 'd' : 'w');
  out += kChain;
  out += "    ip daddr @allow4 return\n    ip6 daddr @allow6 return\n";
  for (std::string_view family : {"ip", "ip6"}) {
    const std::string set = family == "ip" ? "@block4" : "@block6";
    out += fmt::format("    {} daddr {} limit rate 50/second log group {} prefix \"{}\"\n", family,
                       set, rules.config.log_group, prefix);
    out += fmt::format("    {} daddr {} counter{}\n", family, set, prevent ? " drop" : "");
  }
  out += "  }\n}\n";
  return out;
}

std::string RemoveTableText() {
  return fmt::format("add table inet {0}\ndelete table inet {0}\n", kTableName);
}

}  // namespace ward::agent::egress

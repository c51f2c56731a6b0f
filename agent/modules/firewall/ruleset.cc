#include "agent/modules/firewall/ruleset.h"

#include <fmt/format.h>

#include <algorithm>

namespace ward::agent::firewall {
namespace {

std::string Ports(const std::vector<PortRange>& ports) {
  std::string out = "{ ";
  for (size_t i = 0; i < ports.size(); ++i) {
    if (i) out += ", ";
    out += ports[i].first == ports[i].last ? fmt::format("{}", ports[i].first)
                                           : fmt::format("{}-{}", ports[i].first, ports[i].last);
  }
  return out + " }";
}

std::string Names(const std::vector<std::string>& names) {
  std::string out = "{ ";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += fmt::format("\"{}\"", names[i]);
  }
  return out + " }";
}

std::string Elements(const std::vector<Cidr>& cidrs, bool v6) {
  std::string out;
  for (const Cidr& c : cidrs) {
    if (c.v6 != v6) continue;
    if (!out.empty()) out += ", ";
    out += c.ToString();
  }
  return out;
}

std::string Verdict(Mode mode, Action action, std::string_view id, int group) {
  switch (action) {
    case Action::kAllow:
      return fmt::format("counter accept comment \"{}\"", id);
    case Action::kLog:
      return fmt::format("counter log prefix \"{}\" group {} accept comment \"{}\"",
                         LogPrefix(LogKind::kLogged, id), group, id);
    case Action::kDeny:
      if (mode == Mode::kDetect) {
        return fmt::format("counter log prefix \"{}\" group {} accept comment \"{}\"",
                           LogPrefix(LogKind::kWouldDeny, id), group, id);
      }
      return fmt::format("counter log prefix \"{}\" group {} drop comment \"{}\"",
                         LogPrefix(LogKind::kDenied, id), group, id);
  }
  return "";
}

}  // namespace

std::string LogPrefix(LogKind kind, std::string_view rule_id) {
  char k = kind == LogKind::kDenied ? 'd' : kind == LogKind::kWouldDeny ? 'w' : 'l';
  return fmt::format("ward:{}:{}", k, rule_id);
}

std::string RenderRemoval() {
  return fmt::format("table inet {0}\ndelete table inet {0}\n", kTable);
}

std::string RenderRuleset(const FirewallConfig& config, const std::vector<BlockedEntry>& blocked,
                          const std::vector<std::string>& stale_sets,
                          std::vector<std::string>* rule_sets) {
  std::vector<std::string> set_names;
  std::string sets;
  std::string chains[2];  // inbound, outbound
  for (size_t i = 0; i < config.rules.size(); ++i) {
    const Rule& r = config.rules[i];
    bool in = r.direction == Direction::kInbound;
    std::string common;
    if (!r.interfaces.empty()) {
      common += fmt::format("{} {} ", in ? "iifname" : "oifname", Names(r.interfaces));
    }
    std::string proto;
    switch (r.protocol) {
      case Protocol::kAny:
        break;
      case Protocol::kTcp:
      case Protocol::kUdp: {
        std::string_view p = ProtocolName(r.protocol);
        proto = fmt::format("meta l4proto {} ", p);
        if (!r.local_ports.empty()) {
          proto += fmt::format("{} {} {} ", p, in ? "dport" : "sport", Ports(r.local_ports));
        }
        if (!r.remote_ports.empty()) {
          proto += fmt::format("{} {} {} ", p, in ? "sport" : "dport", Ports(r.remote_ports));
        }
        break;
      }
      case Protocol::kIcmp:
        proto = "meta l4proto icmp ";
        break;
      case Protocol::kIcmpv6:
        proto = "meta l4proto ipv6-icmp ";
        break;
    }
    std::string verdict = Verdict(config.mode, r.action, r.id, config.log_group);
    std::string& chain = chains[in ? 0 : 1];
    std::string v4 = Elements(r.remote, false), v6 = Elements(r.remote, true);
    if (r.remote.empty()) {
      chain += fmt::format("    {}{}{}\n", common, proto, verdict);
      continue;
    }
    std::string_view side = in ? "saddr" : "daddr";
    if (!v4.empty() && r.protocol != Protocol::kIcmpv6) {
      sets += fmt::format(
          "  set r{}_4 {{ type ipv4_addr; flags interval; auto-merge; elements = {{ {} }}; }}\n", i,
          v4);
      set_names.push_back(fmt::format("r{}_4", i));
      chain += fmt::format("    {}ip {} @r{}_4 {}{}\n", common, side, i, proto, verdict);
    }
    if (!v6.empty() && r.protocol != Protocol::kIcmp) {
      sets += fmt::format(
          "  set r{}_6 {{ type ipv6_addr; flags interval; auto-merge; elements = {{ {} }}; }}\n", i,
          v6);
      set_names.push_back(fmt::format("r{}_6", i));
      chain += fmt::format("    {}ip6 {} @r{}_6 {}{}\n", common, side, i, proto, verdict);
    }
  }

  std::string block4, block6;
  for (const BlockedEntry& b : blocked) {
    std::string& s = b.address.v6 ? block6 : block4;
    if (!s.empty()) s += ", ";
    auto left = std::max<int64_t>(1, b.left.count());
    std::string host = b.address.ToString();
    s += fmt::format("{} timeout {}s", host.substr(0, host.find('/')), left);
  }
  auto block_set = [&](std::string_view name, std::string_view type, const std::string& elems) {
    return fmt::format("  set {} {{ type {}; flags timeout; size {};{} }}\n", name, type,
                       std::max<int64_t>(config.active_response.max_blocked, 1),
                       elems.empty() ? "" : fmt::format(" elements = {{ {} }};", elems));
  };
  auto base_chain = [](bool in) {
    return fmt::format("  chain {0} {{\n    type filter hook {0} priority {1}; policy accept;\n",
                       in ? "input" : "output", kPriority);
  };
  // One transaction in three parts. The table, its sets and its two base chains are declared
  // (created when missing, unchanged when present); the chains and sets are flushed and the sets
  // no rule uses any more deleted; then the sets are filled and the chains given their rules. The
  // kernel swaps a chain's rules at once at commit, so no packet meets an empty or half-built
  // chain. (Deleting and re-creating the table instead leaves a moment, under load, when the old
  // chain is already empty and the new one not yet filled.)
  std::string out = fmt::format("table inet {} {{\n", kTable);
  out += block_set("blocked4", "ipv4_addr", "");
  out += block_set("blocked6", "ipv6_addr", "");
  // The stale sets are declared too, so that deleting them cannot fail when they are gone.
  std::vector<std::string> stale;
  for (const std::string& name : stale_sets) {
    if (std::find(set_names.begin(), set_names.end(), name) == set_names.end()) {
      stale.push_back(name);
    }
  }
  for (const auto* names : {&set_names, &stale}) {
    for (const std::string& name : *names) {
      out += fmt::format("  set {} {{ type {}_addr; flags interval; auto-merge; }}\n", name,
                         name.back() == '4' ? "ipv4" : "ipv6");
    }
  }
  out += base_chain(true) + "  }\n" + base_chain(false) + "  }\n}\n";
  out += fmt::format("flush chain inet {0} input\nflush chain inet {0} output\n", kTable);
  out += fmt::format("flush set inet {0} blocked4\nflush set inet {0} blocked6\n", kTable);
  for (const std::string& name : set_names) {
    out += fmt::format("flush set inet {} {}\n", kTable, name);
  }
  for (const std::string& name : stale) out += fmt::format("delete set inet {} {}\n", kTable, name);
  out += fmt::format("table inet {} {{\n", kTable);
  out += block_set("blocked4", "ipv4_addr", block4);
  out += block_set("blocked6", "ipv6_addr", block6);
  out += sets;
  std::string_view block_verdict = config.mode == Mode::kPrevent ? "drop" : "accept";
  for (int c = 0; c < 2; ++c) {
    bool in = c == 0;
    out += base_chain(in);
    if (in) {
      out += fmt::format(
          "    ip saddr @blocked4 counter {0} comment \"ward-active-response\"\n"
          "    ip6 saddr @blocked6 counter {0} comment \"ward-active-response\"\n",
          block_verdict);
    }
    out += "    ct state established,related accept\n";
    if (config.allow_loopback)
      out += fmt::format("    {} \"lo\" accept\n", in ? "iifname" : "oifname");
    // IPv6 neighbour discovery: without it no IPv6 address on a link answers.
    out +=
        "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, "
        "nd-router-advert } accept\n";
    out += chains[c];
    Action def = in ? config.default_inbound : config.default_outbound;
    out += fmt::format(
        "    {}\n",
        Verdict(config.mode, def, in ? "default-inbound" : "default-outbound", config.log_group));
    out += "  }\n";
  }
  out += "}\n";
  if (rule_sets) *rule_sets = std::move(set_names);
  return out;
}

}  // namespace ward::agent::firewall

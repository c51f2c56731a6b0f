#include "agent/modules/firewall/config.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <set>

namespace ward::agent::firewall {
namespace {

Result<Mode> ReadMode(const ConfigNode& node) {
  WARD_ASSIGN_OR_RETURN(std::string s, ReadString(node));
  if (s == "detect") return Mode::kDetect;
  if (s == "prevent") return Mode::kPrevent;
  return node.Error(fmt::format("expected detect or prevent, got \"{}\"", s));
}

Result<Action> ReadAction(const ConfigNode& node) {
  WARD_ASSIGN_OR_RETURN(std::string s, ReadString(node));
  if (s == "allow") return Action::kAllow;
  if (s == "deny") return Action::kDeny;
  if (s == "log") return Action::kLog;
  return node.Error(fmt::format("expected allow, deny or log, got \"{}\"", s));
}

Result<Direction> ReadDirection(const ConfigNode& node) {
  WARD_ASSIGN_OR_RETURN(std::string s, ReadString(node));
  if (s == "inbound" || s == "in") return Direction::kInbound;
  if (s == "outbound" || s == "out") return Direction::kOutbound;
  return node.Error(fmt::format("expected inbound or outbound, got \"{}\"", s));
}

Result<Protocol> ReadProtocol(const ConfigNode& node) {
  WARD_ASSIGN_OR_RETURN(std::string s, ReadString(node));
  if (s == "any") return Protocol::kAny;
  if (s == "tcp") return Protocol::kTcp;
  if (s == "udp") return Protocol::kUdp;
  if (s == "icmp") return Protocol::kIcmp;
  if (s == "icmpv6") return Protocol::kIcmpv6;
  return node.Error(fmt::format("expected any, tcp, udp, icmp or icmpv6, got \"{}\"", s));
}

bool ParsePort(std::string_view s, uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

// 22, "22", "8000-8080"; a single value or a sequence of them.
Result<std::vector<PortRange>> ReadPorts(const ConfigNode& node) {
  std::vector<const ConfigNode*> items;
  if (node.IsSequence()) {
    for (const auto& i : node.items()) items.push_back(&i);
  } else {
    items.push_back(&node);
  }
  std::vector<PortRange> out;
  for (const ConfigNode* i : items) {
    if (!i->IsScalar()) return i->Error("expected a port or a range \"first-last\"");
    const std::string& s = i->scalar();
    PortRange r;
    size_t dash = s.find('-');
    bool ok = dash == std::string::npos
                  ? ParsePort(s, r.first) && ParsePort(s, r.last)
                  : ParsePort(std::string_view(s).substr(0, dash), r.first) &&
                        ParsePort(std::string_view(s).substr(dash + 1), r.last);
    if (!ok) {
      return i->Error(
          fmt::format("expected a port 1-65535 or a range \"first-last\", got \"{}\"", s));
    }
    if (r.first > r.last) {
      return i->Error(fmt::format("the range \"{}\" ends before it starts", s));
    }
    out.push_back(r);
  }
  if (out.empty()) return node.Error("expected at least one port");
  return out;
}

bool ValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  if (!std::isalnum(static_cast<unsigned char>(id[0]))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

Result<std::string> ReadId(const ConfigNode& node) {
  WARD_ASSIGN_OR_RETURN(std::string id, ReadString(node));
  if (!ValidId(id)) {
    return node.Error(fmt::format(
        "\"{}\" is not an id: 1-64 letters, digits, '_', '-' or '.', starting with a letter or "
        "digit",
        id));
  }
  return id;
}

Result<std::vector<Cidr>> ReadCidrs(const ConfigNode& node) {
  std::vector<Cidr> out;
  const std::vector<ConfigNode> one{node};
  const auto& items = node.IsSequence() ? node.items() : one;
  for (const auto& i : items) {
    WARD_ASSIGN_OR_RETURN(std::string s, ReadString(i));
    auto c = ParseCidr(s);
    if (!c) return i.Error(c.error().message());
    out.push_back(*c);
  }
  return out;
}

using Lists = std::map<std::string, std::vector<Cidr>, std::less<>>;

// Appends the CIDRs of the named lists `node` names.
Status AddLists(const ConfigNode& node, const Lists& lists, std::vector<Cidr>& out,
                std::vector<std::string>* names) {
  WARD_ASSIGN_OR_RETURN(std::vector<std::string> v, ReadStringList(node));
  for (size_t i = 0; i < v.size(); ++i) {
    auto it = lists.find(v[i]);
    if (it == lists.end()) {
      const ConfigNode& at = node.IsSequence() ? node.items()[i] : node;
      return at.Error(fmt::format("no IP list \"{}\" in firewall.ip_lists", v[i]));
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
    if (names) names->push_back(v[i]);
  }
  return Status::Ok();
}

Result<Rule> ReadRule(const ConfigNode& node, const Lists& lists,
                      std::set<std::string, std::less<>>& ids) {
  WARD_RETURN_IF_ERROR(RequireMap(node));
  WARD_RETURN_IF_ERROR(
      CheckKeys(node, {"id", "direction", "protocol", "local_ports", "remote_ports", "remote",
                       "remote_lists", "interfaces", "action"}));
  Rule r;
  const ConfigNode* id = node.Find("id");
  if (!id) return node.Error("a rule needs an id");
  WARD_ASSIGN_OR_RETURN(r.id, ReadId(*id));
  if (r.id.starts_with("default-") || r.id.starts_with("ward-")) {
    return id->Error(
        fmt::format("rule {}: ids starting with default- or ward- are Ward's own", r.id));
  }
  if (!ids.insert(r.id).second) {
    return id->Error(fmt::format("rule {}: the id is used by an earlier rule", r.id));
  }
  // Every later error names the rule (its key path names the field).
  auto named = [&](Status s) {
    return InvalidArgument(fmt::format("rule {}: {}", r.id, s.message()));
  };
  const ConfigNode* dir = node.Find("direction");
  if (!dir) return named(node.Error("direction is required (inbound or outbound)"));
  if (auto d = ReadDirection(*dir))
    r.direction = *d;
  else
    return named(d.error());
  if (const ConfigNode* n = node.Find("protocol")) {
    if (auto p = ReadProtocol(*n))
      r.protocol = *p;
    else
      return named(p.error());
  }
  for (auto [key, out] :
       {std::pair{"local_ports", &r.local_ports}, std::pair{"remote_ports", &r.remote_ports}}) {
    const ConfigNode* n = node.Find(key);
    if (!n) continue;
    if (r.protocol != Protocol::kTcp && r.protocol != Protocol::kUdp) {
      return named(n->Error("ports need protocol tcp or udp"));
    }
    if (auto p = ReadPorts(*n))
      *out = *p;
    else
      return named(p.error());
  }
  if (const ConfigNode* n = node.Find("remote")) {
    if (auto c = ReadCidrs(*n))
      r.remote = *c;
    else
      return named(c.error());
  }
  if (const ConfigNode* n = node.Find("remote_lists")) {
    Status s = AddLists(*n, lists, r.remote, &r.remote_lists);
    if (!s.ok()) return named(s);
  }
  if (const ConfigNode* n = node.Find("interfaces")) {
    auto v = ReadStringList(*n);
    if (!v) return named(v.error());
    for (const auto& i : *v) {
      if (i.empty() || i.size() > 15 || std::any_of(i.begin(), i.end(), [](char c) {
            return !(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                     c == '.' || c == '@');
          })) {
        return named(n->Error(fmt::format("\"{}\" is not an interface name", i)));
      }
    }
    r.interfaces = *v;
  }
  bool v4 = std::any_of(r.remote.begin(), r.remote.end(), [](const Cidr& c) { return !c.v6; });
  bool v6 = std::any_of(r.remote.begin(), r.remote.end(), [](const Cidr& c) { return c.v6; });
  if ((r.protocol == Protocol::kIcmp && v6 && !v4) ||
      (r.protocol == Protocol::kIcmpv6 && v4 && !v6)) {
    return named(node.Error("the remote addresses are of the other IP version than the protocol"));
  }
  const ConfigNode* act = node.Find("action");
  if (!act) return named(node.Error("action is required (allow, deny or log)"));
  if (auto a = ReadAction(*act))
    r.action = *a;
  else
    return named(a.error());
  return r;
}

Result<Trigger> ReadTrigger(const ConfigNode& node, std::set<std::string, std::less<>>& ids) {
  WARD_RETURN_IF_ERROR(RequireMap(node));
  WARD_RETURN_IF_ERROR(CheckKeys(node, {"id", "module", "rule_ids", "event_action", "min_level",
                                        "min_anomaly_score", "count", "within", "duration"}));
  Trigger t;
  const ConfigNode* id = node.Find("id");
  if (!id) return node.Error("a trigger needs an id");
  WARD_ASSIGN_OR_RETURN(t.id, ReadId(*id));
  if (!ids.insert(t.id).second) {
    return id->Error(fmt::format("trigger {}: the id is used by an earlier trigger", t.id));
  }
  auto named = [&](Status s) {
    return InvalidArgument(fmt::format("trigger {}: {}", t.id, s.message()));
  };
  const ConfigNode* mod = node.Find("module");
  if (!mod) return named(node.Error("module is required (loginspect or ips)"));
  auto m = ReadString(*mod);
  if (!m) return named(m.error());
  if (*m != "loginspect" && *m != "ips") {
    return named(mod->Error(fmt::format("expected loginspect or ips, got \"{}\"", *m)));
  }
  t.module = *m;
  if (const ConfigNode* n = node.Find("rule_ids")) {
    if (auto v = ReadStringList(*n))
      t.rule_ids = *v;
    else
      return named(v.error());
  }
  if (const ConfigNode* n = node.Find("event_action")) {
    if (auto v = ReadString(*n))
      t.event_action = *v;
    else
      return named(v.error());
  }
  if (const ConfigNode* n = node.Find("min_level")) {
    if (t.module != "loginspect") return named(n->Error("min_level is for module loginspect"));
    if (auto v = ReadInt(*n, 0, 16))
      t.min_level = *v;
    else
      return named(v.error());
  }
  if (const ConfigNode* n = node.Find("min_anomaly_score")) {
    if (t.module != "ips") return named(n->Error("min_anomaly_score is for module ips"));
    if (auto v = ReadInt(*n, 0, 100000))
      t.min_anomaly_score = *v;
    else
      return named(v.error());
  }
  if (const ConfigNode* n = node.Find("count")) {
    if (auto v = ReadInt(*n, 1, 100000))
      t.count = *v;
    else
      return named(v.error());
  }
  if (const ConfigNode* n = node.Find("within")) {
    if (auto v = ReadDuration(*n))
      t.within = *v;
    else
      return named(v.error());
  }
  if (t.count > 1 && t.within.count() <= 0) {
    return named(node.Error("count above 1 needs a window: within"));
  }
  if (const ConfigNode* n = node.Find("duration")) {
    if (auto v = ReadDuration(*n))
      t.duration = *v;
    else
      return named(v.error());
    if (t.duration.count() <= 0) return named(n->Error("the duration must be positive"));
  }
  return t;
}

Result<ActiveResponse> ReadActiveResponse(const ConfigNode& node, const Lists& lists) {
  ActiveResponse ar;
  WARD_RETURN_IF_ERROR(RequireMap(node));
  WARD_RETURN_IF_ERROR(CheckKeys(node, {"enabled", "duration", "max_blocked", "never_block",
                                        "never_block_lists", "triggers"}));
  ar.enabled = true;
  if (const ConfigNode* n = node.Find("enabled")) {
    WARD_ASSIGN_OR_RETURN(ar.enabled, ReadBool(*n));
  }
  if (const ConfigNode* n = node.Find("duration")) {
    WARD_ASSIGN_OR_RETURN(ar.duration, ReadDuration(*n));
    if (ar.duration.count() <= 0) return n->Error("the duration must be positive");
  }
  if (const ConfigNode* n = node.Find("max_blocked")) {
    WARD_ASSIGN_OR_RETURN(ar.max_blocked, ReadInt(*n, 1, 1'000'000));
  }
  if (const ConfigNode* n = node.Find("never_block")) {
    WARD_ASSIGN_OR_RETURN(ar.never_block, ReadCidrs(*n));
  }
  if (const ConfigNode* n = node.Find("never_block_lists")) {
    WARD_RETURN_IF_ERROR(AddLists(*n, lists, ar.never_block, nullptr));
  }
  if (const ConfigNode* n = node.Find("triggers")) {
    if (!n->IsSequence()) return n->Error("expected a list of triggers");
    std::set<std::string, std::less<>> ids;
    for (const auto& t : n->items()) {
      WARD_ASSIGN_OR_RETURN(Trigger tr, ReadTrigger(t, ids));
      if (tr.duration.count() == 0) tr.duration = ar.duration;
      ar.triggers.push_back(std::move(tr));
    }
  }
  return ar;
}

}  // namespace

std::string_view ModeName(Mode m) { return m == Mode::kPrevent ? "prevent" : "detect"; }
std::string_view DirectionName(Direction d) {
  return d == Direction::kInbound ? "inbound" : "outbound";
}
std::string_view ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kAny:
      return "any";
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kIcmp:
      return "icmp";
    case Protocol::kIcmpv6:
      return "icmpv6";
  }
  return "any";
}
std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kAllow:
      return "allow";
    case Action::kDeny:
      return "deny";
    case Action::kLog:
      return "log";
  }
  return "deny";
}

std::string Cidr::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, addr, buf, sizeof buf);
  return fmt::format("{}/{}", buf, prefix);
}

bool Cidr::Contains(const Cidr& host) const {
  if (host.v6 != v6) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(addr, host.addr, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (addr[full] & mask) == (host.addr[full] & mask);
}

bool Cidr::operator==(const Cidr& o) const {
  return v6 == o.v6 && prefix == o.prefix && std::memcmp(addr, o.addr, 16) == 0;
}

Result<Cidr> ParseCidr(std::string_view text) {
  Cidr c;
  std::string s(text);
  std::string addr = s;
  int prefix = -1;
  if (size_t slash = s.find('/'); slash != std::string::npos) {
    addr = s.substr(0, slash);
    std::string_view p = std::string_view(s).substr(slash + 1);
    int v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || end != p.data() + p.size() || p.empty()) {
      return InvalidArgument(fmt::format("\"{}\" is not an address or network", s));
    }
    prefix = v;
  }
  if (::inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    c.v6 = false;
    if (prefix < 0) prefix = 32;
    if (prefix > 32) return InvalidArgument(fmt::format("\"{}\": prefix above 32", s));
  } else if (::inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.v6 = true;
    if (prefix < 0) prefix = 128;
    if (prefix > 128) return InvalidArgument(fmt::format("\"{}\": prefix above 128", s));
  } else {
    return InvalidArgument(fmt::format("\"{}\" is not an address or network", s));
  }
  c.prefix = prefix;
  int bytes = c.v6 ? 16 : 4;
  for (int bit = prefix; bit < bytes * 8; ++bit) {
    if (c.addr[bit / 8] & (0x80 >> (bit % 8))) {
      return InvalidArgument(fmt::format("\"{}\" has host bits set (the network is {})", s, [&] {
        Cidr n = c;
        for (int b = prefix; b < bytes * 8; ++b) n.addr[b / 8] &= ~(0x80 >> (b % 8));
        return n.ToString();
      }()));
    }
  }
  return c;
}

Result<FirewallConfig> ParseFirewallConfig(const ConfigNode& section) {
  FirewallConfig c;
  if (section.IsNull()) return c;
  WARD_RETURN_IF_ERROR(RequireMap(section));
  WARD_RETURN_IF_ERROR(CheckKeys(
      section, {"enabled", "mode", "default", "allow_loopback", "log_group", "events_per_second",
                "confirm_timeout", "ip_lists", "rules", "active_response"}));
  if (const ConfigNode* n = section.Find("enabled")) WARD_RETURN_IF_ERROR(ReadBool(*n).status());
  if (const ConfigNode* n = section.Find("mode")) {
    WARD_ASSIGN_OR_RETURN(c.mode, ReadMode(*n));
  }
  if (const ConfigNode* n = section.Find("default")) {
    WARD_RETURN_IF_ERROR(RequireMap(*n));
    WARD_RETURN_IF_ERROR(CheckKeys(*n, {"inbound", "outbound"}));
    if (const ConfigNode* d = n->Find("inbound")) {
      WARD_ASSIGN_OR_RETURN(c.default_inbound, ReadAction(*d));
    }
    if (const ConfigNode* d = n->Find("outbound")) {
      WARD_ASSIGN_OR_RETURN(c.default_outbound, ReadAction(*d));
    }
  }
  if (const ConfigNode* n = section.Find("allow_loopback")) {
    WARD_ASSIGN_OR_RETURN(c.allow_loopback, ReadBool(*n));
  }
  if (const ConfigNode* n = section.Find("log_group")) {
    WARD_ASSIGN_OR_RETURN(int64_t g, ReadInt(*n, 1, 65535));
    c.log_group = static_cast<int>(g);
  }
  if (const ConfigNode* n = section.Find("events_per_second")) {
    WARD_ASSIGN_OR_RETURN(c.events_per_second, ReadInt(*n, 1, 100000));
  }
  if (const ConfigNode* n = section.Find("confirm_timeout")) {
    WARD_ASSIGN_OR_RETURN(c.confirm_timeout, ReadDuration(*n));
  }
  Lists lists;
  if (const ConfigNode* n = section.Find("ip_lists")) {
    WARD_RETURN_IF_ERROR(RequireMap(*n));
    for (const auto& [name, value] : n->entries()) {
      if (!ValidId(name)) return value.KeyError(fmt::format("\"{}\" is not a list name", name));
      WARD_ASSIGN_OR_RETURN(lists[name], ReadCidrs(value));
    }
  }
  if (const ConfigNode* n = section.Find("rules")) {
    if (!n->IsSequence()) return n->Error("expected a list of rules");
    std::set<std::string, std::less<>> ids;
    for (const auto& r : n->items()) {
      WARD_ASSIGN_OR_RETURN(Rule rule, ReadRule(r, lists, ids));
      c.rules.push_back(std::move(rule));
    }
  }
  if (const ConfigNode* n = section.Find("active_response")) {
    WARD_ASSIGN_OR_RETURN(c.active_response, ReadActiveResponse(*n, lists));
  }
  return c;
}

}  // namespace ward::agent::firewall

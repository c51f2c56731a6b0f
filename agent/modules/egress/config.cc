#include "agent/modules/egress/config.h"

#include <fmt/format.h>

#include <set>

#include "agent/updates/layout.h"

namespace ward::agent::egress {
namespace {

Result<std::vector<uint16_t>> ReadPorts(const ConfigNode& node) {
  std::vector<uint16_t> out;
  std::vector<const ConfigNode*> items;
  if (node.IsSequence()) {
    for (const auto& i : node.items()) items.push_back(&i);
  } else {
    items.push_back(&node);
  }
  for (const ConfigNode* i : items) {
    WARD_ASSIGN_OR_RETURN(int64_t p, ReadInt(*i, 1, 65535));
    out.push_back(static_cast<uint16_t>(p));
  }
  return out;
}

bool ValidListName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

Result<FeedSpec> ReadFeed(const ConfigNode& node) {
  WARD_RETURN_IF_ERROR(RequireMap(node));
  WARD_RETURN_IF_ERROR(CheckKeys(node, {"name", "format", "path", "category", "risk", "allow"}));
  FeedSpec f;
  const ConfigNode* name = node.Find("name");
  if (!name) return node.Error("a list needs a name");
  WARD_ASSIGN_OR_RETURN(f.name, ReadString(*name));
  if (!ValidListName(f.name)) {
    return name->Error("expected 1-64 letters, digits, '_', '.' or '-'");
  }
  const ConfigNode* path = node.Find("path");
  if (!path) return node.Error("a list needs a path");
  WARD_ASSIGN_OR_RETURN(f.path, ReadString(*path));
  // A feed the manager distributes ("managed:feeds/<name>", docs/egress.md "Managed feeds"):
  // the file of that name in the feeds bundle in force, its format said by its extension.
  const bool managed = !updates::ManagedFeed(f.path).empty();
  if (!managed && f.path.starts_with(updates::kManagedPrefix)) {
    return path->Error(fmt::format(
        "\"{}\": a managed feed is managed:feeds/<name> (1-64 of a-z, 0-9, '_', '-')", f.path));
  }
  if (!managed && (f.path.empty() || f.path.front() != '/')) {
    return path->Error("expected an absolute path or managed:feeds/<name>");
  }
  const ConfigNode* format = node.Find("format");
  if (!format && !managed) return node.Error("a list needs a format");
  if (format) {
    WARD_ASSIGN_OR_RETURN(std::string fs, ReadString(*format));
    auto ff = FeedFormatFromName(fs);
    if (!ff) {
      return format->Error(fmt::format(
          "expected hosts, domains, urlhaus_csv, spamhaus_drop or custom, got \"{}\"", fs));
    }
    f.format = *ff;
  } else {
    f.format_from_file = true;
  }
  f.category = f.name;
  if (const ConfigNode* c = node.Find("category")) {
    WARD_ASSIGN_OR_RETURN(f.category, ReadString(*c));
  }
  if (const ConfigNode* r = node.Find("risk")) {
    WARD_ASSIGN_OR_RETURN(std::string rs, ReadString(*r));
    if (rs == "dangerous") {
      f.risk = Risk::kDangerous;
    } else if (rs == "highly_suspicious") {
      f.risk = Risk::kHighlySuspicious;
    } else if (rs == "suspicious") {
      f.risk = Risk::kSuspicious;
    } else {
      return r->Error(
          fmt::format("expected dangerous, highly_suspicious or suspicious, got \"{}\"", rs));
    }
  }
  if (const ConfigNode* a = node.Find("allow")) {
    WARD_ASSIGN_OR_RETURN(f.allow, ReadBool(*a));
  }
  return f;
}

// Domains, URL prefixes and CIDRs; with `ports` (a service's allow-list) each may carry ports
// ("api.example.com:443", "10.0.0.0/8:5000-5999", "[2001:db8::/32]:443").
Result<std::vector<std::string>> ReadEntries(const ConfigNode& node, bool ports = false) {
  WARD_ASSIGN_OR_RETURN(auto entries, ReadStringList(node));
  Reputation probe;
  uint16_t id = probe.AddList({"probe", "probe", Risk::kDangerous, false});
  for (size_t i = 0; i < entries.size(); ++i) {
    const ConfigNode& at = node.IsSequence() ? node.items()[i] : node;
    auto split = SplitPorts(entries[i]);
    if (!split) return at.Error(split.error().message());
    if (split->ports && !ports) {
      return at.Error(fmt::format(
          "\"{}\": ports are part of a service's allow-list entries only (the firewall filters "
          "by port)",
          entries[i]));
    }
    if (Status s = probe.AddEntry(id, split->destination); !s.ok()) {
      return at.Error(s.message());
    }
  }
  return entries;
}

Result<ServiceSpec> ReadService(const ConfigNode& node) {
  WARD_RETURN_IF_ERROR(RequireMap(node));
  WARD_RETURN_IF_ERROR(CheckKeys(node, {"id", "unit", "exe", "mode", "allow", "learn_for"}));
  ServiceSpec s;
  const ConfigNode* id = node.Find("id");
  if (!id) return node.Error("a service needs an id");
  WARD_ASSIGN_OR_RETURN(s.id, ReadString(*id));
  if (!ValidListName(s.id)) return id->Error("expected 1-64 letters, digits, '_', '.' or '-'");
  if (const ConfigNode* u = node.Find("unit")) {
    WARD_ASSIGN_OR_RETURN(s.unit, ReadString(*u));
  }
  if (const ConfigNode* e = node.Find("exe")) {
    WARD_ASSIGN_OR_RETURN(s.exe, ReadString(*e));
    if (s.exe.empty() || s.exe.front() != '/') return e->Error("expected an absolute path");
  }
  if (s.unit.empty() == s.exe.empty()) {
    return node.Error("a service is named by exactly one of unit and exe");
  }
  if (const ConfigNode* m = node.Find("mode")) {
    WARD_ASSIGN_OR_RETURN(std::string ms, ReadString(*m));
    if (ms == "learn") {
      s.mode = ServiceMode::kLearn;
    } else if (ms == "detect") {
      s.mode = ServiceMode::kDetect;
    } else if (ms == "prevent") {
      s.mode = ServiceMode::kPrevent;
    } else {
      return m->Error(fmt::format("expected learn, detect or prevent, got \"{}\"", ms));
    }
  }
  if (const ConfigNode* a = node.Find("allow")) {
    WARD_ASSIGN_OR_RETURN(s.allow, ReadEntries(*a, /*ports=*/true));
  }
  if (const ConfigNode* l = node.Find("learn_for")) {
    WARD_ASSIGN_OR_RETURN(s.learn_for, ReadDuration(*l));
    if (s.learn_for.count() <= 0) return l->Error("expected a duration above zero");
  }
  return s;
}

}  // namespace

std::string_view ServiceModeName(ServiceMode m) {
  switch (m) {
    case ServiceMode::kLearn:
      return "learn";
    case ServiceMode::kDetect:
      return "detect";
    case ServiceMode::kPrevent:
      return "prevent";
  }
  return "learn";
}

std::string_view ModeName(Mode m) { return m == Mode::kPrevent ? "prevent" : "detect"; }

Result<EgressConfig> ParseEgressConfig(const ConfigNode& section) {
  EgressConfig c;
  if (section.IsNull()) return c;
  WARD_RETURN_IF_ERROR(RequireMap(section));
  WARD_RETURN_IF_ERROR(CheckKeys(
      section,
      {"enabled", "mode", "fail", "queue", "security_level", "http_ports", "tls_ports", "dns",
       "block_page", "lists", "block", "allow", "services", "log_group", "attribution"}));
  if (const ConfigNode* e = section.Find("enabled")) WARD_RETURN_IF_ERROR(ReadBool(*e).status());
  if (const ConfigNode* m = section.Find("mode")) {
    WARD_ASSIGN_OR_RETURN(std::string s, ReadString(*m));
    if (s == "detect") {
      c.mode = Mode::kDetect;
    } else if (s == "prevent") {
      c.mode = Mode::kPrevent;
    } else {
      return m->Error(fmt::format("expected detect or prevent, got \"{}\"", s));
    }
  }
  if (const ConfigNode* f = section.Find("fail")) {
    WARD_ASSIGN_OR_RETURN(std::string s, ReadString(*f));
    if (s != "open" && s != "closed") {
      return f->Error(fmt::format("expected open or closed, got \"{}\"", s));
    }
    c.fail_open = s == "open";
  }
  if (const ConfigNode* q = section.Find("queue")) {
    WARD_ASSIGN_OR_RETURN(int64_t v, ReadInt(*q, 0, 65535));
    c.queue = static_cast<uint16_t>(v);
  }
  if (const ConfigNode* l = section.Find("security_level")) {
    WARD_ASSIGN_OR_RETURN(std::string s, ReadString(*l));
    if (s == "low") {
      c.security_level = SecurityLevel::kLow;
    } else if (s == "medium") {
      c.security_level = SecurityLevel::kMedium;
    } else if (s == "high") {
      c.security_level = SecurityLevel::kHigh;
    } else {
      return l->Error(fmt::format("expected low, medium or high, got \"{}\"", s));
    }
  }
  if (const ConfigNode* p = section.Find("http_ports")) {
    WARD_ASSIGN_OR_RETURN(c.http_ports, ReadPorts(*p));
  }
  if (const ConfigNode* p = section.Find("tls_ports")) {
    WARD_ASSIGN_OR_RETURN(c.tls_ports, ReadPorts(*p));
  }
  for (uint16_t p : c.http_ports) {
    for (uint16_t t : c.tls_ports) {
      if (p == t) {
        const ConfigNode* at = section.Find("tls_ports");
        if (at == nullptr) at = section.Find("http_ports");
        return at->Error(fmt::format("port {} is in both http_ports and tls_ports", p));
      }
    }
  }
  if (const ConfigNode* d = section.Find("dns")) {
    WARD_ASSIGN_OR_RETURN(c.dns, ReadBool(*d));
  }
  if (const ConfigNode* g = section.Find("log_group")) {
    WARD_ASSIGN_OR_RETURN(int64_t v, ReadInt(*g, 1, 65535));
    c.log_group = static_cast<int>(v);
  }
  if (const ConfigNode* a = section.Find("attribution")) {
    WARD_ASSIGN_OR_RETURN(std::string s, ReadString(*a));
    if (s != "auto" && s != "socket") {
      return a->Error(fmt::format("expected auto or socket, got \"{}\"", s));
    }
    c.ebpf_attribution = s == "auto";
  }
  if (const ConfigNode* b = section.Find("block_page")) {
    WARD_ASSIGN_OR_RETURN(c.block_page, ReadBool(*b));
  }
  if (const ConfigNode* lists = section.Find("lists")) {
    if (!lists->IsSequence()) return lists->Error("expected a sequence of lists");
    std::set<std::string> names;
    for (const ConfigNode& item : lists->items()) {
      WARD_ASSIGN_OR_RETURN(FeedSpec f, ReadFeed(item));
      if (!names.insert(f.name).second || f.name == "policy.block" || f.name == "policy.allow") {
        return item.Error(fmt::format("the list name \"{}\" is used twice", f.name));
      }
      c.lists.push_back(std::move(f));
    }
  }
  if (const ConfigNode* b = section.Find("block")) {
    WARD_ASSIGN_OR_RETURN(c.block, ReadEntries(*b));
  }
  if (const ConfigNode* a = section.Find("allow")) {
    WARD_ASSIGN_OR_RETURN(c.allow, ReadEntries(*a));
  }
  if (const ConfigNode* services = section.Find("services")) {
    if (!services->IsSequence()) return services->Error("expected a sequence of services");
    std::set<std::string> ids;
    for (const ConfigNode& item : services->items()) {
      WARD_ASSIGN_OR_RETURN(ServiceSpec s, ReadService(item));
      if (!ids.insert(s.id).second) {
        return item.Error(fmt::format("the service id \"{}\" is used twice", s.id));
      }
      c.services.push_back(std::move(s));
    }
  }
  return c;
}

}  // namespace ward::agent::egress

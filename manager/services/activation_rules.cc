#include "manager/services/activation_rules.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fnmatch.h>

#include <array>
#include <charconv>

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxRules = 100;

// Address bytes (4 or 16) and the prefix length; nullopt when malformed.
struct Net {
  std::array<unsigned char, 16> bytes{};
  int family = 0;
  int prefix = 0;
};

std::optional<Net> ParseAddress(const std::string& text) {
  Net n;
  if (inet_pton(AF_INET, text.c_str(), n.bytes.data()) == 1) {
    n.family = AF_INET;
    n.prefix = 32;
  } else if (inet_pton(AF_INET6, text.c_str(), n.bytes.data()) == 1) {
    n.family = AF_INET6;
    n.prefix = 128;
  } else {
    return std::nullopt;
  }
  return n;
}

std::optional<Net> ParseCidr(const std::string& cidr) {
  size_t slash = cidr.find('/');
  auto n = ParseAddress(cidr.substr(0, slash));
  if (!n) return std::nullopt;
  if (slash != std::string::npos) {
    std::string_view len = std::string_view(cidr).substr(slash + 1);
    int prefix = -1;
    auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
    if (ec != std::errc() || p != len.data() + len.size() || prefix < 0 || prefix > n->prefix) {
      return std::nullopt;
    }
    n->prefix = prefix;
  }
  return n;
}

bool Glob(const std::string& pattern, const std::string& value) {
  return fnmatch(pattern.c_str(), value.c_str(), FNM_CASEFOLD) == 0;
}

Status Invalid(const std::string& where, std::string_view what) {
  return InvalidArgument(fmt::format("{}: {}", where, what));
}

// A glob condition: a string of 1..255 bytes.
Status CheckGlob(const json& v, const std::string& where) {
  if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
      v.get_ref<const std::string&>().size() > 255) {
    return Invalid(where, "expected a pattern of 1..255 bytes (shell glob: * ? [...])");
  }
  return Status::Ok();
}

}  // namespace

bool InCidr(const std::string& address, const std::string& cidr) {
  auto a = ParseAddress(address);
  auto n = ParseCidr(cidr);
  if (!a || !n || a->family != n->family) return false;
  int full = n->prefix / 8, rest = n->prefix % 8;
  for (int i = 0; i < full; ++i) {
    if (a->bytes[static_cast<size_t>(i)] != n->bytes[static_cast<size_t>(i)]) return false;
  }
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a->bytes[static_cast<size_t>(full)] & mask) ==
         (n->bytes[static_cast<size_t>(full)] & mask);
}

Result<std::vector<ActivationRule>> ParseActivationRules(const json& rules) {
  if (!rules.is_array()) return InvalidArgument("rules: expected an array");
  if (rules.size() > kMaxRules) {
    return InvalidArgument(fmt::format("rules: at most {} rules", kMaxRules));
  }
  std::vector<ActivationRule> out;
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string at = fmt::format("rules[{}]", i);
    const json& r = rules[i];
    if (!r.is_object()) return Invalid(at, "expected an object");
    for (auto it = r.begin(); it != r.end(); ++it) {
      if (it.key() != "name" && it.key() != "match" && it.key() != "policy_id" &&
          it.key() != "group_id") {
        return Invalid(at + "." + it.key(), "unknown field (name, match, policy_id, group_id)");
      }
    }
    ActivationRule rule;
    if (!r.contains("name") || !r["name"].is_string() || r["name"].get<std::string>().empty() ||
        r["name"].get<std::string>().size() > 200) {
      return Invalid(at + ".name", "expected 1..200 bytes");
    }
    rule.name = r["name"];
    auto id_field = [&](const char* key) -> Result<std::optional<std::string>> {
      if (!r.contains(key)) return std::optional<std::string>();
      if (!r[key].is_string() || r[key].get<std::string>().empty() ||
          r[key].get<std::string>().size() > 128) {
        return Invalid(at + "." + key, "expected an id of 1..128 bytes");
      }
      return std::optional<std::string>(r[key].get<std::string>());
    };
    WARD_ASSIGN_OR_RETURN(rule.policy_id, id_field("policy_id"));
    WARD_ASSIGN_OR_RETURN(rule.group_id, id_field("group_id"));
    if (!rule.policy_id && !rule.group_id) {
      return Invalid(at + ".policy_id", "expected a policy id (or a group_id, or both)");
    }
    if (!r.contains("match") || !r["match"].is_object() || r["match"].empty()) {
      return Invalid(at + ".match",
                     "expected an object with at least one of hostname, os, ip, tags");
    }
    const json& m = r["match"];
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string where = at + ".match." + it.key();
      if (it.key() == "hostname" || it.key() == "os") {
        WARD_RETURN_IF_ERROR(CheckGlob(it.value(), where));
        (it.key() == "hostname" ? rule.hostname : rule.os) = it.value().get<std::string>();
      } else if (it.key() == "ip") {
        if (!it.value().is_string() || !ParseCidr(it.value().get<std::string>())) {
          return Invalid(where, "expected an address or a CIDR range (10.0.0.0/8, 2001:db8::/32)");
        }
        rule.ip = it.value().get<std::string>();
      } else if (it.key() == "tags") {
        if (!it.value().is_object() || it.value().empty()) {
          return Invalid(where, "expected an object of tag name to pattern");
        }
        for (auto t = it.value().begin(); t != it.value().end(); ++t) {
          WARD_RETURN_IF_ERROR(CheckGlob(t.value(), where + "." + t.key()));
          rule.tags[t.key()] = t.value().get<std::string>();
        }
      } else {
        return Invalid(where, "unknown condition (hostname, os, ip, tags)");
      }
    }
    out.push_back(std::move(rule));
  }
  return out;
}

const ActivationRule* FirstMatchingRule(const std::vector<ActivationRule>& rules,
                                        const HostFacts& facts) {
  for (const auto& r : rules) {
    if (r.hostname && !Glob(*r.hostname, facts.hostname)) continue;
    if (r.os && !Glob(*r.os, facts.os)) continue;
    if (r.ip && std::none_of(facts.ips.begin(), facts.ips.end(),
                             [&](const std::string& a) { return InCidr(a, *r.ip); })) {
      continue;
    }
    bool tags_ok = true;
    for (const auto& [name, pattern] : r.tags) {
      auto it = facts.tags.find(name);
      if (it == facts.tags.end() || !Glob(pattern, it->second)) {
        tags_ok = false;
        break;
      }
    }
    if (!tags_ok) continue;
    return &r;
  }
  return nullptr;
}

}  // namespace ward::manager

#include "agent/modules/ips/config.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "agent/modules/ips/path_prefix.h"
#include "agent/updates/layout.h"

namespace ward::agent::ips {
namespace {

Result<Mode> ReadMode(const ConfigNode& node) {
  WARD_ASSIGN_OR_RETURN(std::string s, ReadString(node));
  if (s == "detect") return Mode::kDetect;
  if (s == "prevent") return Mode::kPrevent;
  return node.Error(fmt::format("expected detect or prevent, got \"{}\"", s));
}

// Characters that could break out of a generated SecRule argument.
bool SafeInRule(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '"' || c == '\'' || c == '\\' || c == ',' ||
           static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
  });
}

Result<int64_t> ReadRuleId(const ConfigNode& node) { return ReadInt(node, 1, 9'999'999); }

}  // namespace

std::string_view ModeName(Mode m) { return m == Mode::kPrevent ? "prevent" : "detect"; }

std::string_view WafEngineName(WafEngineKind e) {
  switch (e) {
    case WafEngineKind::kLibModSecurity:
      return "libmodsecurity";
    case WafEngineKind::kWard:
      return "ward";
  }
  return "libmodsecurity";
}

Mode IpsConfig::RuleMode(int64_t id) const {
  for (const auto& r : rules) {
    if (r.id == id && r.mode) return *r.mode;
  }
  return mode;
}

int IpsConfig::EngineThreads() const {
  if (capture != Capture::kNfqueue) return 1;
  if (threads > 0) return threads;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  int n = 1;
  while (n * 2 <= std::min<long>(cpus, 8)) n *= 2;
  return n;
}

bool IpsConfig::IsPort(uint16_t port) const {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

namespace {

// The directory "managed:<kind>" stands for, or kNotFound naming the reference and the key when
// that bundle is not installed (yet): a missing bundle must never load as "no rules".
Result<std::filesystem::path> InstalledBundle(const std::filesystem::path& state_dir,
                                              std::string_view kind, std::string_view key) {
  std::filesystem::path dir = updates::ManagedDir(state_dir, kind);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return NotFound(fmt::format(
        "ips.{}: managed:{}: the \"{}\" update bundle is not installed on this agent ({} {})", key,
        kind, kind, dir.string(), ec ? ec.message() : std::string("is not a directory")));
  }
  return dir;
}

}  // namespace

Result<IpsConfig> ResolveManaged(IpsConfig c, const std::filesystem::path& state_dir) {
  if (updates::ManagedKind(c.crs.rules_dir) == "crs") {
    WARD_ASSIGN_OR_RETURN(auto dir, InstalledBundle(state_dir, "crs", "crs.rules"));
    c.crs.rules_dir = dir.string();
  }
  for (auto& r : c.custom_rules) {
    if (updates::ManagedKind(r) == "rules") {
      WARD_ASSIGN_OR_RETURN(auto dir, InstalledBundle(state_dir, "rules", "custom_rules"));
      r = (dir / "*.conf").string();
    }
  }
  return c;
}

Result<IpsConfig> ParseIpsConfig(const ConfigNode& section) {
  IpsConfig c;
  if (section.IsNull()) return c;
  WARD_RETURN_IF_ERROR(RequireMap(section));
  WARD_RETURN_IF_ERROR(CheckKeys(
      section,
      {"enabled", "engine", "mode", "ports", "capture", "interface", "fail", "queue", "threads",
       "crs", "rules", "exclusions", "custom_rules", "log_file", "limits", "block_status"}));
  if (const ConfigNode* n = section.Find("enabled")) WARD_RETURN_IF_ERROR(ReadBool(*n).status());
  if (const ConfigNode* n = section.Find("engine")) {
    WARD_ASSIGN_OR_RETURN(std::string s, ReadString(*n));
    if (s == WafEngineName(WafEngineKind::kLibModSecurity)) {
      c.engine = WafEngineKind::kLibModSecurity;
    } else if (s == WafEngineName(WafEngineKind::kWard)) {
      c.engine = WafEngineKind::kWard;
    } else {
      return n->Error(fmt::format("expected libmodsecurity or ward, got \"{}\"", s));
    }
  }
  if (const ConfigNode* n = section.Find("mode")) {
    WARD_ASSIGN_OR_RETURN(c.mode, ReadMode(*n));
  }
  if (const ConfigNode* n = section.Find("ports")) {
    c.ports.clear();
    if (n->IsScalar()) {
      WARD_ASSIGN_OR_RETURN(int64_t p, ReadInt(*n, 1, 65535));
      c.ports.push_back(static_cast<uint16_t>(p));
    } else if (n->IsSequence()) {
      for (const auto& item : n->items()) {
        WARD_ASSIGN_OR_RETURN(int64_t p, ReadInt(item, 1, 65535));
        c.ports.push_back(static_cast<uint16_t>(p));
      }
    } else {
      return n->Error("expected a port or a list of ports");
    }
    if (c.ports.empty()) return n->Error("at least one port is needed");
  }
  if (const ConfigNode* n = section.Find("capture")) {
    WARD_ASSIGN_OR_RETURN(std::string s, ReadString(*n));
    if (s == "nfqueue") {
      c.capture = Capture::kNfqueue;
    } else if (s == "pcap") {
      c.capture = Capture::kPcap;
    } else {
      return n->Error(fmt::format("expected nfqueue or pcap, got \"{}\"", s));
    }
  }
  if (const ConfigNode* n = section.Find("interface")) {
    WARD_ASSIGN_OR_RETURN(c.interface, ReadString(*n));
    if (c.capture != Capture::kPcap) return n->Error("interface is only used with capture: pcap");
  }
  if (const ConfigNode* n = section.Find("fail")) {
    WARD_ASSIGN_OR_RETURN(std::string s, ReadString(*n));
    if (s == "open") {
      c.fail = FailMode::kOpen;
    } else if (s == "closed") {
      c.fail = FailMode::kClosed;
    } else {
      return n->Error(fmt::format("expected open or closed, got \"{}\"", s));
    }
  }
  if (const ConfigNode* n = section.Find("queue")) {
    WARD_ASSIGN_OR_RETURN(int64_t q, ReadInt(*n, 0, 65535));
    c.queue = static_cast<uint16_t>(q);
  }
  if (const ConfigNode* n = section.Find("threads")) {
    WARD_ASSIGN_OR_RETURN(int64_t t, ReadInt(*n, 0, kMaxThreads));
    if (t != 0 && (t & (t - 1)) != 0) {
      return n->Error(fmt::format("expected 0 (one per CPU) or a power of two up to {}, got {}",
                                  kMaxThreads, t));
    }
    if (t > 1 && c.capture != Capture::kNfqueue) {
      return n->Error("more than one thread needs capture: nfqueue");
    }
    c.threads = static_cast<int>(t);
  }
  if (c.capture == Capture::kNfqueue &&
      static_cast<int64_t>(c.queue) + std::max(c.threads, 1) - 1 > 65535) {
    return section.Find("queue")->Error(fmt::format("queue {} + {} thread(s) goes past queue 65535",
                                                    c.queue, std::max(c.threads, 1)));
  }
  if (c.capture == Capture::kPcap && c.mode == Mode::kPrevent) {
    return section.Find("mode")->Error(
        "prevent needs capture: nfqueue (pcap capture is passive and can only detect)");
  }
  if (const ConfigNode* n = section.Find("block_status")) {
    WARD_ASSIGN_OR_RETURN(int64_t v, ReadInt(*n, 0, 599));
    if (v != 0 && v < 400) {
      return n->Error(fmt::format(
          "expected an HTTP status 400-599 (or 0: reset the connection instead), got {}", v));
    }
    c.block_status = static_cast<int>(v);
  }
  if (const ConfigNode* crs = section.Find("crs")) {
    WARD_RETURN_IF_ERROR(RequireMap(*crs));
    WARD_RETURN_IF_ERROR(CheckKeys(*crs, {"enabled", "paranoia_level", "inbound_anomaly_threshold",
                                          "outbound_anomaly_threshold", "setup_files", "rules"}));
    if (const ConfigNode* n = crs->Find("rules")) {
      WARD_ASSIGN_OR_RETURN(c.crs.rules_dir, ReadString(*n));
      if (c.crs.rules_dir.starts_with(updates::kManagedPrefix)) {
        if (updates::ManagedKind(c.crs.rules_dir) != "crs") {
          return n->Error(
              fmt::format("\"{}\": the CRS from an update bundle is managed:crs", c.crs.rules_dir));
        }
      } else if (c.crs.rules_dir.empty() || c.crs.rules_dir[0] != '/') {
        return n->Error("expected an absolute directory or managed:crs");
      }
    }
    if (const ConfigNode* n = crs->Find("enabled")) {
      WARD_ASSIGN_OR_RETURN(c.crs.enabled, ReadBool(*n));
    }
    if (const ConfigNode* n = crs->Find("paranoia_level")) {
      WARD_ASSIGN_OR_RETURN(int64_t v, ReadInt(*n, 1, 4));
      c.crs.paranoia_level = static_cast<int>(v);
    }
    if (const ConfigNode* n = crs->Find("inbound_anomaly_threshold")) {
      WARD_ASSIGN_OR_RETURN(int64_t v, ReadInt(*n, 1, 100000));
      c.crs.inbound_anomaly_threshold = static_cast<int>(v);
    }
    if (const ConfigNode* n = crs->Find("outbound_anomaly_threshold")) {
      WARD_ASSIGN_OR_RETURN(int64_t v, ReadInt(*n, 1, 100000));
      c.crs.outbound_anomaly_threshold = static_cast<int>(v);
    }
    if (const ConfigNode* n = crs->Find("setup_files")) {
      WARD_ASSIGN_OR_RETURN(c.crs.setup_files, ReadStringList(*n));
    }
  }
  if (const ConfigNode* rules = section.Find("rules")) {
    if (!rules->IsSequence()) return rules->Error("expected a list of { id, mode | enabled }");
    for (const auto& item : rules->items()) {
      WARD_RETURN_IF_ERROR(RequireMap(item));
      WARD_RETURN_IF_ERROR(CheckKeys(item, {"id", "mode", "enabled"}));
      RuleOverride r;
      const ConfigNode* id = item.Find("id");
      if (id == nullptr) return item.Error("missing required key \"id\"");
      WARD_ASSIGN_OR_RETURN(r.id, ReadRuleId(*id));
      if (const ConfigNode* n = item.Find("enabled")) {
        WARD_ASSIGN_OR_RETURN(r.enabled, ReadBool(*n));
      }
      if (const ConfigNode* n = item.Find("mode")) {
        WARD_ASSIGN_OR_RETURN(Mode m, ReadMode(*n));
        r.mode = m;
      }
      for (const auto& other : c.rules) {
        if (other.id == r.id) return id->Error(fmt::format("rule {} is listed twice", r.id));
      }
      c.rules.push_back(r);
    }
  }
  if (const ConfigNode* ex = section.Find("exclusions")) {
    if (!ex->IsSequence()) {
      return ex->Error("expected a list of { id, target, path or path_prefix }");
    }
    if (ex->items().size() > 800) {
      return ex->Error("at most 800 exclusions (Ward's rule ids 1900100-1900899 carry them)");
    }
    for (const auto& item : ex->items()) {
      WARD_RETURN_IF_ERROR(RequireMap(item));
      WARD_RETURN_IF_ERROR(CheckKeys(item, {"id", "target", "path", "path_prefix"}));
      Exclusion e;
      const ConfigNode* id = item.Find("id");
      if (id == nullptr) return item.Error("missing required key \"id\"");
      WARD_ASSIGN_OR_RETURN(e.id, ReadRuleId(*id));
      const ConfigNode* target = item.Find("target");
      if (target == nullptr) return item.Error("missing required key \"target\"");
      WARD_ASSIGN_OR_RETURN(e.target, ReadString(*target));
      if (e.target.empty() || !SafeInRule(e.target)) {
        return target->Error(
            "expected a ModSecurity variable such as ARGS:comment (no quotes, commas, "
            "backslashes or spaces)");
      }
      if (const ConfigNode* p = item.Find("path")) {
        WARD_ASSIGN_OR_RETURN(e.path, ReadString(*p));
        if (e.path.empty() || e.path[0] != '/' || !SafeInRule(e.path)) {
          return p->Error(
              "expected a URL path starting with / (no quotes, commas, backslashes "
              "or spaces)");
        }
      }
      if (const ConfigNode* p = item.Find("path_prefix")) {
        if (item.Find("path") != nullptr) {
          return p->Error("give either path (one exact path) or path_prefix, not both");
        }
        WARD_ASSIGN_OR_RETURN(e.path_prefix, ReadString(*p));
        if (std::string why = ValidatePathPrefix(e.path_prefix); !why.empty()) {
          return p->Error(why);
        }
      }
      c.exclusions.push_back(std::move(e));
    }
  }
  if (const ConfigNode* n = section.Find("custom_rules")) {
    WARD_ASSIGN_OR_RETURN(c.custom_rules, ReadStringList(*n));
    for (size_t i = 0; i < c.custom_rules.size(); ++i) {
      const std::string& r = c.custom_rules[i];
      if (r.starts_with(updates::kManagedPrefix)) {
        if (updates::ManagedKind(r) != "rules") {
          return (n->IsSequence() ? n->items()[i] : *n)
              .Error(fmt::format("\"{}\": rule files from an update bundle are managed:rules", r));
        }
      } else if (r.empty() || r[0] != '/') {
        return (n->IsSequence() ? n->items()[i] : *n).Error("expected an absolute path or pattern");
      }
    }
  }
  if (const ConfigNode* n = section.Find("log_file")) {
    WARD_ASSIGN_OR_RETURN(c.log_file, ReadString(*n));
    if (c.log_file.empty() || c.log_file[0] != '/') return n->Error("expected an absolute path");
  }
  if (const ConfigNode* lim = section.Find("limits")) {
    WARD_RETURN_IF_ERROR(RequireMap(*lim));
    WARD_RETURN_IF_ERROR(CheckKeys(*lim, {"request_body", "response_body", "flow_buffer",
                                          "total_buffer", "max_flows", "flow_timeout"}));
    if (const ConfigNode* n = lim->Find("request_body")) {
      WARD_ASSIGN_OR_RETURN(c.limits.request_body, ReadSize(*n));
    }
    if (const ConfigNode* n = lim->Find("response_body")) {
      WARD_ASSIGN_OR_RETURN(c.limits.response_body, ReadSize(*n));
    }
    if (const ConfigNode* n = lim->Find("flow_buffer")) {
      WARD_ASSIGN_OR_RETURN(c.limits.flow_buffer, ReadSize(*n));
      if (c.limits.flow_buffer < 4096) return n->Error("must be at least 4k");
    }
    if (const ConfigNode* n = lim->Find("total_buffer")) {
      WARD_ASSIGN_OR_RETURN(c.limits.total_buffer, ReadSize(*n));
    }
    if (const ConfigNode* n = lim->Find("max_flows")) {
      WARD_ASSIGN_OR_RETURN(int64_t v, ReadInt(*n, 1, 10'000'000));
      c.limits.max_flows = static_cast<uint64_t>(v);
    }
    if (const ConfigNode* n = lim->Find("flow_timeout")) {
      WARD_ASSIGN_OR_RETURN(c.limits.flow_timeout, ReadDuration(*n));
      if (c.limits.flow_timeout.count() <= 0) return n->Error("must be positive");
    }
  }
  return c;
}

}  // namespace ward::agent::ips

#include "manager/reports/pci.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace ward::manager::reports {

using json = nlohmann::json;

namespace {

// The module's state in the agent's last heartbeat ("running", "failed", "disabled"), "" when
// the heartbeat does not name it. Heartbeats list modules as [{"name", "state", "health"}]; an
// object {"name": "state"} is read too.
std::string ModuleState(const Agent& a, std::string_view module) {
  if (!a.status.is_object() || !a.status.contains("modules")) return "";
  const json& m = a.status["modules"];
  if (m.is_array()) {
    for (const auto& e : m) {
      if (e.is_object() && e.value("name", std::string()) == module) {
        return e.value("state", std::string());
      }
    }
  } else if (m.is_object()) {
    auto it = m.find(std::string(module));
    if (it != m.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

const json* Section(const json& doc, std::string_view module) {
  if (!doc.is_object()) return nullptr;
  auto it = doc.find(std::string(module));
  if (it == doc.end() || !it->is_object()) return nullptr;
  return &*it;
}

std::string Str(const json* section, const char* key, std::string_view dflt) {
  if (section == nullptr || !section->contains(key) || !(*section)[key].is_string()) {
    return std::string(dflt);
  }
  return (*section)[key].get<std::string>();
}

bool Bool(const json* section, const char* key, bool dflt) {
  if (section == nullptr || !section->contains(key) || !(*section)[key].is_boolean()) return dflt;
  return (*section)[key].get<bool>();
}

std::vector<std::string> Strings(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) out.push_back(v.get<std::string>());
  if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_string()) out.push_back(e.get<std::string>());
      if (e.is_object() && e.contains("path") && e["path"].is_string()) {
        out.push_back(e["path"].get<std::string>());
      }
    }
  }
  return out;
}

// Whether a watched path covers `critical` (it is the path or one of its parents).
bool Covers(const std::vector<std::string>& watched, std::string_view critical) {
  for (std::string w : watched) {
    while (w.size() > 1 && w.back() == '/') w.pop_back();
    if (w == "/" || w == critical) return true;
    if (critical.size() > w.size() && critical.substr(0, w.size()) == w &&
        critical[w.size()] == '/') {
      return true;
    }
  }
  return false;
}

std::string Days(std::chrono::seconds s) {
  auto h = std::chrono::duration_cast<std::chrono::hours>(s).count();
  if (h % 24 == 0) return fmt::format("{}d", h / 24);
  if (h > 0) return fmt::format("{}h", h);
  return fmt::format("{}s", s.count());
}

// The agent being offline at the end of the period is a reason on every host requirement.
void CommonReasons(const Agent& a, const PciInputs& in, std::vector<Note>& reasons) {
  if (!a.last_seen || *a.last_seen < in.from) {
    reasons.push_back(
        {"reason.not_seen_in_period", a.last_seen ? TimeText(*a.last_seen) : std::string("-")});
  } else if (!a.online) {
    reasons.push_back({"reason.offline", TimeText(*a.last_seen)});
  }
}

void CheckRunning(const Agent& a, std::string_view module, std::vector<Note>& reasons) {
  std::string state = ModuleState(a, module);
  if (!state.empty() && state != "running") {
    reasons.push_back({"reason.module_not_running", fmt::format("{}: {}", module, state)});
  }
}

std::vector<Note> AntiMalware(const Agent& a, const json& doc, const PciInputs& in) {
  std::vector<Note> r;
  if (!ModuleEnabled(doc, "antimalware")) {
    r.push_back({"reason.antimalware_disabled", ""});
    return r;
  }
  const json* s = Section(doc, "antimalware");
  if (Strings(s->value("databases", json::array())).empty()) {
    r.push_back({"reason.no_signature_databases", ""});
  }
  const json* rt =
      s->contains("realtime") && (*s)["realtime"].is_object() ? &(*s)["realtime"] : nullptr;
  bool realtime = rt != nullptr && Bool(rt, "enabled", true) &&
                  !Strings(rt->value("paths", json::array())).empty();
  const json* sc =
      s->contains("scheduled") && (*s)["scheduled"].is_object() ? &(*s)["scheduled"] : nullptr;
  std::optional<std::chrono::seconds> every;
  if (sc != nullptr && sc->contains("every")) every = ParsePolicyDuration((*sc)["every"]);
  bool scheduled = every && every->count() > 0 && sc != nullptr &&
                   !Strings(sc->value("paths", json::array())).empty();
  if (!realtime && !scheduled) {
    r.push_back({"reason.no_periodic_scan", ""});
  } else if (!realtime && scheduled && in.to - in.from >= *every) {
    auto it = in.scans_finished.find(a.id);
    if (it == in.scans_finished.end() || it->second == 0) {
      r.push_back({"reason.no_scan_finished", Days(*every)});
    }
  }
  auto loads = in.signature_loads.find(a.id);
  if (loads == in.signature_loads.end() || loads->second == 0) {
    r.push_back({"reason.signatures_not_current", Days(kSignatureMaxAge)});
  }
  CheckRunning(a, "antimalware", r);
  return r;
}

std::vector<Note> Integrity(const Agent& a, const json& doc) {
  std::vector<Note> r;
  if (!ModuleEnabled(doc, "integrity")) {
    r.push_back({"reason.integrity_disabled", ""});
    return r;
  }
  const json* s = Section(doc, "integrity");
  auto watched = Strings(s->value("paths", json::array()));
  std::vector<std::string> missing;
  if (!Covers(watched, "/etc")) missing.push_back("/etc");
  if (!Covers(watched, "/usr/bin") && !Covers(watched, "/bin")) missing.push_back("/usr/bin");
  if (!Covers(watched, "/usr/sbin") && !Covers(watched, "/sbin")) missing.push_back("/usr/sbin");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    r.push_back({"reason.critical_paths_not_watched", list});
  }
  std::chrono::seconds schedule = std::chrono::hours(1);  // the module's default
  if (s->contains("schedule")) {
    auto d = ParsePolicyDuration((*s)["schedule"]);
    schedule = d ? *d : std::chrono::seconds(0);
  }
  if (schedule.count() == 0) {
    r.push_back({"reason.integrity_schedule_off", ""});
  } else if (schedule > kIntegrityMaxInterval) {
    r.push_back({"reason.integrity_schedule_too_long", Days(schedule)});
  }
  CheckRunning(a, "integrity", r);
  return r;
}

// Web servers: hosts whose policy inspects HTTP (ips) or heals web content (autoheal), or whose
// agent reported IPS events in the period.
bool IsWebHost(const Agent& a, const json& doc, const PciInputs& in) {
  if (Section(doc, "ips") != nullptr || ModuleEnabled(doc, "autoheal")) return true;
  auto it = in.ips_events.find(a.id);
  return it != in.ips_events.end() && it->second > 0;
}

std::vector<Note> Waf(const Agent& a, const json& doc) {
  std::vector<Note> r;
  if (!ModuleEnabled(doc, "ips")) {
    r.push_back({"reason.waf_disabled", ""});
    return r;
  }
  const json* s = Section(doc, "ips");
  if (Str(s, "mode", "detect") != "prevent") r.push_back({"reason.waf_detect_mode", ""});
  if (Str(s, "capture", "nfqueue") != "nfqueue") r.push_back({"reason.waf_passive_capture", ""});
  const json* crs = s->contains("crs") && (*s)["crs"].is_object() ? &(*s)["crs"] : nullptr;
  if (!Bool(crs, "enabled", true) && Strings(s->value("custom_rules", json::array())).empty()) {
    r.push_back({"reason.waf_no_rules", ""});
  }
  CheckRunning(a, "ips", r);
  return r;
}

std::vector<Note> Firewall(const Agent& a, const json& doc) {
  std::vector<Note> r;
  if (!ModuleEnabled(doc, "firewall")) {
    r.push_back({"reason.firewall_disabled", ""});
    return r;
  }
  const json* s = Section(doc, "firewall");
  if (Str(s, "mode", "prevent") != "prevent") r.push_back({"reason.firewall_detect_mode", ""});
  const json* def =
      s->contains("default") && (*s)["default"].is_object() ? &(*s)["default"] : nullptr;
  if (Str(def, "inbound", "allow") != "deny") {
    r.push_back({"reason.firewall_inbound_open", Str(def, "inbound", "allow")});
  }
  CheckRunning(a, "firewall", r);
  return r;
}

PciStatus FromCounts(int in_scope, int passing) {
  if (in_scope == 0) return PciStatus::kNotApplicable;
  if (passing == in_scope) return PciStatus::kMet;
  if (passing == 0) return PciStatus::kNotMet;
  return PciStatus::kPartlyMet;
}

}  // namespace

std::optional<std::chrono::seconds> ParsePolicyDuration(const json& v) {
  if (v.is_number_integer()) {
    auto n = v.get<int64_t>();
    if (n < 0) return std::nullopt;
    return std::chrono::seconds(n);
  }
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  size_t i = 0;
  int64_t n = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) != 0) {
    if (n > 1'000'000'000) return std::nullopt;
    n = n * 10 + (s[i] - '0');
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = std::string_view(s).substr(i);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "ms") return std::chrono::seconds(n / 1000);
  if (unit == "m") return std::chrono::seconds(n * 60);
  if (unit == "h") return std::chrono::seconds(n * 3600);
  if (unit == "d") return std::chrono::seconds(n * 86400);
  if (unit == "w") return std::chrono::seconds(n * 7 * 86400);
  return std::nullopt;
}

bool ModuleEnabled(const json& document, std::string_view module) {
  const json* s = Section(document, module);
  return s != nullptr && Bool(s, "enabled", true);
}

std::vector<PciRequirement> EvaluatePci(const PciInputs& in) {
  std::vector<Agent> agents = in.agents;
  std::sort(agents.begin(), agents.end(), [](const Agent& a, const Agent& b) {
    return std::tie(a.hostname, a.id) < std::tie(b.hostname, b.id);
  });
  static const json kNoPolicy = json::object();
  auto doc_of = [&](const Agent& a) -> const json& {
    if (!a.policy_id) return kNoPolicy;
    auto it = in.policies.find(*a.policy_id);
    return it == in.policies.end() ? kNoPolicy : it->second.document;
  };

  std::vector<PciRequirement> out;
  // Host requirements: each host in scope passes or fails with its reasons.
  auto per_host = [&](std::string id, std::string title, auto in_scope, auto check,
                      std::vector<Note> evidence) {
    PciRequirement req;
    req.id = std::move(id);
    req.title = std::move(title);
    req.evidence = std::move(evidence);
    for (const auto& a : agents) {
      const json& doc = doc_of(a);
      if (!in_scope(a, doc)) continue;
      ++req.hosts_in_scope;
      std::vector<Note> reasons;
      if (!a.policy_id) reasons.push_back({"reason.no_policy", ""});
      auto more = check(a, doc);
      reasons.insert(reasons.end(), more.begin(), more.end());
      CommonReasons(a, in, reasons);
      if (reasons.empty()) {
        ++req.hosts_passing;
      } else {
        req.failures.push_back({a.id, a.hostname, std::move(reasons)});
      }
    }
    req.status = FromCounts(req.hosts_in_scope, req.hosts_passing);
    if (req.status == PciStatus::kNotApplicable && req.id != "6.4.2") {
      req.status = PciStatus::kNotMet;  // no host at all: nothing is protected
      req.evidence.push_back({"evidence.no_agents", ""});
    }
    out.push_back(std::move(req));
  };
  auto every_host = [](const Agent&, const json&) { return true; };

  per_host("5.2-5.3", "pci.5", every_host,
           [&](const Agent& a, const json& doc) { return AntiMalware(a, doc, in); },
           {{"evidence.antimalware", Days(kSignatureMaxAge)}});
  per_host("11.5.2", "pci.11", every_host,
           [&](const Agent& a, const json& doc) { return Integrity(a, doc); },
           {{"evidence.integrity", Days(kIntegrityMaxInterval)}});
  per_host(
      "6.4.2", "pci.6", [&](const Agent& a, const json& doc) { return IsWebHost(a, doc, in); },
      [&](const Agent& a, const json& doc) { return Waf(a, doc); }, {{"evidence.waf", ""}});

  // 10.x: tenant-wide retention and review, and every host sending its logs.
  {
    PciRequirement req;
    req.id = "10.x";
    req.title = "pci.10";
    bool retention_ok = in.retention_days >= 365;
    req.evidence.push_back({"evidence.retention", std::to_string(in.retention_days)});
    if (in.retention_days < 90) {
      req.evidence.push_back({"finding.retention_short", std::to_string(in.retention_days)});
    } else if (!retention_ok) {
      req.evidence.push_back({"finding.retention_under_year", std::to_string(in.retention_days)});
    }
    req.evidence.push_back(
        {"evidence.alerts_reviewed",
         fmt::format("{}/{}", in.severe_alerts - in.unreviewed_alerts, in.severe_alerts)});
    if (in.unreviewed_alerts > 0) {
      req.evidence.push_back({"finding.alerts_unreviewed", std::to_string(in.unreviewed_alerts)});
    }
    for (const auto& a : agents) {
      ++req.hosts_in_scope;
      std::vector<Note> reasons;
      if (!a.last_seen || *a.last_seen < in.from) {
        reasons.push_back(
            {"reason.not_seen_in_period", a.last_seen ? TimeText(*a.last_seen) : std::string("-")});
      }
      if (reasons.empty()) {
        ++req.hosts_passing;
      } else {
        req.failures.push_back({a.id, a.hostname, std::move(reasons)});
      }
    }
    if (in.retention_days < 90 || agents.empty()) {
      req.status = PciStatus::kNotMet;
      if (agents.empty()) req.evidence.push_back({"evidence.no_agents", ""});
    } else if (retention_ok && in.unreviewed_alerts == 0 &&
               req.hosts_passing == req.hosts_in_scope) {
      req.status = PciStatus::kMet;
    } else {
      req.status = PciStatus::kPartlyMet;
    }
    out.push_back(std::move(req));
  }

  per_host("1.x", "pci.1", every_host,
           [&](const Agent& a, const json& doc) { return Firewall(a, doc); },
           {{"evidence.firewall", ""}});
  // Keep the documented order: 5, 11, 6, 10, 1.
  return out;
}

std::string_view PciStatusName(PciStatus s) {
  switch (s) {
    case PciStatus::kMet:
      return "met";
    case PciStatus::kPartlyMet:
      return "partly_met";
    case PciStatus::kNotMet:
      return "not_met";
    case PciStatus::kNotApplicable:
      return "not_applicable";
  }
  return "not_met";
}

}  // namespace ward::manager::reports

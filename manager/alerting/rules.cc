#include "manager/alerting/rules.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "manager/services/alerts.h"

namespace ward::manager::alerting {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxListItems = 100;
constexpr size_t kMaxItemBytes = 255;
constexpr int64_t kMaxWindowS = 7 * 24 * 3600;

std::optional<SpecError> Fail(std::string field, std::string what) {
  std::string message = fmt::format("{}: {}", field, what);
  return SpecError{std::move(field), std::move(message)};
}

std::optional<SpecError> ReadStrings(const json& obj, const char* key, std::string_view prefix,
                                     std::vector<std::string>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  std::string field = fmt::format("{}{}", prefix, key);
  if (!it->is_array()) return Fail(field, "expected an array of strings");
  if (it->size() > kMaxListItems) {
    return Fail(field, fmt::format("at most {} entries", kMaxListItems));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
        v.get_ref<const std::string&>().size() > kMaxItemBytes) {
      return Fail(fmt::format("{}[{}]", field, i),
                  fmt::format("expected a string of 1..{} bytes", kMaxItemBytes));
    }
    out.push_back(v.get<std::string>());
  }
  return std::nullopt;
}

std::optional<SpecError> ReadInt(const json& obj, const char* key, std::string_view prefix,
                                 int64_t min, int64_t max, int64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  std::string field = fmt::format("{}{}", prefix, key);
  if (!it->is_number_integer()) return Fail(field, "expected an integer");
  int64_t v = it->get<int64_t>();
  if (v < min || v > max) return Fail(field, fmt::format("expected {}..{}", min, max));
  out = v;
  return std::nullopt;
}

std::optional<SpecError> OnlyKeys(const json& obj, std::string_view prefix,
                                  std::initializer_list<std::string_view> keys) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) {
      return Fail(fmt::format("{}{}", prefix, it.key()), "unknown field");
    }
  }
  return std::nullopt;
}

json Strings(const std::vector<std::string>& v) { return json(v); }

// The string(s) at doc[a][b]: one string or an array of strings.
bool AnyStringIn(const json& doc, const char* a, const char* b,
                 const std::vector<std::string>& wanted) {
  if (!doc.is_object()) return false;
  auto i = doc.find(a);
  if (i == doc.end() || !i->is_object()) return false;
  auto j = i->find(b);
  if (j == i->end()) return false;
  auto has = [&](const json& v) {
    return v.is_string() &&
           std::find(wanted.begin(), wanted.end(), v.get_ref<const std::string&>()) != wanted.end();
  };
  if (j->is_array()) return std::any_of(j->begin(), j->end(), has);
  return has(*j);
}

bool In(const std::vector<std::string>& list, const std::string& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

RuleFilter Filter(std::vector<std::string> modules, std::vector<std::string> actions,
                  std::vector<std::string> groups = {}, int min_severity = 0) {
  RuleFilter f;
  f.modules = std::move(modules);
  f.actions = std::move(actions);
  f.groups = std::move(groups);
  f.min_severity = min_severity;
  return f;
}

EffectiveRule Default(std::string name, std::string title, RuleFilter f) {
  EffectiveRule r;
  r.id = "builtin." + name;
  r.name = std::move(title);
  r.builtin = true;
  r.spec.filter = std::move(f);
  r.spec.window = std::chrono::seconds(0);  // the manager's alert window
  return r;
}

}  // namespace

std::optional<SpecError> ParseRuleSpec(const json& doc, bool builtin, RuleSpec& out) {
  if (!doc.is_object()) return Fail("spec", "expected an object");
  if (auto e = OnlyKeys(doc, "", {"filter", "window_s", "throttle", "channels"})) return e;
  RuleSpec s;
  if (builtin) s.window = std::chrono::seconds(0);  // unless set: the manager's alert window
  if (auto it = doc.find("filter"); it != doc.end() && !it->is_null()) {
    if (builtin) return Fail("filter", "a built-in rule's filter cannot be changed");
    if (!it->is_object()) return Fail("filter", "expected an object");
    const json& f = *it;
    if (auto e = OnlyKeys(f, "filter.",
                          {"modules", "actions", "min_severity", "rule_ids", "agents", "hostnames",
                           "paths", "groups"})) {
      return e;
    }
    if (auto e = ReadStrings(f, "modules", "filter.", s.filter.modules)) return e;
    if (auto e = ReadStrings(f, "actions", "filter.", s.filter.actions)) return e;
    int64_t sev = 0;
    if (auto e = ReadInt(f, "min_severity", "filter.", 0, 4, sev)) return e;
    s.filter.min_severity = static_cast<int>(sev);
    if (auto e = ReadStrings(f, "rule_ids", "filter.", s.filter.rule_ids)) return e;
    if (auto e = ReadStrings(f, "agents", "filter.", s.filter.agents)) return e;
    if (auto e = ReadStrings(f, "hostnames", "filter.", s.filter.hostnames)) return e;
    if (auto e = ReadStrings(f, "paths", "filter.", s.filter.paths)) return e;
    if (auto e = ReadStrings(f, "groups", "filter.", s.filter.groups)) return e;
  }
  int64_t window = s.window.count();
  if (auto e = ReadInt(doc, "window_s", "", 1, kMaxWindowS, window)) return e;
  s.window = std::chrono::seconds(window);
  if (auto it = doc.find("throttle"); it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return Fail("throttle", "expected an object");
    if (auto e = OnlyKeys(*it, "throttle.", {"max_alerts", "period_s"})) return e;
    int64_t max = 0, period = s.throttle_period.count();
    if (auto e = ReadInt(*it, "max_alerts", "throttle.", 0, 1000000, max)) return e;
    if (auto e = ReadInt(*it, "period_s", "throttle.", 1, kMaxWindowS, period)) return e;
    s.throttle_max = static_cast<int>(max);
    s.throttle_period = std::chrono::seconds(period);
  }
  if (auto e = ReadStrings(doc, "channels", "", s.channels)) return e;
  for (size_t i = 0; i < s.channels.size(); ++i) {
    if (s.channels[i].size() > 64) return Fail(fmt::format("channels[{}]", i), "not a channel id");
  }
  out = std::move(s);
  return std::nullopt;
}

json SpecJson(const RuleSpec& s) {
  const RuleFilter& f = s.filter;
  return {{"filter",
           {{"modules", Strings(f.modules)},
            {"actions", Strings(f.actions)},
            {"min_severity", f.min_severity},
            {"rule_ids", Strings(f.rule_ids)},
            {"agents", Strings(f.agents)},
            {"hostnames", Strings(f.hostnames)},
            {"paths", Strings(f.paths)},
            {"groups", Strings(f.groups)}}},
          {"window_s", s.window.count()},
          {"throttle", {{"max_alerts", s.throttle_max}, {"period_s", s.throttle_period.count()}}},
          {"channels", Strings(s.channels)}};
}

bool GlobMatch(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0;
  size_t star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

const std::vector<EffectiveRule>& BuiltinDefaults() {
  static const std::vector<EffectiveRule> kDefaults = [] {
    std::vector<EffectiveRule> d;
    d.push_back(Default("malware_found", "Malware found",
                        Filter({"antimalware"}, {"log", "quarantine", "delete"})));
    d.push_back(
        Default("tampering_healed", "Tampering healed", Filter({"autoheal"}, {"restored"})));
    d.push_back(Default("persistent_tampering", "Persistent tampering",
                        Filter({"autoheal"}, {"persistent_tampering"})));
    d.push_back(Default("baseline_tampered", "Integrity baseline tampered",
                        Filter({"integrity"}, {"baseline_tampered"})));
    d.push_back(Default("ips_block", "IPS block", Filter({"ips"}, {"blocked"})));
    d.push_back(Default("agent_offline", "Agent offline", Filter({"manager"}, {"agent_offline"})));
    d.push_back(Default("signatures_out_of_date", "Signatures out of date",
                        Filter({"antimalware"}, {"database_rejected", "signatures_out_of_date"})));
    d.push_back(Default("brute_force", "Brute force", Filter({"loginspect"}, {}, {"brute_force"})));
    d.push_back(Default("severe", "Any high or critical event", Filter({}, {}, {}, 3)));
    return d;
  }();
  return kDefaults;
}

bool IsBuiltinId(std::string_view id) { return id.starts_with("builtin."); }

std::vector<EffectiveRule> EffectiveRules(const std::vector<AlertRule>& stored) {
  std::map<std::string, const AlertRule*> by_id;
  for (const AlertRule& r : stored) by_id[r.id] = &r;
  std::vector<EffectiveRule> out;
  for (EffectiveRule d : BuiltinDefaults()) {
    if (auto it = by_id.find(d.id); it != by_id.end()) {
      RuleSpec spec;
      if (!ParseRuleSpec(it->second->spec, true, spec)) {
        spec.filter = d.spec.filter;
        d.spec = std::move(spec);
      }
      d.enabled = it->second->enabled;
      d.updated_at = it->second->updated_at;
    }
    out.push_back(std::move(d));
  }
  for (const AlertRule& r : stored) {
    if (IsBuiltinId(r.id)) continue;
    EffectiveRule e;
    e.id = r.id;
    e.name = r.name;
    e.enabled = r.enabled;
    e.updated_at = r.updated_at;
    if (auto err = ParseRuleSpec(r.spec, false, e.spec)) {
      spdlog::warn("alert rule {} of tenant {}: {} (rule off)", r.id, r.tenant_id, err->message);
      e.enabled = false;
    }
    out.push_back(std::move(e));
  }
  return out;
}

bool Matches(const RuleFilter& f, const StoredEvent& e, std::string_view hostname,
             const std::function<const json&()>& doc) {
  if (e.severity < f.min_severity) return false;
  if (!In(f.modules, e.module) || !In(f.actions, e.action) || !In(f.agents, e.agent_id)) {
    return false;
  }
  if (!f.hostnames.empty() &&
      std::none_of(f.hostnames.begin(), f.hostnames.end(),
                   [&](const std::string& g) { return GlobMatch(g, hostname); })) {
    return false;
  }
  if (!f.paths.empty() && std::none_of(f.paths.begin(), f.paths.end(), [&](const std::string& g) {
        return GlobMatch(g, e.path);
      })) {
    return false;
  }
  if (!f.rule_ids.empty() && !AnyStringIn(doc(), "rule", "id", f.rule_ids)) return false;
  if (!f.groups.empty() && !AnyStringIn(doc(), "rule", "groups", f.groups)) return false;
  return true;
}

TenantRules CompileTenantRules(const std::vector<AlertRule>& stored,
                               const std::vector<AlertChannel>& channels) {
  std::set<std::string> usable;
  for (const AlertChannel& c : channels) {
    if (c.enabled) usable.insert(c.id);
  }
  TenantRules out;
  for (EffectiveRule r : EffectiveRules(stored)) {
    if (!r.enabled) continue;
    std::erase_if(r.spec.channels, [&](const std::string& c) { return usable.count(c) == 0; });
    (r.builtin ? out.builtin : out.custom).push_back(std::move(r));
  }
  return out;
}

std::vector<AlertSignal> SignalsFor(const std::vector<StoredEvent>& events,
                                    std::string_view hostname, const TenantRules& rules,
                                    const std::function<std::string()>& new_id, TimePoint now) {
  std::vector<AlertSignal> out;
  for (const StoredEvent& e : events) {
    std::optional<json> parsed;
    auto doc = [&]() -> const json& {
      if (!parsed) parsed = AlertDocOf(e);
      return *parsed;
    };
    auto signal = [&](const EffectiveRule& r, std::string source) {
      AlertSignal s;
      s.new_alert_id = new_id();
      s.tenant_id = e.tenant_id;
      s.agent_id = e.agent_id;
      s.event_id = e.id;
      s.timestamp = e.timestamp;
      s.source = std::move(source);
      s.rule_key = AlertRuleKeyOf(e, doc());
      s.module = e.module;
      s.title = AlertTitleOf(e, doc());
      s.severity = e.severity;
      s.window = r.spec.window;
      s.notify = r.spec.channels;
      s.rule_id = r.id;
      s.throttle_max = r.spec.throttle_max;
      s.throttle_period = r.spec.throttle_period;
      s.noticed_at = now;
      out.push_back(std::move(s));
    };
    for (const EffectiveRule& r : rules.builtin) {
      if (Matches(r.spec.filter, e, hostname, doc)) {
        signal(r, "builtin");
        break;
      }
    }
    for (const EffectiveRule& r : rules.custom) {
      if (Matches(r.spec.filter, e, hostname, doc)) signal(r, r.id);
    }
  }
  return out;
}

AlertRuleBook::AlertRuleBook(Store& store, const Clock& clock, std::chrono::seconds ttl)
    : store_(store), clock_(clock), ttl_(ttl) {}

std::shared_ptr<const TenantRules> AlertRuleBook::For(const std::string& tenant_id) {
  const auto now = clock_.SteadyNow();
  std::shared_ptr<const TenantRules> last;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(tenant_id);
    if (it != entries_.end()) {
      if (it->second.rules && now - it->second.loaded < ttl_) return it->second.rules;
      last = it->second.rules;
    }
  }
  auto stored = store_.ListAlertRules(tenant_id);
  auto channels = store_.ListAlertChannels(tenant_id);
  std::shared_ptr<const TenantRules> rules;
  if (stored && channels) {
    rules = std::make_shared<const TenantRules>(CompileTenantRules(*stored, *channels));
  } else {
    spdlog::warn("alert rules of tenant {} not read: {}", tenant_id,
                 (stored ? channels.error() : stored.error()).ToString());
    rules = last ? last : std::make_shared<const TenantRules>(CompileTenantRules({}, {}));
  }
  std::lock_guard lock(mu_);
  entries_[tenant_id] = Entry{rules, now};
  return rules;
}

void AlertRuleBook::Invalidate(const std::string& tenant_id) {
  std::lock_guard lock(mu_);
  entries_.erase(tenant_id);
}

}  // namespace ward::manager::alerting

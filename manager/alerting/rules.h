// Alert rules (issue 19, docs/alerts.md "Alert rules"): a tenant's filters over stored events,
// each raising alerts of its own (AlertSignal::source = the rule's id) with its own
// de-duplication window, throttling and notification channels; and the built-in defaults
// ("builtin.<name>"), which decide the built-in alerts (source "builtin") and whom they notify.
//
// Evaluated at ingestion from the columns already extracted from each event; an event's
// document is parsed only when a rule that passed every column test asks for its rule id or
// groups (and for the signals themselves, as before).
//
// Thread-safety: the free functions are pure; AlertRuleBook is safe from many threads.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "manager/store/store.h"

namespace ward::manager::alerting {

// What an event must have for a rule to raise an alert; an empty list accepts anything.
struct RuleFilter {
  std::vector<std::string> modules;    // event.module, exact
  std::vector<std::string> actions;    // event.action, exact
  int min_severity = 0;                // event.severity at or above
  std::vector<std::string> rule_ids;   // rule.id (any of the event's), exact
  std::vector<std::string> agents;     // agent ids
  std::vector<std::string> hostnames;  // glob (`*`, `?`) over the agent's host name
  std::vector<std::string> paths;      // glob over file.path, else url.original
  std::vector<std::string> groups;     // rule.groups (loginspect), any of them
};

struct RuleSpec {
  RuleFilter filter;
  // De-duplication: 1 s .. 7 days; 0 (built-in defaults unless overridden) = the manager's
  // alert window (ApiOptions::alert_window).
  std::chrono::seconds window{3600};
  // Throttling: at most `throttle_max` alerts of this rule notified per `throttle_period`
  // (0 = no limit); further alerts are still raised, their notifications logged as throttled.
  int throttle_max = 0;
  std::chrono::seconds throttle_period{3600};
  std::vector<std::string> channels;  // channel ids notified when the rule opens an alert
};

// The offending field ("filter.modules[2]") and a sentence naming it.
struct SpecError {
  std::string field;
  std::string message;
};

// Reads a rule's document ({"filter": {...}, "window_s": N, "throttle": {"max_alerts": N,
// "period_s": N}, "channels": [...]}; every member optional). Unknown members, wrong types and
// out-of-range values are errors naming the field. With `builtin`, "filter" is refused (a
// default's filter is fixed).
std::optional<SpecError> ParseRuleSpec(const nlohmann::json& doc, bool builtin, RuleSpec& out);
nlohmann::json SpecJson(const RuleSpec& spec);

// `*` any run of bytes, `?` one byte, everything else literal. Linear in the text per pattern
// position (no exponential backtracking).
bool GlobMatch(std::string_view pattern, std::string_view text);

// One rule as it applies: a built-in default (overridden or not) or a tenant's own.
struct EffectiveRule {
  std::string id;
  std::string name;
  bool enabled = true;
  bool builtin = false;
  RuleSpec spec;
  std::optional<TimePoint> updated_at;  // of the stored row, if any
};

// The built-in defaults in the order they are tried (the first that matches decides a
// built-in alert's notifications): malware_found, tampering_healed, persistent_tampering,
// baseline_tampered, ips_block, agent_offline, signatures_out_of_date, brute_force, severe.
const std::vector<EffectiveRule>& BuiltinDefaults();
bool IsBuiltinId(std::string_view id);

// Defaults (with a stored override applied) then the tenant's own rules, by id.
std::vector<EffectiveRule> EffectiveRules(const std::vector<AlertRule>& stored);

// Whether `e` (from the agent named `hostname`) passes `f`. `doc` is the event's document,
// parsed on first use only.
bool Matches(const RuleFilter& f, const StoredEvent& e, std::string_view hostname,
             const std::function<const nlohmann::json&()>& doc);

// A tenant's rules as ingestion uses them: enabled rules only, channels filtered to the
// tenant's enabled channels.
struct TenantRules {
  std::vector<EffectiveRule> builtin;  // enabled defaults, in order
  std::vector<EffectiveRule> custom;   // enabled own rules
};
TenantRules CompileTenantRules(const std::vector<AlertRule>& stored,
                               const std::vector<AlertChannel>& channels);

// The signals of a batch stored for one agent (`hostname`): a built-in signal (source
// "builtin") for each event an enabled default matches (notifying that default's channels),
// and one signal per enabled own rule that matches (source = the rule's id). Each signal gets
// a fresh id from `new_id`; `now` is when the manager received the batch.
std::vector<AlertSignal> SignalsFor(const std::vector<StoredEvent>& events,
                                    std::string_view hostname, const TenantRules& rules,
                                    const std::function<std::string()>& new_id, TimePoint now);

// Each tenant's compiled rules, read from the store at most every `ttl` (a change made through
// this node's API is seen at once: Invalidate). A failed read keeps the last rules (or the
// defaults) and is logged.
class AlertRuleBook {
 public:
  AlertRuleBook(Store& store, const Clock& clock, std::chrono::seconds ttl);
  std::shared_ptr<const TenantRules> For(const std::string& tenant_id);
  void Invalidate(const std::string& tenant_id);

 private:
  struct Entry {
    std::shared_ptr<const TenantRules> rules;
    std::chrono::steady_clock::time_point loaded;
  };
  Store& store_;
  const Clock& clock_;
  std::chrono::seconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace ward::manager::alerting

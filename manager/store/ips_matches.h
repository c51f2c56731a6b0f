// The tunable rule matches of one IPS event (docs/manager-store.md, "IPS matches"): what the IPS
// tuning view counts, extracted once here so that the store's side table (written at ingestion
// and by the migration's backfill) and the REST route's samples read an event the same way.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ward::manager {

struct IpsMatch {
  std::string id;        // rule id
  std::string variable;  // e.g. "ARGS:q" ("" when the event does not say)
  std::string message;
  std::string data;
};

// The CRS's scoring and correlation rules (949110, 959100, 980130, 980140, 980170): they fire
// because others did and are not tuned.
bool IsIpsEvaluationRule(const std::string& id);

// A string value as the tuning view shows it: strings as they are, integers in decimal, "" for
// anything else.
std::string IpsString(const nlohmann::json& v);

// `ips.matches` of an IPS event (objects with a non-empty id), else `rule.id` (one or an array),
// without the evaluation rules, in the event's order (a rule may appear more than once).
std::vector<IpsMatch> TunableIpsMatches(const nlohmann::json& doc);

// What the tuning view keeps of one IPS event besides its matches.
struct IpsEventFacts {
  bool tuned = false;        // an IPS "detected" or "blocked" event: the only ones counted
  bool blocked = false;      // action "blocked"
  bool would_block = false;  // "detected" at or over the anomaly threshold (severity >= 2)
  std::string client;        // source.ip
  std::string path;          // url.path
  // url.original, else url.path, without its query and fragment (RequestTargetPath): all of it
  // that a path-prefix exclusion looks at, so previews group by it.
  std::string url;
};
// A request target without its query and fragment, cut where the agent's NormalizeRequestPath
// (agent/modules/ips/path_prefix.h) cuts them: in an absolute-form target (http:// or https://,
// any case) only after the authority. Whatever the prefix, PathPrefixMatches gives the same
// answer for the result as for `target`.
std::string RequestTargetPath(const std::string& target);

IpsEventFacts IpsFactsOf(const std::string& module, const std::string& action, int severity,
                         const nlohmann::json& doc);

}  // namespace ward::manager

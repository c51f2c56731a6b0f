// IPS tuning (detect → tune → prevent, docs/ips.md "Tuning across the fleet"): which rules fired
// over a period on the hosts of a policy, from the IPS events the agents already send, with
// counts, hosts, distinct clients, targets, paths and sample requests; what prevent mode would
// have blocked; and a preview of how many of those events an exclusion would have suppressed.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "agent/modules/ips/path_prefix.h"
#include "common/clock.h"
#include "common/json_path.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr int kMaxScanned = 200'000;  // events read per request; beyond: "truncated": true
constexpr size_t kSamples = 5;
constexpr size_t kTopN = 10;

// The CRS's scoring and correlation rules fire because others did; they are not tuned.
bool IsEvaluationRule(const std::string& id) {
  return id == "949110" || id == "959100" || id == "980130" || id == "980140" || id == "980170";
}

std::string Str(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return "";
}

struct Match {
  std::string id;
  std::string variable;
  std::string message;
  std::string data;
};

// The tunable rule matches of one IPS event: ips.matches, else rule.id.
std::vector<Match> MatchesOf(const json& doc) {
  std::vector<Match> out;
  const json& matches = JsonAt(doc, {"ips", "matches"});
  if (matches.is_array()) {
    for (const auto& m : matches) {
      if (!m.is_object()) continue;
      Match x{Str(m.value("id", json())), Str(m.value("variable", json())),
              Str(m.value("message", json())), Str(m.value("data", json()))};
      if (!x.id.empty() && !IsEvaluationRule(x.id)) out.push_back(std::move(x));
    }
    return out;
  }
  const json& ids = JsonAt(doc, {"rule", "id"});
  for (const json& id : ids.is_array() ? ids : json::array({ids})) {
    std::string s = Str(id);
    if (!s.empty() && !IsEvaluationRule(s)) out.push_back({s, "", "", ""});
  }
  return out;
}

// A proposed exclusion. The path prefix is matched by the agent's own code
// (agent/modules/ips/path_prefix.h) on the request target the agent logged (`url.original`), so
// the preview counts exactly what the agent would exclude.
struct Exclusion {
  std::string rule;
  std::string target;       // "" = any variable
  std::string path_prefix;  // "" = any path
  bool Covers(const Match& m, const std::string& url) const {
    return m.id == rule && (target.empty() || m.variable == target) &&
           (path_prefix.empty() || agent::ips::PathPrefixMatches(url, path_prefix));
  }
};

struct RuleStats {
  std::string message;
  int64_t events = 0;
  int64_t detected = 0;
  int64_t blocked = 0;
  int64_t would_block = 0;  // detected at or over the anomaly threshold (severity 2)
  std::set<std::string> hosts;
  std::set<std::string> clients;
  std::map<std::string, int64_t> targets;
  std::map<std::string, int64_t> paths;
  json samples = json::array();
};

json Top(const std::map<std::string, int64_t>& m) {
  std::vector<std::pair<std::string, int64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (v.size() > kTopN) v.resize(kTopN);
  json out = json::array();
  for (const auto& [k, n] : v) out.push_back({{"value", k}, {"count", n}});
  return out;
}

ApiResult<std::optional<TimePoint>> TimeParam(const HttpRequest& req, const char* name) {
  auto v = QueryParam(req, name);
  if (!v) return std::optional<TimePoint>();
  auto t = ParseTimestamp(*v);
  if (!t) {
    return BadRequest("invalid_query", name,
                      fmt::format("{}: expected an RFC 3339 timestamp", name));
  }
  return std::optional<TimePoint>(*t);
}

}  // namespace

void AddIpsTuningRoutes(RouteTable& table, RouteDeps deps) {
  table.Add(
      "GET", "/api/v1/ips/tuning", Access::kAny,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        if (auto e = CheckQuery(
                req, {"policy", "from", "to", "exclude_rule", "exclude_target", "exclude_path"})) {
          return Err(*e);
        }
        auto from = TimeParam(req, "from");
        if (!from) return Err(from.error());
        auto to = TimeParam(req, "to");
        if (!to) return Err(to.error());
        TimePoint end = to->value_or(deps.clock.Now());
        TimePoint begin = from->value_or(end - std::chrono::hours(24 * 7));
        if (begin > end) return Err(BadRequest("invalid_query", "from", "from: later than to"));
        std::optional<Exclusion> preview;
        if (auto r = QueryParam(req, "exclude_rule")) {
          bool digits =
              !r->empty() && r->size() <= 12 &&
              std::all_of(r->begin(), r->end(), [](char c) { return c >= '0' && c <= '9'; });
          if (!digits) {
            return Err(BadRequest("invalid_query", "exclude_rule",
                                  "exclude_rule: expected a rule id (digits)"));
          }
          preview = Exclusion{*r, QueryParam(req, "exclude_target").value_or(""),
                              QueryParam(req, "exclude_path").value_or("")};
          if (preview->target.size() > 256) {
            return Err(BadRequest("invalid_query", "exclude_target", "exclude_target: too long"));
          }
          if (!preview->path_prefix.empty()) {
            if (std::string why = agent::ips::ValidatePathPrefix(preview->path_prefix);
                !why.empty()) {
              return Err(BadRequest("invalid_query", "exclude_path", "exclude_path: " + why));
            }
          }
        } else if (QueryParam(req, "exclude_target") || QueryParam(req, "exclude_path")) {
          return Err(BadRequest("invalid_query", "exclude_rule",
                                "exclude_rule: required with exclude_target or exclude_path"));
        }
        // The hosts: those of the policy, else every agent of the tenant.
        AgentFilter af;
        if (auto pol = QueryParam(req, "policy")) {
          auto found = deps.store.GetPolicy(p.tenant.id, *pol);
          if (!found) {
            if (found.error().code() == StatusCode::kNotFound) {
              return Err(ApiError{404, "not_found", "no such policy", "policy"});
            }
            return Err(found.error());
          }
          af.policy_id = *pol;
        }
        auto agents = deps.store.ListAgents(p.tenant.id, af);
        if (!agents) return Err(agents.error());

        std::map<std::string, RuleStats> rules;
        int64_t scanned = 0, would_block_total = 0, ips_events = 0;
        int64_t preview_matched = 0, preview_suppressed = 0;
        bool truncated = false;
        for (const Agent& a : *agents) {
          EventQuery q;
          q.from = begin;
          q.to = end;
          q.agent_id = a.id;
          q.module = "ips";
          q.limit = 1000;
          while (!truncated) {
            auto page = deps.store.QueryEvents(p.tenant.id, q);
            if (!page) return Err(page.error());
            for (const StoredEvent& e : *page) {
              if (++scanned > kMaxScanned) {
                truncated = true;
                break;
              }
              if (e.action != "detected" && e.action != "blocked") continue;
              ++ips_events;
              const bool would_block = e.action == "detected" && e.severity >= 2;
              if (would_block) ++would_block_total;
              const std::string path = Str(JsonAt(e.doc, {"url", "path"}));
              std::string url = Str(JsonAt(e.doc, {"url", "original"}));
              if (url.empty()) url = path;
              const std::string client = Str(JsonAt(e.doc, {"source", "ip"}));
              std::vector<Match> matches = MatchesOf(e.doc);
              if (preview) {
                size_t covered = 0;
                for (const Match& m : matches) covered += preview->Covers(m, url) ? 1 : 0;
                if (covered > 0) ++preview_matched;
                if (covered > 0 && covered == matches.size()) ++preview_suppressed;
              }
              std::set<std::string> seen;
              for (const Match& m : matches) {
                if (!seen.insert(m.id).second) continue;
                RuleStats& r = rules[m.id];
                if (r.message.empty()) r.message = m.message;
                ++r.events;
                (e.action == "blocked" ? r.blocked : r.detected) += 1;
                if (would_block) ++r.would_block;
                r.hosts.insert(a.hostname);
                if (!client.empty()) r.clients.insert(client);
                if (!m.variable.empty()) ++r.targets[m.variable];
                if (!path.empty()) ++r.paths[path];
                if (r.samples.size() < kSamples) {
                  r.samples.push_back(
                      {{"event_id", e.id},
                       {"at", TimeJson(e.timestamp)},
                       {"host", a.hostname},
                       {"client", client},
                       {"action", e.action},
                       {"method", Str(JsonAt(e.doc, {"http", "request", "method"}))},
                       {"url", Str(JsonAt(e.doc, {"url", "original"}))},
                       {"variable", m.variable},
                       {"data", m.data}});
                }
              }
            }
            if (truncated || static_cast<int>(page->size()) < q.limit) break;
            q.after = std::make_pair(page->back().timestamp, page->back().id);
          }
          if (truncated) break;
        }
        json items = json::array();
        for (auto& [id, r] : rules) {
          items.push_back(
              {{"rule_id", id},
               {"message", r.message},
               {"events", r.events},
               {"detected", r.detected},
               {"blocked", r.blocked},
               {"would_block", r.would_block},
               {"hosts", json(std::vector<std::string>(r.hosts.begin(), r.hosts.end()))},
               {"clients", r.clients.size()},
               {"targets", Top(r.targets)},
               {"paths", Top(r.paths)},
               {"samples", r.samples}});
        }
        std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
          return a["events"].get<int64_t>() > b["events"].get<int64_t>();
        });
        json out = {{"from", TimeJson(begin)},
                    {"to", TimeJson(end)},
                    {"agents", agents->size()},
                    {"events", ips_events},
                    {"would_block", would_block_total},
                    {"truncated", truncated},
                    {"rules", items}};
        if (preview) {
          out["preview"] = {{"rule_id", preview->rule},
                            {"target", preview->target},
                            {"path_prefix", preview->path_prefix},
                            {"matched", preview_matched},
                            {"suppressed", preview_suppressed}};
        }
        return JsonResponse(200, out);
      });
}

}  // namespace ward::manager

// IPS tuning (detect → tune → prevent, docs/ips.md "Tuning across the fleet"): which rules fired
// over a period on the hosts of a policy, from the IPS events the agents already send, with
// counts, hosts, distinct clients, targets, paths and sample requests; what prevent mode would
// have blocked; and a preview of how many of those events an exclusion would have suppressed.
#include <fmt/format.h>

#include <algorithm>

#include "agent/modules/ips/path_prefix.h"
#include "common/clock.h"
#include "common/json_path.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/store/ips_matches.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr size_t kSamples = 5;
constexpr size_t kTopN = 10;

// A proposed exclusion. The path prefix is matched by the agent's own code
// (agent/modules/ips/path_prefix.h) on the request target the agent logged (`url.original`), so
// the preview counts exactly what the agent would exclude.
struct Exclusion {
  std::string rule;
  std::string target;       // "" = any variable
  std::string path_prefix;  // "" = any path
};

json Top(const std::vector<EventValueCount>& v) {
  json out = json::array();
  for (const auto& c : v) out.push_back({{"value", c.value}, {"count", c.count}});
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

        // Counted in the database over the side table of IPS matches (docs/manager-store.md,
        // "IPS matches"); only the path prefix of a preview is applied here, per request target,
        // with the agent's own matcher.
        IpsTuningQuery tq;
        tq.from = begin;
        tq.to = end;
        tq.policy_id = af.policy_id;
        tq.top = static_cast<int>(kTopN);
        tq.samples = static_cast<int>(kSamples);
        if (preview) {
          tq.exclude_rule = preview->rule;
          tq.exclude_target = preview->target;
        }
        auto agg = deps.store.AggregateIpsTuning(p.tenant.id, tq);
        if (!agg) return Err(agg.error());
        int64_t preview_matched = 0, preview_suppressed = 0;
        if (preview) {
          for (const IpsTuningPreviewRow& row : agg->preview) {
            if (!preview->path_prefix.empty() &&
                !agent::ips::PathPrefixMatches(row.url, preview->path_prefix)) {
              continue;
            }
            preview_matched += row.matched;
            preview_suppressed += row.suppressed;
          }
        }
        json items = json::array();
        for (const IpsTuningRule& r : agg->rules) {
          std::string message;
          json samples = json::array();
          for (size_t i = 0; i < r.samples.size(); ++i) {
            const StoredEvent& e = r.samples[i];
            // The event's first match of this rule: its variable, data and message.
            IpsMatch m;
            for (IpsMatch& x : TunableIpsMatches(e.doc)) {
              if (x.id == r.rule_id) {
                m = std::move(x);
                break;
              }
            }
            if (message.empty()) message = m.message;
            samples.push_back({{"event_id", e.id},
                               {"at", TimeJson(e.timestamp)},
                               {"host", r.sample_hosts[i]},
                               {"client", IpsString(JsonAt(e.doc, {"source", "ip"}))},
                               {"action", e.action},
                               {"method", IpsString(JsonAt(e.doc, {"http", "request", "method"}))},
                               {"url", IpsString(JsonAt(e.doc, {"url", "original"}))},
                               {"variable", m.variable},
                               {"data", m.data}});
          }
          items.push_back({{"rule_id", r.rule_id},
                           {"message", message},
                           {"events", r.events},
                           {"detected", r.detected},
                           {"blocked", r.blocked},
                           {"would_block", r.would_block},
                           {"hosts", r.hosts},
                           {"clients", r.clients},
                           {"targets", Top(r.targets)},
                           {"paths", Top(r.paths)},
                           {"samples", samples}});
        }
        // Most events first; ties by rule id (the store's order).
        std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
          return a["events"].get<int64_t>() > b["events"].get<int64_t>();
        });
        json out = {{"from", TimeJson(begin)},
                    {"to", TimeJson(end)},
                    {"agents", agents->size()},
                    {"events", agg->events},
                    {"would_block", agg->would_block},
                    {"truncated", false},
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

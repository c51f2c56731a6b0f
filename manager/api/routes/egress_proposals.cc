// A policy's per-service egress allow-lists and what learn mode proposed for them
// (docs/egress.md "Per-service allow-lists", issue #17): for each service of the policy's
// `egress.services`, its mode and current `allow`, and the newest `allowlist_proposed` event that
// one of the policy's hosts sent for it. The console shows them on the policy page and accepts a
// proposal with one PATCH of the policy (a new version). Derived from the stored events, like the
// blocked addresses: nothing new is stored.

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config_node.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr int kPage = 1000;
// Proposal events read per request at most (a service proposes once per learn period and host).
constexpr int kMaxEvents = 100000;

struct Service {
  std::string id;
  std::string mode;
  json allow = json::array();
  json proposal = nullptr;
};

// The services of a policy document, in the document's order; entries without an id are skipped
// (the agent's validator refuses them anyway).
std::vector<Service> ServicesOf(const json& doc) {
  std::vector<Service> out;
  auto e = doc.find("egress");
  if (e == doc.end() || !e->is_object()) return out;
  auto s = e->find("services");
  if (s == e->end() || !s->is_array()) return out;
  for (const json& x : *s) {
    if (!x.is_object() || !x.contains("id") || !x["id"].is_string()) continue;
    Service v;
    v.id = x["id"].get<std::string>();
    v.mode = x.contains("mode") && x["mode"].is_string() ? x["mode"].get<std::string>() : "learn";
    if (x.contains("allow") && x["allow"].is_array()) v.allow = x["allow"];
    out.push_back(std::move(v));
  }
  return out;
}

std::string ServiceIdOf(const json& doc) {
  auto e = doc.find("egress");
  if (e == doc.end() || !e->is_object()) return "";
  auto s = e->find("service");
  if (s == e->end() || !s->is_object()) return "";
  auto i = s->find("id");
  return i != s->end() && i->is_string() ? i->get<std::string>() : "";
}

// The proposed destinations: the strings of `egress.proposed_allow`, sorted, once each.
json ProposedOf(const json& doc) {
  std::set<std::string> out;
  auto e = doc.find("egress");
  if (e != doc.end() && e->is_object()) {
    auto p = e->find("proposed_allow");
    if (p != e->end() && p->is_array()) {
      for (const json& v : *p) {
        if (v.is_string()) out.insert(v.get<std::string>());
      }
    }
  }
  return json(std::vector<std::string>(out.begin(), out.end()));
}

}  // namespace

void AddEgressProposalRoutes(RouteTable& table, RouteDeps deps) {
  table.Add(
      "GET", "/api/v1/policies/{id}/egress-proposals", Access::kAny,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        if (auto e = CheckQuery(req, {"window"})) return Err(*e);
        std::chrono::seconds window = std::chrono::hours(24 * 30);
        if (auto w = QueryParam(req, "window")) {
          auto d = ParseDuration(*w);
          if (!d || *d < std::chrono::minutes(1) || *d > std::chrono::days(400)) {
            return Err(BadRequest("invalid_query", "window",
                                  "window: expected a duration from 1m to 400d (e.g. 30d)"));
          }
          window = std::chrono::duration_cast<std::chrono::seconds>(*d);
        }
        auto policy = deps.store.GetPolicy(p.tenant.id, path.at("id"));
        if (!policy) return LookupError(policy.error(), "policy");
        std::vector<Service> services = ServicesOf(policy->document);
        AgentFilter filter;
        filter.policy_id = policy->id;
        auto agents = deps.store.ListAgents(p.tenant.id, filter);
        if (!agents) return Err(agents.error());
        std::map<std::string, std::string> hosts;  // agent id → host name
        for (const Agent& a : *agents) hosts[a.id] = a.hostname;

        // Newest first: the first proposal seen for a service is its newest.
        std::map<std::string, Service*> open;
        for (Service& s : services) open[s.id] = &s;
        bool truncated = false;
        if (!open.empty() && !hosts.empty()) {
          const TimePoint now = deps.clock.Now();
          EventQuery q;
          q.from = now - window;
          q.to = now + std::chrono::hours(1);
          q.module = "egress";
          q.action = "allowlist_proposed";
          q.descending = true;
          q.limit = kPage;
          int budget = kMaxEvents;
          while (!open.empty()) {
            auto page = deps.store.QueryEvents(p.tenant.id, q);
            if (!page) return Err(page.error());
            for (const StoredEvent& e : *page) {
              auto h = hosts.find(e.agent_id);
              if (h == hosts.end()) continue;
              auto s = open.find(ServiceIdOf(e.doc));
              if (s == open.end()) continue;
              s->second->proposal = {{"allow", ProposedOf(e.doc)},
                                     {"agent_id", e.agent_id},
                                     {"hostname", h->second},
                                     {"at", FormatTimestamp(e.timestamp)},
                                     {"event_id", e.id}};
              open.erase(s);
            }
            budget -= static_cast<int>(page->size());
            if (static_cast<int>(page->size()) < kPage) break;
            if (budget <= 0) {
              truncated = !open.empty();
              break;
            }
            q.after = std::make_pair(page->back().timestamp, page->back().id);
          }
        }
        json items = json::array();
        for (const Service& s : services) {
          items.push_back(
              {{"service", s.id}, {"mode", s.mode}, {"allow", s.allow}, {"proposal", s.proposal}});
        }
        return JsonResponse(200, {{"policy_id", policy->id},
                                  {"version", policy->version},
                                  {"items", items},
                                  {"truncated", truncated}});
      });
}

}  // namespace ward::manager

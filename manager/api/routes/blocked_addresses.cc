// Active response's blocked addresses (docs/firewall.md "Active response"): which addresses the
// firewall module of each host blocks now, derived from the `address_blocked` /
// `address_unblocked` events the agents already send, and their removal through the command
// channel (`firewall.unblock`). Reading from stored events answers at once and survives an agent
// that is offline; the list is as current as the events that reached the manager.
#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>

#include "common/config_node.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr int kPage = 1000;
// The events read per request at most: a host blocks at most `max_blocked` addresses at once, so
// this is room for many extensions of each; beyond it the answer says `truncated`.
constexpr int kMaxEvents = 200000;

struct Block {
  std::string agent_id;
  std::string address;
  std::string rule_id;
  std::string mode;
  std::string cause_module;
  std::string event_id;
  TimePoint blocked_at;
  TimePoint expires_at;
};

std::string StringAt(const json& doc, const char* a, const char* b) {
  auto i = doc.find(a);
  if (i == doc.end() || !i->is_object()) return "";
  auto j = i->find(b);
  return j != i->end() && j->is_string() ? j->get<std::string>() : "";
}

bool IsAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// Every event of `action` from the firewall module in [from, to), oldest first, page by page.
Status ForEachEvent(Store& store, const std::string& tenant,
                    const std::optional<std::string>& agent, const char* action, TimePoint from,
                    TimePoint to, int& budget, bool& truncated,
                    const std::function<void(const StoredEvent&)>& fn) {
  EventQuery q;
  q.from = from;
  q.to = to;
  q.agent_id = agent;
  q.module = "firewall";
  q.action = action;
  q.limit = kPage;
  for (;;) {
    auto page = store.QueryEvents(tenant, q);
    if (!page) return page.error();
    for (const StoredEvent& e : *page) fn(e);
    budget -= static_cast<int>(page->size());
    if (static_cast<int>(page->size()) < kPage) return Status::Ok();
    if (budget <= 0) {
      truncated = true;
      return Status::Ok();
    }
    q.after = std::make_pair(page->back().timestamp, page->back().id);
  }
}

}  // namespace

void AddBlockedAddressRoutes(RouteTable& table, RouteDeps deps) {
  table.Add(
      "GET", "/api/v1/blocked-addresses", Access::kAny,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        if (auto e = CheckQuery(req, {"agent", "window"})) return Err(*e);
        std::optional<std::string> agent;
        if (auto e = ReadTextParam(req, "agent", agent)) return Err(*e);
        std::chrono::seconds window = std::chrono::hours(24 * 7);
        if (auto w = QueryParam(req, "window")) {
          auto d = ParseDuration(*w);
          if (!d || *d < std::chrono::minutes(1) || *d > std::chrono::days(90)) {
            return Err(BadRequest("invalid_query", "window",
                                  "window: expected a duration from 1m to 90d (e.g. 7d)"));
          }
          window = std::chrono::duration_cast<std::chrono::seconds>(*d);
        }
        const TimePoint now = deps.clock.Now();
        // A block is active when its last `address_blocked` (a re-block extends it) ends after
        // now and no `address_unblocked` for the same host and address came at or after it.
        std::map<std::pair<std::string, std::string>, Block> blocks;
        std::map<std::pair<std::string, std::string>, TimePoint> unblocked;
        int budget = kMaxEvents;
        bool truncated = false;
        Status s = ForEachEvent(
            deps.store, p.tenant.id, agent, "address_blocked", now - window,
            now + std::chrono::hours(1), budget, truncated, [&](const StoredEvent& e) {
              std::string addr = StringAt(e.doc, "source", "ip");
              if (addr.empty()) return;
              int64_t secs = 0;
              if (auto f = e.doc.find("firewall"); f != e.doc.end() && f->is_object()) {
                auto d = f->find("duration_s");
                if (d != f->end() && d->is_number_integer()) secs = d->get<int64_t>();
              }
              Block b;
              b.agent_id = e.agent_id;
              b.address = addr;
              b.rule_id = StringAt(e.doc, "rule", "id");
              b.mode = StringAt(e.doc, "firewall", "mode");
              if (auto f = e.doc.find("firewall"); f != e.doc.end() && f->is_object()) {
                b.cause_module = StringAt(*f, "cause", "module");
              }
              b.event_id = e.id;
              b.blocked_at = e.timestamp;
              b.expires_at = e.timestamp + std::chrono::seconds(secs);
              blocks[{e.agent_id, addr}] = std::move(b);
            });
        if (!s.ok()) return Err(s);
        s = ForEachEvent(deps.store, p.tenant.id, agent, "address_unblocked", now - window,
                         now + std::chrono::hours(1), budget, truncated, [&](const StoredEvent& e) {
                           std::string addr = StringAt(e.doc, "source", "ip");
                           if (!addr.empty()) unblocked[{e.agent_id, addr}] = e.timestamp;
                         });
        if (!s.ok()) return Err(s);
        std::vector<const Block*> active;
        for (const auto& [key, b] : blocks) {
          if (b.expires_at <= now) continue;
          auto u = unblocked.find(key);
          if (u != unblocked.end() && u->second >= b.blocked_at) continue;
          active.push_back(&b);
        }
        std::sort(active.begin(), active.end(),
                  [](const Block* a, const Block* b) { return a->blocked_at > b->blocked_at; });
        json items = json::array();
        for (const Block* b : active) {
          items.push_back({{"agent_id", b->agent_id},
                           {"address", b->address},
                           {"rule_id", b->rule_id},
                           {"mode", b->mode},
                           {"cause_module", b->cause_module},
                           {"blocked_at", FormatTimestamp(b->blocked_at)},
                           {"expires_at", FormatTimestamp(b->expires_at)},
                           {"event_id", b->event_id}});
        }
        return JsonResponse(200, {{"items", items}, {"truncated", truncated}});
      });
  // One address, or (without it) every address blocked on the host: queued as the agent's
  // `firewall.unblock` command; its `address_unblocked` events then take it off the list above.
  auto unblock = [deps](const PathParams& path, Principal& p,
                        const std::optional<std::string>& address) {
    auto a = deps.store.GetAgent(p.tenant.id, path.at("id"));
    if (!a) return LookupError(a.error(), "agent");
    Command c;
    c.name = "firewall.unblock";
    c.args = json::object();
    if (address) {
      if (!IsAddress(*address)) {
        return Err(BadRequest("invalid_path", "address",
                              "address: expected an IPv4 or IPv6 address like 203.0.113.7"));
      }
      c.args["address"] = *address;
    }
    c.id = NewId();
    c.tenant_id = p.tenant.id;
    c.agent_id = a->id;
    c.created_at = deps.clock.Now();
    if (Status s = deps.store.QueueCommand(c); !s.ok()) return LookupError(s, "agent");
    p.audit["object_id"] = c.id;
    p.audit["agent_id"] = a->id;
    p.audit["command"] = c.name;
    if (address) p.audit["address"] = *address;
    return JsonResponse(202, {{"command", CommandJson(c)}});
  };
  table.Add("DELETE", "/api/v1/agents/{id}/blocked-addresses", Access::kWrite,
            [unblock](const HttpRequest&, const PathParams& path, Principal& p) {
              return unblock(path, p, std::nullopt);
            });
  table.Add("DELETE", "/api/v1/agents/{id}/blocked-addresses/{address}", Access::kWrite,
            [unblock](const HttpRequest&, const PathParams& path, Principal& p) {
              return unblock(path, p, path.at("address"));
            });
}

}  // namespace ward::manager

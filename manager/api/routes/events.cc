// Events: the search (keyset pagination) and the counts per time bucket, module and severity.
#include <fmt/format.h>

#include <charconv>

#include "common/config_node.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

ApiResult<std::optional<TimePoint>> QueryTime(const HttpRequest& req, const char* name) {
  auto v = QueryParam(req, name);
  if (!v) return std::optional<TimePoint>();
  auto t = ParseTimestamp(*v);
  if (!t) {
    return BadRequest(
        "invalid_query", name,
        fmt::format("{}: expected an RFC 3339 timestamp like 2026-11-25T20:50:51Z", name));
  }
  return std::optional<TimePoint>(*t);
}

std::optional<int> ParseSeverity(std::string_view s) {
  static constexpr std::string_view kNames[] = {"info", "low", "medium", "high", "critical"};
  for (int i = 0; i < 5; ++i) {
    if (s == kNames[i] || (s.size() == 1 && s[0] == '0' + i)) return i;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ReadEventFilters(const HttpRequest& req, EventQuery& q) {
  auto from = QueryTime(req, "from");
  if (!from) return from.error();
  auto to = QueryTime(req, "to");
  if (!to) return to.error();
  q.from = *from;
  q.to = *to;
  if (q.from && q.to && *q.from > *q.to) {
    return BadRequest("invalid_query", "from", "from: later than to");
  }
  if (auto e = ReadTextParam(req, "agent", q.agent_id)) return e;
  if (auto e = ReadTextParam(req, "module", q.module)) return e;
  if (auto e = ReadTextParam(req, "action", q.action)) return e;
  if (auto e = ReadTextParam(req, "q", q.text)) return e;
  if (auto v = QueryParam(req, "min_severity")) {
    auto s = ParseSeverity(*v);
    if (!s) {
      return BadRequest("invalid_query", "min_severity",
                        "min_severity: expected 0..4 or info, low, medium, high, critical");
    }
    q.min_severity = *s;
  }
  return std::nullopt;
}

void AddEventRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/events/counts", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {"from", "to", "agent", "module", "min_severity",
                                            "action", "q", "bucket"})) {
                return Err(*e);
              }
              EventQuery q;
              if (auto e = ReadEventFilters(req, q)) return Err(*e);
              std::chrono::seconds bucket(3600);
              if (auto b = QueryParam(req, "bucket")) {
                auto d = ParseDuration(*b);
                if (!d || *d < std::chrono::seconds(60) || *d > std::chrono::days(366)) {
                  return Err(BadRequest("invalid_query", "bucket",
                                        "bucket: expected a duration from 1m to 366d (e.g. 1h)"));
                }
                bucket = std::chrono::duration_cast<std::chrono::seconds>(*d);
              }
              if (!q.to) q.to = deps.clock.Now();
              if (!q.from) q.from = *q.to - std::chrono::hours(24);
              if ((*q.to - *q.from) / bucket > 10000) {
                return Err(BadRequest("invalid_query", "bucket",
                                      "bucket: more than 10000 buckets in [from, to)"));
              }
              auto counts = deps.store.CountEvents(p.tenant.id, q, bucket);
              if (!counts) return Err(counts.error());
              json items = json::array();
              for (const auto& c : *counts) {
                items.push_back({{"bucket", TimeJson(c.bucket)},
                                 {"module", c.module},
                                 {"severity", c.severity},
                                 {"count", c.count}});
              }
              return JsonResponse(200, {{"from", TimeJson(*q.from)},
                                        {"to", TimeJson(*q.to)},
                                        {"bucket_s", bucket.count()},
                                        {"items", items}});
            });
  table.Add(
      "GET", "/api/v1/events", Access::kAny,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        if (auto e = CheckQuery(req, {"from", "to", "agent", "module", "min_severity", "action",
                                      "q", "order", "limit", "cursor", "after_seq"})) {
          return Err(*e);
        }
        EventQuery q;
        if (auto e = ReadEventFilters(req, q)) return Err(*e);
        auto limit = ReadLimit(req, 100, 1000);
        if (!limit) return Err(limit.error());
        q.limit = *limit;
        if (auto e = ReadOrder(req, q.descending)) return Err(*e);
        if (auto e = ReadCursor(req, q.after)) return Err(*e);
        if (auto v = QueryParam(req, "after_seq")) {
          // The live tail: events in the order they arrived (docs/api.md, "Events").
          int64_t n = -1;
          auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
          if (ec != std::errc() || end != v->data() + v->size() || n < 0) {
            return Err(BadRequest("invalid_query", "after_seq",
                                  "after_seq: expected a non-negative integer"));
          }
          if (q.after || q.descending) {
            return Err(BadRequest("invalid_query", "after_seq",
                                  "after_seq: not with cursor or order=desc"));
          }
          q.after_seq = n;
        }
        // Read before the page: an event stored meanwhile is in the page or after it.
        auto latest = deps.store.LatestEventSeq(p.tenant.id);
        if (!latest) return Err(latest.error());
        auto events = deps.store.QueryEvents(p.tenant.id, q);
        if (!events) return Err(events.error());
        json items = json::array();
        for (const auto& e : *events) items.push_back(e.doc);
        json body = {{"items", items}, {"latest_seq", *latest}};
        if (q.after_seq) {
          body["next_seq"] = events->empty() ? *q.after_seq : events->back().seq;
          body["next_cursor"] = nullptr;
        } else {
          json next = nullptr;
          if (static_cast<int>(events->size()) == q.limit && !events->empty()) {
            next = EncodeCursor(events->back().timestamp, events->back().id);
          }
          body["next_cursor"] = next;
        }
        return JsonResponse(200, body);
      });
}

}  // namespace ward::manager

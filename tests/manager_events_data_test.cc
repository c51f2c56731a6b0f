// The events data the console needs (issue #14) over real HTTPS: the streamed CSV/NDJSON export
// equals the paged API's rows, hostile values stay text in a spreadsheet, tenants stay apart; the
// dashboard aggregates (/events/top, /events/summary) count every event of the range.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <set>

#include "common/clock.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const auto kBase = std::chrono::system_clock::time_point(seconds(1'800'000'000));

// Sends `lines` (NDJSON) for an agent in batches of 500 lines.
void SendEvents(ManagerHarness& m, const std::string& cred, const std::vector<std::string>& lines) {
  for (size_t start = 0; start < lines.size(); start += 500) {
    std::string batch;
    for (size_t i = start; i < std::min(lines.size(), start + 500); ++i) batch += lines[i];
    Reply r = m.Do("POST", "/agent/v1/events", cred, batch, "application/x-ndjson", "gzip");
    ASSERT_EQ(r.status, 200) << r.raw;
  }
}

// Every event id of the paged API for `query` (pages of 1000 through next_cursor).
std::vector<std::string> PagedIds(ManagerHarness& m, const std::string& key,
                                  const std::string& query) {
  std::vector<std::string> ids;
  std::string cursor;
  for (int page = 0; page < 100; ++page) {
    std::string q = "/api/v1/events?limit=1000" + query;
    if (!cursor.empty()) q += "&cursor=" + cursor;
    Reply r = m.Get(q, key);
    EXPECT_EQ(r.status, 200) << r.raw;
    if (r.status != 200) break;
    for (const auto& e : r.body["items"]) ids.push_back(e["event"]["id"]);
    if (r.body["next_cursor"].is_null()) break;
    cursor = r.body["next_cursor"];
  }
  return ids;
}

struct Raw {
  int status = 0;
  std::string body;
  std::string transfer_encoding, content_type, disposition;
  bool has_length = false;
};

Raw RawGet(ManagerHarness& m, const std::string& path, const std::string& key) {
  httplib::SSLClient cli("127.0.0.1", m.port());
  cli.set_ca_cert_path(m.cert().c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_read_timeout(60, 0);
  auto res = cli.Get(path, {{"Authorization", "Bearer " + key}});
  Raw r;
  if (!res) return r;
  r.status = res->status;
  r.body = res->body;
  r.transfer_encoding = res->get_header_value("Transfer-Encoding");
  r.content_type = res->get_header_value("Content-Type");
  r.disposition = res->get_header_value("Content-Disposition");
  r.has_length = res->has_header("Content-Length");
  return r;
}

// RFC 4180 records (quoted fields may hold commas, doubled quotes and line breaks).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      ++i;
    } else {
      field += c;
    }
  }
  EXPECT_TRUE(field.empty() && row.empty()) << "the last record ends with CRLF";
  return rows;
}

std::vector<std::string> NdjsonIds(const std::string& body) {
  std::vector<std::string> ids;
  size_t start = 0;
  while (start < body.size()) {
    size_t nl = body.find('\n', start);
    if (nl == std::string::npos) nl = body.size();
    Json e = Json::parse(body.substr(start, nl - start), nullptr, false);
    EXPECT_TRUE(e.is_object()) << body.substr(start, nl - start);
    if (e.is_object()) ids.push_back(e["event"]["id"]);
    start = nl + 1;
  }
  return ids;
}

TEST(ManagerEventsExport, StreamsEveryRowOfTheFilterAsThePagedApiDoes) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-01");
  std::vector<std::string> lines;
  for (int i = 0; i < 2600; ++i) {
    lines.push_back(EventLine(fmt::format("ev-{:05}", i), FormatTimestamp(kBase + seconds(i)),
                              i % 4 == 0 ? "antimalware" : "integrity", "modified", i % 5,
                              fmt::format("/var/www/p{}.html", i)));
  }
  SendEvents(m, cred, lines);

  // NDJSON, ascending: the same ids in the same order as the paged API, more than one page.
  std::vector<std::string> paged = PagedIds(m, k, "");
  ASSERT_EQ(paged.size(), 2600u);
  Raw r = RawGet(m, "/api/v1/events/export?format=ndjson", k);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.transfer_encoding, "chunked") << "streamed, not buffered";
  EXPECT_FALSE(r.has_length);
  EXPECT_EQ(r.content_type, "application/x-ndjson; charset=utf-8");
  EXPECT_EQ(NdjsonIds(r.body), paged);

  // CSV, filtered and newest first: header + the same rows as the paged API's filter.
  std::vector<std::string> filtered = PagedIds(m, k, "&module=antimalware&order=desc");
  ASSERT_EQ(filtered.size(), 650u);
  r = RawGet(m, "/api/v1/events/export?format=csv&module=antimalware&order=desc", k);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.disposition, "attachment; filename=\"ward-events.csv\"");
  auto rows = ParseCsv(r.body);
  ASSERT_EQ(rows.size(), 651u);
  EXPECT_EQ(rows[0][0], "@timestamp");
  EXPECT_EQ(rows[0][1], "event.id");
  std::vector<std::string> csv_ids;
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), rows[0].size());
    csv_ids.push_back(rows[i][1]);
  }
  EXPECT_EQ(csv_ids, filtered);
  EXPECT_EQ(rows[1][5], "antimalware");
  EXPECT_EQ(rows[1][3], "web-01") << "agent.name set by the manager";
  EXPECT_EQ(rows[1][10], "/var/www/p2596.html");

  // An empty filter: just the header; a bad format names the parameter.
  r = RawGet(m, "/api/v1/events/export?format=csv&module=nothing", k);
  EXPECT_EQ(ParseCsv(r.body).size(), 1u);
  Reply bad = m.Get("/api/v1/events/export?format=xlsx", k);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["error"]["field"], "format");
  bad = m.Get("/api/v1/events/export?limit=5", k);
  EXPECT_EQ(bad.body["error"]["field"], "limit") << "no row cap, and no unknown parameter";
}

// Clients that go away in the middle of an export free the worker that streamed it: after many
// aborted exports the manager still answers, and stops (the harness's destructor) promptly.
TEST(ManagerEventsExport, AbortedExportsFreeTheirWorkers) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-01");
  std::vector<std::string> lines;
  for (int i = 0; i < 6000; ++i) {
    lines.push_back(EventLine(fmt::format("ab-{:05}", i), FormatTimestamp(kBase + seconds(i)),
                              "integrity", "modified", 2,
                              fmt::format("/var/www/{}/{}.html", std::string(200, 'x'), i)));
  }
  SendEvents(m, cred, lines);
  for (int i = 0; i < 40; ++i) {
    httplib::SSLClient cli("127.0.0.1", m.port());
    cli.set_ca_cert_path(m.cert().c_str());
    cli.enable_server_certificate_verification(true);
    size_t got = 0;
    auto res = cli.Get("/api/v1/events/export?format=ndjson", {{"Authorization", "Bearer " + k}},
                       [&](const char*, size_t n) {
                         got += n;
                         return false;  // stop reading and close after the first piece
                       });
    EXPECT_FALSE(res) << "the client cancelled";
    EXPECT_GT(got, 0u) << "rows arrive before the export ends";
  }
  Reply r = m.Get("/api/v1/events?limit=1", k);
  EXPECT_EQ(r.status, 200);
  Raw whole = RawGet(m, "/api/v1/events/export?format=ndjson", k);
  EXPECT_EQ(NdjsonIds(whole.body).size(), 6000u);
}

TEST(ManagerEventsExport, HostileValuesStayTextAndOtherTenantsSeeNothing) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [agent, cred] = m.NewAgent(k, "web-01");
  const std::vector<std::string> hostile = {"=HYPERLINK(\"http://evil.example/\",\"x\")",
                                            "+cmd|' /C calc'!A0",
                                            "-2+3",
                                            "@SUM(A1:A9)",
                                            "/srv/a,b \"quoted\"\r\nnext line",
                                            "<img src=x onerror=alert(1)>.html"};
  std::vector<std::string> lines;
  for (size_t i = 0; i < hostile.size(); ++i) {
    lines.push_back(EventLine(fmt::format("h-{}", i), FormatTimestamp(kBase + seconds(i)),
                              "integrity", "modified", 2, hostile[i]));
  }
  SendEvents(m, cred, lines);
  Raw r = RawGet(m, "/api/v1/events/export?format=csv", k);
  ASSERT_EQ(r.status, 200);
  auto rows = ParseCsv(r.body);
  ASSERT_EQ(rows.size(), hostile.size() + 1);
  for (size_t i = 0; i < hostile.size(); ++i) {
    const std::string& v = hostile[i];
    const bool formula = v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@';
    EXPECT_EQ(rows[i + 1][10], formula ? "'" + v : v) << "file.path of " << i;
  }
  // NDJSON keeps the exact value.
  r = RawGet(m, "/api/v1/events/export?format=ndjson", k);
  Json first = Json::parse(r.body.substr(0, r.body.find('\n')));
  EXPECT_EQ(first["file"]["path"], hostile[0]);

  // Another tenant, and an auditor of it: an empty export, not ours.
  auto [tenant_b, key_b] = m.NewTenant("b");
  std::string auditor_b = m.NewKey(key_b, "auditor");
  r = RawGet(m, "/api/v1/events/export?format=ndjson", auditor_b);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  r = RawGet(m, "/api/v1/events/export?format=csv&agent=" + agent, key_b);
  EXPECT_EQ(ParseCsv(r.body).size(), 1u) << "an agent id of another tenant finds nothing";
  EXPECT_EQ(m.Get("/api/v1/events/export", "").status, 401);
}

TEST(ManagerEventsAggregates, TopValuesAndSummaryCountEveryEventOfTheRange) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [a1, c1] = m.NewAgent(k, "web-01");
  auto [a2, c2] = m.NewAgent(k, "web-02", "", "machine-2");
  // 1500 events: rule 942100 on 900 of them (all older than the newest 1000), 941100 on 600.
  std::vector<std::string> l1, l2;
  for (int i = 0; i < 1500; ++i) {
    Json e = {{"@timestamp", FormatTimestamp(kBase + seconds(i))},
              {"event",
               {{"id", fmt::format("ips-{}", i)},
                {"kind", "alert"},
                {"module", "ips"},
                {"action", "detected"},
                {"severity", 3}}},
              {"rule", {{"id", i < 900 ? "942100" : "941100"}}},
              {"url", {{"original", "/login?id=" + std::to_string(i % 3)}}}};
    (i % 3 == 0 ? l2 : l1).push_back(e.dump() + "\n");
  }
  for (int i = 0; i < 7; ++i) {
    l1.push_back(EventLine(fmt::format("heal-{}", i), FormatTimestamp(kBase + minutes(30)),
                           "autoheal", "restored", 2, "/var/www/index.html"));
  }
  for (int i = 0; i < 4; ++i) {
    l2.push_back(EventLine(fmt::format("q-{}", i), FormatTimestamp(kBase + minutes(31)),
                           "antimalware", "quarantine", 3, "/tmp/eicar.com"));
  }
  SendEvents(m, c1, l1);
  SendEvents(m, c2, l2);

  Reply r = m.Get("/api/v1/events/top?field=rule&limit=5", k);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 2u);
  EXPECT_EQ(r.body["items"][0], Json({{"value", "942100"}, {"count", 900}}));
  EXPECT_EQ(r.body["items"][1], Json({{"value", "941100"}, {"count", 600}}));
  r = m.Get("/api/v1/events/top?field=agent", k);
  ASSERT_EQ(r.body["items"].size(), 2u);
  EXPECT_EQ(r.body["items"][0], Json({{"value", a1}, {"count", 1007}}));
  EXPECT_EQ(r.body["items"][1], Json({{"value", a2}, {"count", 504}}));
  r = m.Get("/api/v1/events/top?field=path&limit=1&module=ips", k);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["count"], 500);
  // The range and filters apply: from the 1000th second on, 942100 is gone.
  r = m.Get("/api/v1/events/top?field=rule&from=" + FormatTimestamp(kBase + seconds(1000)), k);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0], Json({{"value", "941100"}, {"count", 500}}));
  r = m.Get("/api/v1/events/top?field=action&agent=" + a2, k);
  EXPECT_EQ(r.body["items"][0], Json({{"value", "detected"}, {"count", 500}}));

  r = m.Get("/api/v1/events/summary", k);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["total"], 1511);
  EXPECT_EQ(r.body["heals"], 7);
  EXPECT_EQ(r.body["quarantines"], 4);
  r = m.Get("/api/v1/events/summary?agent=" + a1, k);
  EXPECT_EQ(r.body["quarantines"], 0);
  EXPECT_EQ(r.body["heals"], 7);

  // Errors name the parameter; another tenant sees nothing.
  EXPECT_EQ(m.Get("/api/v1/events/top?field=password", k).body["error"]["field"], "field");
  EXPECT_EQ(m.Get("/api/v1/events/top", k).body["error"]["field"], "field");
  EXPECT_EQ(m.Get("/api/v1/events/top?field=rule&limit=0", k).body["error"]["field"], "limit");
  auto [tenant_b, key_b] = m.NewTenant("b");
  EXPECT_TRUE(m.Get("/api/v1/events/top?field=rule", key_b).body["items"].empty());
  EXPECT_EQ(m.Get("/api/v1/events/summary", key_b).body["total"], 0);
}

// The live tail's cursor (docs/api.md, "Events"): after latest_seq, what arrives next in arrival
// order, an event delivered late with an old @timestamp included.
TEST(ManagerEventsTail, AfterSeqFollowsArrivalOrderIncludingLateEvents) {
  ManagerHarness m;
  const std::string k = m.primary_key();
  auto [a1, c1] = m.NewAgent(k, "web-01");
  std::vector<std::string> now;
  for (int i = 0; i < 5; ++i) {
    now.push_back(EventLine(fmt::format("now-{}", i), FormatTimestamp(kBase + minutes(60 + i)),
                            "integrity", "modified", 2, "/etc/f"));
  }
  SendEvents(m, c1, now);
  Reply r = m.Get("/api/v1/events?order=desc&limit=2", k);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_TRUE(r.body["latest_seq"].is_number_integer()) << r.raw;
  const int64_t latest = r.body["latest_seq"];
  EXPECT_GE(latest, 5);
  // Two events, the first an hour older than every event shown: both follow, in arrival order.
  SendEvents(m, c1,
             {EventLine("late-0", FormatTimestamp(kBase), "integrity", "created", 3, "/etc/late"),
              EventLine("next-0", FormatTimestamp(kBase + minutes(70)), "integrity", "modified", 2,
                        "/etc/next")});
  r = m.Get(fmt::format("/api/v1/events?after_seq={}", latest), k);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["items"].size(), 2u) << r.raw;
  EXPECT_EQ(r.body["items"][0]["event"]["id"], "late-0");
  EXPECT_EQ(r.body["items"][1]["event"]["id"], "next-0");
  const int64_t next = r.body["next_seq"];
  EXPECT_GT(next, latest);
  EXPECT_TRUE(r.body["next_cursor"].is_null());
  EXPECT_EQ(r.body["latest_seq"], next);
  // Paged by limit; the filters apply; nothing new: the same next_seq.
  r = m.Get(fmt::format("/api/v1/events?after_seq={}&limit=1", latest), k);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["event"]["id"], "late-0");
  r = m.Get(fmt::format("/api/v1/events?after_seq={}&q=/etc/next", latest), k);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["event"]["id"], "next-0");
  r = m.Get(fmt::format("/api/v1/events?after_seq={}", next), k);
  EXPECT_TRUE(r.body["items"].empty());
  EXPECT_EQ(r.body["next_seq"], next);
  // A resent batch stores nothing and shows nothing new.
  SendEvents(m, c1, now);
  r = m.Get(fmt::format("/api/v1/events?after_seq={}", next), k);
  EXPECT_TRUE(r.body["items"].empty());
  for (const char* bad : {"after_seq=-1", "after_seq=x", "after_seq=1&order=desc"}) {
    EXPECT_EQ(m.Get(std::string("/api/v1/events?") + bad, k).status, 400) << bad;
  }
  std::string cursor = m.Get("/api/v1/events?limit=1", k).body["next_cursor"];
  EXPECT_EQ(m.Get("/api/v1/events?after_seq=1&cursor=" + cursor, k).status, 400);
}

}  // namespace
}  // namespace ward::test

#include "agent/modules/ips/tuning_report.h"

#include <gtest/gtest.h>

#include <sstream>

namespace ward::agent::ips {
namespace {

std::string EventLine(const std::string& ts, const std::string& src, const std::string& path,
                      std::vector<std::pair<std::string, std::string>> rules, int score) {
  nlohmann::json matches = nlohmann::json::array();
  for (const auto& [id, var] : rules) {
    matches.push_back({{"id", id}, {"message", "m" + id}, {"variable", var}, {"score", 5}});
  }
  matches.push_back({{"id", "949110"}, {"message", "eval"}, {"variable", ""}, {"score", 0}});
  nlohmann::json e = {{"@timestamp", ts},
                      {"event", {{"module", "ips"}, {"action", "detected"}}},
                      {"source", {{"ip", src}}},
                      {"url", {{"path", path}}},
                      {"ips", {{"matches", matches}, {"anomaly_score", score}}}};
  return e.dump() + "\n";
}

TEST(TuningReport, LoneHitsOnManyClientsAreNotReadyAndGetExclusions) {
  std::stringstream in;
  for (int i = 0; i < 6; ++i) {
    in << EventLine("2026-11-25T10:00:00.000Z", "10.0.0." + std::to_string(i), "/blog/post",
                    {{"942430", "ARGS:comment"}}, 5);
  }
  // An attack: several rules together, one client.
  in << EventLine("2026-11-25T10:00:00.000Z", "203.0.113.9", "/login",
                  {{"942100", "ARGS:user"}, {"942190", "ARGS:user"}}, 10);
  in << "not json\n";
  in << EventLine("2020-01-01T00:00:00.000Z", "10.0.0.1", "/old", {{"942430", "ARGS:x"}}, 5);
  TuningReport r = BuildTuningReport(in, 1700000000000);  // 2023-11: drops the 2020 event
  EXPECT_EQ(r.events, 7u);
  EXPECT_EQ(r.skipped_lines, 1u);
  ASSERT_EQ(r.rules.size(), 3u);  // 949110 (evaluation) is not a rule to tune
  const RuleTuning& fp = r.rules[0];
  EXPECT_EQ(fp.id, "942430");
  EXPECT_EQ(fp.hits, 6u);
  EXPECT_FALSE(fp.ready);
  EXPECT_EQ(fp.paths.at("/blog/post"), 6u);
  EXPECT_EQ(fp.variables.at("ARGS:comment"), 6u);
  nlohmann::json j = TuningReportJson(r);
  ASSERT_EQ(j["rules"][0]["proposed_exclusions"].size(), 1u);
  EXPECT_EQ(j["rules"][0]["proposed_exclusions"][0]["target"], "ARGS:comment");
  EXPECT_EQ(j["rules"][0]["proposed_exclusions"][0]["path"], "/blog/post");
  EXPECT_EQ(j["rules"][0]["verdict"], "not_yet");
  for (const auto& t : r.rules) {
    if (t.id == "942100") {
      EXPECT_TRUE(t.ready) << t.reason;
    }
  }
  std::string text = FormatTuningReport(r);
  EXPECT_NE(text.find("{ id: 942430, target: \"ARGS:comment\", path: /blog/post }"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace ward::agent::ips

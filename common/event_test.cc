#include "common/event.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "common/json_path.h"
#include "common/text.h"
#include "testing/fake_clock.h"

namespace ward {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

bool IsUuidV7(const std::string& id) {
  static const std::regex kPattern(
      "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(id, kPattern);
}

TEST(Event, MakeStampsTimestampIdAndEcsFields) {
  test::FakeClock clock;  // 1'800'000'000 s since the epoch
  clock.Advance(123ms);
  Event e = Event::Make(clock, "integrity", "change", "modified", Severity::kHigh);

  EXPECT_EQ(e.GetString("@timestamp"), "2027-01-15T08:00:00.123Z");
  EXPECT_TRUE(IsUuidV7(e.Id())) << e.Id();
  EXPECT_EQ(e.GetString("event.kind"), "event");
  EXPECT_EQ(e.Module(), "integrity");
  EXPECT_EQ(e.GetString("event.module"), "integrity");
  EXPECT_EQ(e.GetString("event.type"), "change");
  EXPECT_EQ(e.GetString("event.action"), "modified");
  EXPECT_EQ(e.Get("event.severity"), 3);
  EXPECT_EQ(e.severity(), Severity::kHigh);
  // @timestamp is a top-level key, not an object named "@timestamp".
  EXPECT_TRUE(e.doc().contains("@timestamp"));
  EXPECT_TRUE(e.doc()["@timestamp"].is_string());
}

TEST(Event, IdsAreUniqueVersion7Uuids) {
  test::FakeClock clock;
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    std::string id = Event::Make(clock, "m", "info", "a", Severity::kInfo).Id();
    ASSERT_TRUE(IsUuidV7(id)) << id;
    ASSERT_EQ(id[14], '7') << "version nibble: " << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(Event, IdsFromLaterTimesSortAfter) {
  test::FakeClock clock;
  std::string prev = Event::Make(clock, "m", "info", "a", Severity::kInfo).Id();
  for (std::chrono::milliseconds step :
       {1ms, 1ms, 999ms, std::chrono::milliseconds(1h), std::chrono::milliseconds(24h * 365)}) {
    clock.Advance(step);
    std::string next = Event::Make(clock, "m", "info", "a", Severity::kInfo).Id();
    EXPECT_LT(prev, next) << "after advancing " << step.count() << "ms";
    prev = next;
  }
}

TEST(NewEventId, EncodesTheMillisecondTimestampInTheFirst48Bits) {
  auto t = std::chrono::system_clock::time_point(1'800'000'000'123ms);
  std::string id = NewEventId(t);
  // 1800000000123 = 0x01a3185c507b
  EXPECT_EQ(id.substr(0, 8) + id.substr(9, 4), "01a3185c507b");
  EXPECT_TRUE(IsUuidV7(id));
}

TEST(Event, SetCreatesNestedObjectsForDottedNames) {
  Event e;
  e.Set("file.path", "/etc/passwd").Set("file.hash.sha256", "abc").Set("top", 5);
  EXPECT_EQ(e.doc()["file"]["path"], "/etc/passwd");
  EXPECT_EQ(e.doc()["file"]["hash"]["sha256"], "abc");
  EXPECT_EQ(e.doc()["top"], 5);
  EXPECT_EQ(e.GetString("file.path"), "/etc/passwd");
  EXPECT_EQ(e.GetString("file.hash.sha256"), "abc");
  EXPECT_EQ(e.Get("top"), 5);
  EXPECT_TRUE(e.Get("file").is_object());
  EXPECT_TRUE(e.Has("file.hash"));
}

TEST(Event, SetOverwritesAndSiblingsSurvive) {
  Event e;
  e.Set("a.b", 1).Set("a.c", 2).Set("a.b", 3);
  EXPECT_EQ(e.Get("a.b"), 3);
  EXPECT_EQ(e.Get("a.c"), 2);
}

TEST(Event, GetReturnsNullForAbsentOrNonObjectPaths) {
  Event e;
  e.Set("a.b", "x");
  EXPECT_TRUE(e.Get("missing").is_null());
  EXPECT_TRUE(e.Get("a.missing").is_null());
  EXPECT_TRUE(e.Get("a.b.c").is_null());  // a.b is a string, not an object
  EXPECT_FALSE(e.Has("a.b.c"));
  EXPECT_EQ(e.GetString("missing"), "");
  e.Set("n", 7);
  EXPECT_EQ(e.GetString("n"), "");  // not a string
}

TEST(Event, SetBytesKeepsValidUtf8AsIsWithoutBase64) {
  Event e;
  e.SetBytes("file.name", "caf\xC3\xA9.txt");
  EXPECT_EQ(e.GetString("file.name"), "caf\xC3\xA9.txt");
  EXPECT_FALSE(e.Has("file.name_base64"));
}

TEST(Event, SetBytesWithNewlineAndInvalidBytesStaysValidJsonAndBase64RoundTrips) {
  const std::string name = "evil\nname\xFF\xFE.txt";
  Event e;
  e.SetBytes("file.name", name);

  // The readable field is valid UTF-8, with U+FFFD for the two bad bytes.
  EXPECT_EQ(e.GetString("file.name"), "evil\nname\xEF\xBF\xBD\xEF\xBF\xBD.txt");
  // The exact bytes are recoverable.
  auto exact = Base64Decode(e.GetString("file.name_base64"));
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(*exact, name);

  // One line of JSON that parses, and the round trip keeps the exact bytes too.
  std::string json = e.ToJson();
  EXPECT_EQ(json.find('\n'), std::string::npos) << json;
  EXPECT_TRUE(IsValidUtf8(json));
  EXPECT_TRUE(nlohmann::json::accept(json)) << json;
  auto parsed = nlohmann::json::parse(json);
  auto back = Base64Decode(parsed["file"]["name_base64"].get<std::string>());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, name);
  EXPECT_EQ(parsed["file"]["name"].get<std::string>(), e.GetString("file.name"));
}

TEST(Event, SetBytesWithEmbeddedNulIsKeptExactly) {
  const std::string name = "a\0b"s;
  Event e;
  e.SetBytes("file.name", name);
  auto back = Event::FromJson(e.Set("event.id", "x").ToJson());
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->GetString("file.name"), name);
}

TEST(Event, ToJsonIsOneLine) {
  test::FakeClock clock;
  Event e = Event::Make(clock, "m", "info", "a", Severity::kInfo);
  e.Set("message", "line one\nline two");
  std::string json = e.ToJson();
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_NE(json.find("\\n"), std::string::npos);
}

TEST(Event, ToJsonFromJsonRoundTrips) {
  test::FakeClock clock;
  Event e = Event::Make(clock, "integrity", "change", "modified", Severity::kCritical);
  e.Set("file.path", "/srv/x").Set("file.size", 1234).Set("list", nlohmann::json::array({1, 2}));
  e.SetBytes("file.name", "x\xFF");

  auto back = Event::FromJson(e.ToJson());
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->doc(), e.doc());
  EXPECT_EQ(back->Id(), e.Id());
  EXPECT_EQ(back->severity(), Severity::kCritical);
  EXPECT_EQ(back->GetString("@timestamp"), e.GetString("@timestamp"));
  EXPECT_EQ(back->ToJson(), e.ToJson());
}

TEST(Event, FromJsonRejectsMalformedJson) {
  for (const char* bad : {"", "{", "{\"event\":", "not json", "{\"a\":1}}", "[1,2"}) {
    auto r = Event::FromJson(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(Event, FromJsonRejectsNonObjects) {
  for (const char* bad : {"[]", "42", "\"s\"", "null"}) {
    auto r = Event::FromJson(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(Event, FromJsonRequiresAStringEventId) {
  auto missing = Event::FromJson(R"({"event":{"module":"m"}})");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.error().message().find("event.id"), std::string::npos)
      << missing.error().message();

  EXPECT_FALSE(Event::FromJson(R"({"event":{"id":5}})").has_value());
  EXPECT_FALSE(Event::FromJson(R"({"event.id":"flat-key-is-not-nested"})").has_value());
  EXPECT_TRUE(Event::FromJson(R"({"event":{"id":"x"}})").has_value());
}

TEST(Event, SeverityIsClampedAndDefaultsToInfo) {
  Event e;
  EXPECT_EQ(e.severity(), Severity::kInfo);
  e.Set("event.severity", 99);
  EXPECT_EQ(e.severity(), Severity::kCritical);
  e.Set("event.severity", -3);
  EXPECT_EQ(e.severity(), Severity::kInfo);
  e.Set("event.severity", "high");
  EXPECT_EQ(e.severity(), Severity::kInfo);
}

TEST(Severity, NamesEveryLevel) {
  EXPECT_EQ(SeverityName(Severity::kInfo), "info");
  EXPECT_EQ(SeverityName(Severity::kLow), "low");
  EXPECT_EQ(SeverityName(Severity::kMedium), "medium");
  EXPECT_EQ(SeverityName(Severity::kHigh), "high");
  EXPECT_EQ(SeverityName(Severity::kCritical), "critical");
}

TEST(JsonAt, WalksNestedObjectsAndGivesNullForAMissingOrNonObjectStep) {
  const nlohmann::json doc = {{"url", {{"path", "/a"}}}, {"rule", {{"id", {"1", "2"}}}}, {"n", 3}};
  EXPECT_EQ(JsonAt(doc, {"url", "path"}), "/a");
  EXPECT_EQ(JsonAt(doc, {"rule", "id"}), nlohmann::json({"1", "2"}));
  EXPECT_EQ(JsonAt(doc, {}), doc);
  EXPECT_TRUE(JsonAt(doc, {"url", "query"}).is_null());
  EXPECT_TRUE(JsonAt(doc, {"missing", "path"}).is_null());
  EXPECT_TRUE(JsonAt(doc, {"n", "x"}).is_null());
  EXPECT_TRUE(JsonAt(doc, {"rule", "id", "0"}).is_null());
}

}  // namespace
}  // namespace ward

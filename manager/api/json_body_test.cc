#include "manager/api/json_body.h"

#include <gtest/gtest.h>

namespace ward::manager {
namespace {

TEST(ParseObjectBody, RefusesMalformedJsonNamingTheBody) {
  auto r = ParseObjectBody("{\"name\": ");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 400);
  EXPECT_EQ(r.error().code, "invalid_json");
  EXPECT_EQ(r.error().field, "body");
  EXPECT_NE(r.error().message.find("byte"), std::string::npos);
}

TEST(ParseObjectBody, RefusesNonObjectsEmptyBodiesAndBadUtf8) {
  EXPECT_FALSE(ParseObjectBody("[1,2]"));
  EXPECT_FALSE(ParseObjectBody(""));
  EXPECT_FALSE(ParseObjectBody("{\"a\":\"\xff\"}"));
  EXPECT_TRUE(ParseObjectBody("{\"a\":1}"));
}

TEST(ParseObjectBody, RefusesDeepNesting) {
  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  auto r = ParseObjectBody(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("deeper"), std::string::npos);
}

TEST(CheckFields, NamesUnknownMissingAndMistypedFields) {
  auto body = nlohmann::json::parse(R"({"name": "x", "colour": 1})");
  auto e = CheckFields(body, {{"name", JsonType::kString, true}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "unknown_field");
  EXPECT_EQ(e->field, "colour");

  e = CheckFields(nlohmann::json::object(), {{"name", JsonType::kString, true}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "missing_field");
  EXPECT_EQ(e->field, "name");

  e = CheckFields(nlohmann::json::parse(R"({"n": "5"})"), {{"n", JsonType::kInt}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "n");
  EXPECT_NE(e->message.find("expected an integer, got a string"), std::string::npos);

  e = CheckFields(nlohmann::json::parse(R"({"days": 0})"),
                  {{"days", JsonType::kInt, false, false, 1, 3650}}, "settings.");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "settings.days");

  e = CheckFields(nlohmann::json::parse(R"({"at": "yesterday"})"), {{"at", JsonType::kTimestamp}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "at");

  EXPECT_FALSE(CheckFields(nlohmann::json::parse(R"({"at": null})"),
                           {{"at", JsonType::kTimestamp, false, true}}));
}

TEST(Cursor, RoundTripsAndRefusesTamperedCursors) {
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  std::string c = EncodeCursor(t, "0193-abc");
  auto d = DecodeCursor(c);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->first, t);
  EXPECT_EQ(d->second, "0193-abc");
  std::string bad = c;
  bad[2] = bad[2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(DecodeCursor(bad));
  EXPECT_FALSE(DecodeCursor("not-a-cursor"));
  EXPECT_FALSE(DecodeCursor(""));
}

TEST(ReadLimit, RefusesOutOfRangeAndNonNumbers) {
  HttpRequest req;
  req.query = {{"limit", "0"}};
  EXPECT_FALSE(ReadLimit(req, 100, 1000));
  req.query = {{"limit", "1001"}};
  EXPECT_FALSE(ReadLimit(req, 100, 1000));
  req.query = {{"limit", "12x"}};
  auto r = ReadLimit(req, 100, 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "limit");
  req.query = {{"limit", "7"}};
  EXPECT_EQ(*ReadLimit(req, 100, 1000), 7);
}

TEST(ParseTimestamp, AcceptsRfc3339AndRefusesTheRest) {
  auto t = ParseTimestamp("2027-01-15T08:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count(),
            1800000000);
  auto off = ParseTimestamp("2027-01-15T09:30:00.5+01:30");
  ASSERT_TRUE(off);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(off->time_since_epoch()).count(),
            1800000000500);
  EXPECT_FALSE(ParseTimestamp("2027-01-15"));
  EXPECT_FALSE(ParseTimestamp("2027-13-15T08:00:00Z"));
  EXPECT_FALSE(ParseTimestamp("2027-01-15T08:00:00Zjunk"));
  EXPECT_FALSE(ParseTimestamp("9999-12-31T23:59:59Z"));  // beyond int64 nanoseconds
  EXPECT_FALSE(ParseTimestamp("0001-01-01T00:00:00Z"));
}

}  // namespace
}  // namespace ward::manager

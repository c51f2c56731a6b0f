#include "common/json_schema.h"

#include <gtest/gtest.h>

namespace ward {
namespace {

using json = nlohmann::json;

const json kSchema = json::parse(R"({
  "type": "object", "additionalProperties": false, "required": ["mode"],
  "properties": {
    "mode": {"type": "string", "enum": ["fast", "full"]},
    "depth": {"type": "integer", "minimum": 1, "maximum": 10},
    "names": {"type": "array", "maxItems": 2,
              "items": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"}}
  }})");

std::string FieldOf(const json& v) {
  auto e = ValidateJson(kSchema, v, "args");
  return e ? e->field : "";
}

TEST(JsonSchema, AcceptsWhatTheSchemaAllows) {
  EXPECT_EQ(FieldOf({{"mode", "fast"}}), "");
  EXPECT_EQ(FieldOf({{"mode", "full"}, {"depth", 10}, {"names", {"ab", "cd"}}}), "");
}

TEST(JsonSchema, NamesTheFirstFieldThatFails) {
  EXPECT_EQ(FieldOf(json::array()), "args");
  EXPECT_EQ(FieldOf(json::object()), "args.mode");
  EXPECT_EQ(FieldOf({{"mode", "slow"}}), "args.mode");
  EXPECT_EQ(FieldOf({{"mode", "fast"}, {"extra", 1}}), "args.extra");
  EXPECT_EQ(FieldOf({{"mode", "fast"}, {"depth", 0}}), "args.depth");
  EXPECT_EQ(FieldOf({{"mode", "fast"}, {"depth", 11}}), "args.depth");
  EXPECT_EQ(FieldOf({{"mode", "fast"}, {"depth", 1.5}}), "args.depth");
  EXPECT_EQ(FieldOf({{"mode", "fast"}, {"names", {"ab", "cd", "ef"}}}), "args.names");
  EXPECT_EQ(FieldOf({{"mode", "fast"}, {"names", {"ab", "c"}}}), "args.names[1]");
  EXPECT_EQ(FieldOf({{"mode", "fast"}, {"names", {"AB"}}}), "args.names[0]");
  EXPECT_EQ(FieldOf({{"mode", "fast"}, {"names", {1}}}), "args.names[0]");
  auto e = ValidateJson(kSchema, {{"mode", 3}}, "args");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->message, "args.mode: expected a string");
}

TEST(JsonSchema, TheDescriptionWordsTheError) {
  json s = {{"type", "string"}, {"pattern", "^/"}, {"description", "an absolute path"}};
  auto e = ValidateJson(s, "relative", "path");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->message, "path: expected an absolute path");
}

TEST(JsonSchema, RefusesKeywordsItDoesNotCheck) {
  EXPECT_TRUE(CheckJsonSchema(kSchema).ok());
  EXPECT_FALSE(CheckJsonSchema({{"type", "object"}, {"oneOf", json::array()}}).ok());
  EXPECT_FALSE(CheckJsonSchema({{"type", "tuple"}}).ok());
  EXPECT_FALSE(CheckJsonSchema({{"pattern", "("}}).ok());
  EXPECT_FALSE(CheckJsonSchema({{"additionalProperties", {{"type", "string"}}}}).ok());
  EXPECT_FALSE(CheckJsonSchema({{"properties", {{"a", {{"minItems", -1}}}}}}).ok());
}

}  // namespace
}  // namespace ward

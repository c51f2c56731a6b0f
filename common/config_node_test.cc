#include "common/config_node.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "testing/temp_dir.h"

namespace ward {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Parses `text` as "policy.yaml", failing the test on a parse error.
ConfigNode Yaml(std::string_view text) {
  auto r = ConfigNode::FromYaml(text, "policy.yaml");
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r.has_value() ? *r : ConfigNode();
}

// The node at a dotted path of map keys under root. REQUIRES: it exists.
const ConfigNode& At(const ConfigNode& root, std::initializer_list<std::string_view> keys) {
  const ConfigNode* n = &root;
  for (auto k : keys) {
    n = n->Find(k);
    if (n == nullptr) {
      ADD_FAILURE() << "no key " << k;
      static const ConfigNode kNull;
      return kNull;
    }
  }
  return *n;
}

TEST(ConfigNode, ParsesMapsSequencesAndScalarsWithKeyPaths) {
  ConfigNode root = Yaml(
      "integrity:\n"
      "  paths:\n"
      "    - path: /var/www\n"
      "      recursive: true\n"
      "  schedule: 1h\n"
      "empty:\n");
  ASSERT_TRUE(root.IsMap());
  EXPECT_EQ(root.key_path(), "");
  const ConfigNode& paths = At(root, {"integrity", "paths"});
  ASSERT_TRUE(paths.IsSequence());
  ASSERT_EQ(paths.items().size(), 1u);
  EXPECT_EQ(paths.key_path(), "integrity.paths");
  const ConfigNode* recursive = paths.items()[0].Find("recursive");
  ASSERT_NE(recursive, nullptr);
  EXPECT_TRUE(recursive->IsScalar());
  EXPECT_EQ(recursive->scalar(), "true");
  EXPECT_EQ(recursive->key_path(), "integrity.paths[0].recursive");
  EXPECT_EQ(recursive->Location(), "policy.yaml:4:18");
  EXPECT_TRUE(At(root, {"empty"}).IsNull());
  EXPECT_EQ(root.Find("nope"), nullptr);
}

TEST(ConfigNode, KeepsEntriesInDocumentOrder) {
  ConfigNode root = Yaml("b: 1\na: 2\nc: 3\n");
  ASSERT_EQ(root.entries().size(), 3u);
  EXPECT_EQ(root.entries()[0].first, "b");
  EXPECT_EQ(root.entries()[1].first, "a");
  EXPECT_EQ(root.entries()[2].first, "c");
}

TEST(ConfigNode, YamlSyntaxErrorNamesFileLineAndColumn) {
  auto r = ConfigNode::FromYaml("a: 1\nb: [1, 2\nc: 3\n", "policy.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.error().message(), ::testing::MatchesRegex("policy\\.yaml:[0-9]+:[0-9]+: .+"));
}

TEST(ConfigNode, YamlSyntaxErrorPointsAtTheOffendingLine) {
  // A second colon in a plain scalar on line 3, column 5.
  auto r = ConfigNode::FromYaml("a: 1\nb: 2\nc: d: e\n", "p.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.error().message(), ::testing::StartsWith("p.yaml:3:5: "));
}

TEST(ConfigNode, RejectsDuplicateKeysNamingTheKeyPath) {
  auto r = ConfigNode::FromYaml(
      "integrity:\n"
      "  schedule: 1h\n"
      "  realtime: true\n"
      "  schedule: 2h\n",
      "policy.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr("policy.yaml:4:3"));
  EXPECT_THAT(r.error().message(), HasSubstr("integrity.schedule"));
  EXPECT_THAT(r.error().message(), HasSubstr("duplicate key"));
}

TEST(ConfigNode, RejectsDuplicateKeysAtTheRoot) {
  auto r = ConfigNode::FromYaml("agent: {}\nagent: {}\n", "policy.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("policy.yaml:2:1: agent: duplicate key"));
}

TEST(ConfigNode, RejectsNonScalarMapKeys) {
  auto r = ConfigNode::FromYaml("? [a, b]\n: 1\n", "policy.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("policy.yaml:1:"));
}

TEST(ConfigNode, FromYamlFileNamesTheFile) {
  test::TempDir dir;
  std::string file = dir.Sub("ward.yaml");
  test::WriteFile(file, "integrity:\n  enabled: maybe\n");
  auto root = ConfigNode::FromYamlFile(file);
  ASSERT_TRUE(root.has_value()) << root.error().ToString();
  auto b = ReadBool(At(*root, {"integrity", "enabled"}));
  ASSERT_FALSE(b.has_value());
  EXPECT_THAT(b.error().message(), HasSubstr(file + ":2:12: integrity.enabled:"));
}

TEST(ConfigNode, FromYamlFileOnMissingFileIsNotFound) {
  test::TempDir dir;
  auto r = ConfigNode::FromYamlFile(dir.Sub("absent.yaml"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.error().message(), HasSubstr("absent.yaml"));
}

TEST(ConfigNode, FromYamlFileOnADirectoryIsAnErrorNotAnEmptyDocument) {
  test::TempDir dir;
  auto r = ConfigNode::FromYamlFile(dir.path());
  ASSERT_FALSE(r.has_value()) << "a directory was read as an empty policy";
  EXPECT_THAT(r.error().message(), HasSubstr(dir.Str()));
}

TEST(ConfigNode, FromYamlFileReadsAnEmptyFileAsNull) {
  test::TempDir dir;
  test::WriteFile(dir.Sub("empty.yaml"), "");
  auto r = ConfigNode::FromYamlFile(dir.Sub("empty.yaml"));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(r->IsNull());
}

TEST(ConfigNode, ErrorNamesLocationKeyPathAndMessage) {
  ConfigNode root = Yaml("a:\n  b: x\n");
  Status s = At(root, {"a", "b"}).Error("is wrong");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "policy.yaml:2:6: a.b: is wrong");
  EXPECT_THAT(root.Error("bad").message(), HasSubstr("(root): bad"));
}

TEST(CheckKeys, AcceptsOnlyAllowedKeys) {
  ConfigNode root = Yaml("a: 1\nb: 2\n");
  EXPECT_TRUE(CheckKeys(root, {"a", "b", "c"}).ok());
}

TEST(CheckKeys, NamesTheUnknownKeyWithItsLineAndTheAllowedOnes) {
  ConfigNode root = Yaml(
      "integrity:\n"
      "  schedule: 1h\n"
      "  schedul: 2h\n");
  Status s = CheckKeys(At(root, {"integrity"}), {"schedule", "paths"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("policy.yaml:3:3: integrity.schedul:"));
  EXPECT_THAT(s.message(), HasSubstr("unknown key"));
  EXPECT_THAT(s.message(), HasSubstr("schedule, paths"));
}

TEST(CheckKeys, PointsAtTheKeyNotAtAValueOnLaterLines) {
  // The value of the unknown key is a block (or nothing) starting on the next line; the error
  // must still name the key's own line.
  for (const char* yaml : {"integrity:\n  bogus:\n    a: 1\n", "integrity:\n  bogus:\n",
                           "integrity:\n  bogus:\n  - a\n", "integrity:\n  bogus: |\n    t\n"}) {
    ConfigNode root = Yaml(yaml);
    Status s = CheckKeys(At(root, {"integrity"}), {"paths"});
    ASSERT_FALSE(s.ok()) << yaml;
    EXPECT_THAT(s.message(), ::testing::StartsWith("policy.yaml:2:3: integrity.bogus: unknown key"))
        << yaml;
  }
}

TEST(CheckKeys, FromJsonNamesTheSourceAndKeyPath) {
  auto root =
      ConfigNode::FromJson(nlohmann::json::parse(R"({"a": {"bogus": {"x": 1}}})"), "manager");
  ASSERT_TRUE(root.has_value());
  Status s = CheckKeys(At(*root, {"a"}), {"x"});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), ::testing::StartsWith("manager: a.bogus: unknown key"));
}

TEST(CheckKeys, RejectsANonMap) {
  ConfigNode root = Yaml("a: [1]\n");
  Status s = CheckKeys(At(root, {"a"}), {"x"});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("a: expected a map, got a list"));
}

TEST(ReadBool, AcceptsPlainTrueAndFalse) {
  ConfigNode root = Yaml("t: true\nf: false\n");
  EXPECT_EQ(ReadBool(At(root, {"t"})).value(), true);
  EXPECT_EQ(ReadBool(At(root, {"f"})).value(), false);
}

TEST(ReadBool, RejectsMaybeNamingLocationAndValue) {
  ConfigNode root = Yaml(
      "integrity:\n"
      "  paths:\n"
      "    - path: /etc\n"
      "      recursive: maybe\n");
  const ConfigNode* rec = At(root, {"integrity", "paths"}).items()[0].Find("recursive");
  ASSERT_NE(rec, nullptr);
  auto r = ReadBool(*rec);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "policy.yaml:4:18: integrity.paths[0].recursive: expected true or false, got "
            "\"maybe\"");
}

TEST(ReadBool, RejectsQuotedTrueAndOtherYaml11Spellings) {
  ConfigNode root = Yaml("q: \"true\"\ns: 'false'\ny: yes\nu: True\nn: 1\nl: [true]\n");
  EXPECT_TRUE(At(root, {"q"}).quoted());
  for (auto key : {"q", "s", "y", "u", "n", "l"}) {
    EXPECT_FALSE(ReadBool(At(root, {key})).has_value()) << key;
  }
}

TEST(ReadString, ReadsScalarsAndRejectsStructures) {
  ConfigNode root = Yaml("s: /var/www\nm: {a: 1}\n");
  EXPECT_EQ(ReadString(At(root, {"s"})).value(), "/var/www");
  auto r = ReadString(At(root, {"m"}));
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("m: expected a string, got a map"));
}

TEST(ReadInt, ReadsInRangeAndRejectsOutOfRangeOrNonIntegers) {
  ConfigNode root = Yaml("a: 42\nb: -1\nc: 4x\nd: 1.5\n");
  EXPECT_EQ(ReadInt(At(root, {"a"}), 0, 100).value(), 42);
  auto low = ReadInt(At(root, {"b"}), 0, 100);
  ASSERT_FALSE(low.has_value());
  EXPECT_THAT(low.error().message(), HasSubstr("-1 is out of range [0, 100]"));
  EXPECT_FALSE(ReadInt(At(root, {"a"}), 0, 41).has_value());
  EXPECT_FALSE(ReadInt(At(root, {"c"}), 0, 100).has_value());
  EXPECT_FALSE(ReadInt(At(root, {"d"}), 0, 100).has_value());
}

TEST(ReadDuration, ReadsEveryUnit) {
  ConfigNode root = Yaml("a: 90s\nb: 15m\nc: 1h\nd: 7d\ne: 500ms\nf: 0\ng: 30\nh: 2w\n");
  EXPECT_EQ(ReadDuration(At(root, {"a"})).value(), 90s);
  EXPECT_EQ(ReadDuration(At(root, {"b"})).value(), 15min);
  EXPECT_EQ(ReadDuration(At(root, {"c"})).value(), 1h);
  EXPECT_EQ(ReadDuration(At(root, {"d"})).value(), 7 * 24h);
  EXPECT_EQ(ReadDuration(At(root, {"e"})).value(), 500ms);
  EXPECT_EQ(ReadDuration(At(root, {"f"})).value(), 0ms);
  EXPECT_EQ(ReadDuration(At(root, {"g"})).value(), 30s);
  EXPECT_EQ(ReadDuration(At(root, {"h"})).value(), 14 * 24h);
}

TEST(ReadDuration, RejectsBadUnitsAndForms) {
  ConfigNode root = Yaml(
      "integrity:\n"
      "  schedule: 5x\n"
      "a: 1y\nb: h\nc: -5s\nd: 1.5h\ne: ''\nf: 1 h\ng: [1h]\nh: 99999999999999999999s\n");
  auto r = ReadDuration(At(root, {"integrity", "schedule"}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr("policy.yaml:2:13: integrity.schedule:"));
  EXPECT_THAT(r.error().message(), HasSubstr("unknown duration unit \"x\""));
  for (auto key : {"a", "b", "c", "d", "e", "f", "g", "h"}) {
    EXPECT_FALSE(ReadDuration(At(root, {key})).has_value()) << key;
  }
}

TEST(ReadDuration, RejectsDurationsThatOverflow) {
  // 2^62 ms is the ceiling; a week count just above it must not wrap around.
  EXPECT_FALSE(ParseDuration("18446744073709551615w").has_value());
  EXPECT_FALSE(ParseDuration("10000000000000d").has_value());
  EXPECT_TRUE(ParseDuration("10000d").has_value());
}

TEST(ReadSize, ReadsUnits) {
  ConfigNode root = Yaml("a: 100M\nb: 4k\nc: 4K\nd: 2G\ne: 4096\nf: 1T\ng: 0\nh: 3KiB\n");
  EXPECT_EQ(ReadSize(At(root, {"a"})).value(), 100u << 20);
  EXPECT_EQ(ReadSize(At(root, {"b"})).value(), 4096u);
  EXPECT_EQ(ReadSize(At(root, {"c"})).value(), 4096u);
  EXPECT_EQ(ReadSize(At(root, {"d"})).value(), uint64_t{2} << 30);
  EXPECT_EQ(ReadSize(At(root, {"e"})).value(), 4096u);
  EXPECT_EQ(ReadSize(At(root, {"f"})).value(), uint64_t{1} << 40);
  EXPECT_EQ(ReadSize(At(root, {"g"})).value(), 0u);
  EXPECT_EQ(ReadSize(At(root, {"h"})).value(), 3u * 1024u);
}

TEST(ReadSize, RejectsOverflowAndBadUnits) {
  ConfigNode root = Yaml(
      "a: 20000000000000000000\n"  // > UINT64_MAX
      "b: 17179869184G\n"          // 2^34 GiB = 2^64 bytes
      "c: 16777216T\n"             // 2^24 TiB = 2^64 bytes
      "d: 10X\n"
      "e: M\n"
      "f: -1\n"
      "g: ''\n");
  for (auto key : {"a", "b", "c", "d", "e", "f", "g"}) {
    auto r = ReadSize(At(root, {key}));
    EXPECT_FALSE(r.has_value()) << key << " -> " << (r.has_value() ? *r : 0);
  }
  auto r = ReadSize(At(root, {"b"}));
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("policy.yaml:2:4: b:"));
  EXPECT_THAT(r.error().message(), HasSubstr("too large"));
  // The largest value that fits is still accepted.
  EXPECT_EQ(ParseSize("17179869183G").value(), uint64_t{17179869183} << 30);
}

TEST(ReadStringList, AcceptsListsSingleStringsAndNothing) {
  ConfigNode root = Yaml("l: [a, b]\ns: one\nn:\nm: {a: 1}\nbad: [a, [b]]\n");
  EXPECT_EQ(ReadStringList(At(root, {"l"})).value(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ReadStringList(At(root, {"s"})).value(), (std::vector<std::string>{"one"}));
  EXPECT_TRUE(ReadStringList(At(root, {"n"})).value().empty());
  EXPECT_FALSE(ReadStringList(At(root, {"m"})).has_value());
  auto bad = ReadStringList(At(root, {"bad"}));
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("bad[1]: expected a string, got a list"));
}

TEST(ConfigNode, FromJsonGivesTheSameReadersResults) {
  const char* yaml =
      "integrity:\n"
      "  enabled: true\n"
      "  schedule: 15m\n"
      "  max: 100M\n"
      "  threads: 4\n"
      "  paths:\n"
      "    - path: /var/www\n"
      "      recursive: false\n"
      "      exclude: ['*.log', cache]\n";
  ConfigNode from_yaml = Yaml(yaml);
  auto from_json_r = ConfigNode::FromJson(from_yaml.ToJson(), "manager");
  ASSERT_TRUE(from_json_r.has_value());

  for (const ConfigNode* root : {&from_yaml, &*from_json_r}) {
    const ConfigNode& in = At(*root, {"integrity"});
    EXPECT_EQ(ReadBool(At(in, {"enabled"})).value(), true);
    EXPECT_EQ(ReadDuration(At(in, {"schedule"})).value(), 15min);
    EXPECT_EQ(ReadSize(At(in, {"max"})).value(), 100u << 20);
    EXPECT_EQ(ReadInt(At(in, {"threads"}), 0, 256).value(), 4);
    const ConfigNode& p0 = At(in, {"paths"}).items()[0];
    EXPECT_EQ(ReadString(At(p0, {"path"})).value(), "/var/www");
    EXPECT_EQ(ReadBool(At(p0, {"recursive"})).value(), false);
    EXPECT_EQ(ReadStringList(At(p0, {"exclude"})).value(),
              (std::vector<std::string>{"*.log", "cache"}));
    EXPECT_EQ(At(p0, {"recursive"}).key_path(), "integrity.paths[0].recursive");
  }
}

TEST(ConfigNode, FromJsonRejectsTheSameBadValuesNamingSourceAndKey) {
  auto json = nlohmann::json::parse(
      R"({"integrity": {"paths": [{"path": "/x", "recursive": "true"}], "schedule": "5x",
          "enabled": "maybe"}})");
  auto root = ConfigNode::FromJson(json, "manager");
  ASSERT_TRUE(root.has_value());
  const ConfigNode& in = At(*root, {"integrity"});

  // A JSON string "true" is like a quoted YAML "true": not a bool.
  auto rec = ReadBool(At(in.Find("paths")->items()[0], {"recursive"}));
  ASSERT_FALSE(rec.has_value());
  EXPECT_EQ(rec.error().message(),
            "manager: integrity.paths[0].recursive: expected true or false, got \"true\"");

  auto sched = ReadDuration(At(in, {"schedule"}));
  ASSERT_FALSE(sched.has_value());
  EXPECT_THAT(sched.error().message(), HasSubstr("manager: integrity.schedule:"));

  EXPECT_FALSE(ReadBool(At(in, {"enabled"})).has_value());
}

TEST(ConfigNode, ToJsonTypesUnquotedScalarsAndKeepsQuotedOnesAsStrings) {
  ConfigNode root = Yaml("b: true\ni: 12\ns: hello\nq: \"12\"\nl: [1, x]\nn:\n");
  nlohmann::json j = root.ToJson();
  EXPECT_EQ(j["b"], true);
  EXPECT_EQ(j["i"], 12);
  EXPECT_EQ(j["s"], "hello");
  EXPECT_EQ(j["q"], "12");
  EXPECT_EQ(j["l"], nlohmann::json::parse(R"([1, "x"])"));
  EXPECT_TRUE(j["n"].is_null());
}

}  // namespace
}  // namespace ward

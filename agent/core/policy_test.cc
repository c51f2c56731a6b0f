#include "agent/core/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "agent/modules/schemas.h"
#include "testing/temp_dir.h"

namespace ward::agent {
namespace {

using ::testing::HasSubstr;

Result<Policy> Parse(std::string_view yaml) {
  auto root = ConfigNode::FromYaml(yaml, "policy.yaml");
  if (!root.has_value()) return root.error();
  return Policy::FromNode(std::move(root).value(), ModuleSchemas());
}

const ModuleSchema& Integrity() {
  for (const auto& m : ModuleSchemas()) {
    if (m.name == "integrity") return m;
  }
  ADD_FAILURE() << "no integrity module";
  return ModuleSchemas()[0];
}

TEST(Policy, ReadsTheAgentSection) {
  auto p = Parse(
      "agent:\n"
      "  name: web-01\n"
      "  queue_capacity: 1024\n"
      "  outputs:\n"
      "    stdout: false\n"
      "    file: true\n"
      "    file_max_size: 100M\n"
      "    file_keep: 3\n");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->agent().name, "web-01");
  EXPECT_EQ(p->agent().queue_capacity, 1024u);
  EXPECT_FALSE(p->agent().stdout_output);
  EXPECT_TRUE(p->agent().file_output);
  EXPECT_EQ(p->agent().file_max_size, 100u << 20);
  EXPECT_EQ(p->agent().file_keep, 3);
}

TEST(Policy, DefaultsApplyWhenTheAgentSectionIsAbsentOrEmpty) {
  for (const char* yaml : {"integrity: {}\n", "agent:\n", "agent: {}\n"}) {
    auto p = Parse(yaml);
    ASSERT_TRUE(p.has_value()) << yaml << ": " << p.error().ToString();
    const AgentSettings defaults;
    EXPECT_EQ(p->agent().name, defaults.name) << yaml;
    EXPECT_EQ(p->agent().stdout_output, defaults.stdout_output) << yaml;
    EXPECT_EQ(p->agent().file_output, defaults.file_output) << yaml;
    EXPECT_EQ(p->agent().file_max_size, defaults.file_max_size) << yaml;
    EXPECT_EQ(p->agent().file_keep, defaults.file_keep) << yaml;
    EXPECT_EQ(p->agent().queue_capacity, defaults.queue_capacity) << yaml;
  }
}

TEST(Policy, AnEmptyDocumentIsAValidPolicyWithNoModules) {
  auto p = Parse("");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->Section("integrity"), nullptr);
  EXPECT_FALSE(p->Enabled(Integrity()));
}

TEST(Policy, RejectsADocumentThatIsNotAMap) {
  auto p = Parse("- integrity\n");
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error().message(), HasSubstr("expected a map"));
}

TEST(Policy, UnknownTopLevelSectionIsNamedWithTheAllowedOnes) {
  auto p = Parse(
      "agent: {}\n"
      "antivirus:\n"
      "  enabled: true\n");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), StatusCode::kInvalidArgument);
  const std::string& m = p.error().message();
  // The key's own line, not the line of its first nested key.
  EXPECT_THAT(m, HasSubstr("policy.yaml:2:1: antivirus: unknown section"));
  EXPECT_THAT(m, HasSubstr("agent, integrity"));
}

TEST(Policy, UnknownAgentKeyIsNamedWithItsLine) {
  auto p = Parse(
      "agent:\n"
      "  name: x\n"
      "  outputs:\n"
      "    syslog: true\n");
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error().message(), HasSubstr("policy.yaml:4:5: agent.outputs.syslog: unknown key"));
}

TEST(Policy, AgentValuesAreRangeChecked) {
  auto small_file = Parse("agent:\n  outputs:\n    file_max_size: 1k\n");
  ASSERT_FALSE(small_file.has_value());
  EXPECT_THAT(small_file.error().message(),
              HasSubstr("policy.yaml:3:20: agent.outputs.file_max_size: must be at least 4k"));

  auto queue = Parse("agent:\n  queue_capacity: 1\n");
  ASSERT_FALSE(queue.has_value());
  EXPECT_THAT(queue.error().message(), HasSubstr("agent.queue_capacity: 1 is out of range"));

  auto keep = Parse("agent:\n  outputs:\n    file_keep: 0\n");
  ASSERT_FALSE(keep.has_value());
  EXPECT_THAT(keep.error().message(), HasSubstr("agent.outputs.file_keep"));

  auto stdout_bool = Parse("agent:\n  outputs:\n    stdout: \"false\"\n");
  ASSERT_FALSE(stdout_bool.has_value());
  EXPECT_THAT(stdout_bool.error().message(),
              HasSubstr("agent.outputs.stdout: expected true or false"));
}

TEST(Policy, RelativeIntegrityPathFailsWithFileLineAndKey) {
  auto p = Parse(
      "agent: {}\n"
      "integrity: {paths: [{path: relative}]}\n");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(p.error().message(), HasSubstr("policy.yaml:2:28: integrity.paths[0].path:"));
  EXPECT_THAT(p.error().message(), HasSubstr("\"relative\" is not an absolute path"));
}

TEST(Policy, BadIntegrityScheduleFailsWithFileLineAndKey) {
  auto p = Parse(
      "integrity:\n"
      "  paths: [/etc]\n"
      "  schedule: 5x\n");
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error().message(), HasSubstr("policy.yaml:3:13: integrity.schedule:"));
  EXPECT_THAT(p.error().message(), HasSubstr("5x"));
}

TEST(Policy, BadNestedIntegrityBoolNamesTheFullKeyPath) {
  auto p = Parse(
      "integrity:\n"
      "  paths:\n"
      "    - path: /etc\n"
      "    - path: /srv\n"
      "      recursive: maybe\n");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().message(),
            "policy.yaml:5:18: integrity.paths[1].recursive: expected true or false, got "
            "\"maybe\"");
}

TEST(Policy, EnabledFollowsTheSection) {
  auto on = Parse("integrity:\n  paths: [/etc]\n");
  ASSERT_TRUE(on.has_value()) << on.error().ToString();
  EXPECT_TRUE(on->Enabled(Integrity()));
  ASSERT_NE(on->Section("integrity"), nullptr);
  EXPECT_EQ(on->Section("integrity")->key_path(), "integrity");

  auto explicit_on = Parse("integrity:\n  enabled: true\n");
  ASSERT_TRUE(explicit_on.has_value());
  EXPECT_TRUE(explicit_on->Enabled(Integrity()));

  auto empty = Parse("integrity:\n");
  ASSERT_TRUE(empty.has_value()) << empty.error().ToString();
  EXPECT_TRUE(empty->Enabled(Integrity()));

  auto off = Parse("integrity:\n  enabled: false\n  paths: [/etc]\n");
  ASSERT_TRUE(off.has_value()) << off.error().ToString();
  EXPECT_FALSE(off->Enabled(Integrity()));
  EXPECT_NE(off->Section("integrity"), nullptr);

  auto absent = Parse("agent: {}\n");
  ASSERT_TRUE(absent.has_value());
  EXPECT_FALSE(absent->Enabled(Integrity()));
}

TEST(Policy, JsonFromTheManagerIsValidatedTheSameWay) {
  auto good = ConfigNode::FromJson(
      nlohmann::json::parse(R"({"agent": {"name": "m-01"}, "integrity": {"enabled": false}})"),
      "manager");
  ASSERT_TRUE(good.has_value());
  auto p = Policy::FromNode(std::move(good).value(), ModuleSchemas());
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->agent().name, "m-01");
  EXPECT_FALSE(p->Enabled(Integrity()));

  auto bad = ConfigNode::FromJson(
      nlohmann::json::parse(R"({"integrity": {"paths": [{"path": "relative"}]}})"), "manager");
  ASSERT_TRUE(bad.has_value());
  auto q = Policy::FromNode(std::move(bad).value(), ModuleSchemas());
  ASSERT_FALSE(q.has_value());
  EXPECT_THAT(q.error().message(), HasSubstr("manager: integrity.paths[0].path:"));
}

TEST(Policy, LoadFileNamesTheFileInErrors) {
  test::TempDir dir;
  const std::string file = dir.Sub("ward.yaml");
  test::WriteFile(file, "integrity:\n  schedule: 5x\n");
  auto p = Policy::LoadFile(file, ModuleSchemas());
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error().message(), HasSubstr(file + ":2:13: integrity.schedule:"));

  test::WriteFile(file, "agent:\n  name: h\nintegrity:\n  paths: [/etc]\n");
  auto ok = Policy::LoadFile(file, ModuleSchemas());
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  EXPECT_EQ(ok->agent().name, "h");

  auto missing = Policy::LoadFile(dir.Sub("absent.yaml"), ModuleSchemas());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace ward::agent

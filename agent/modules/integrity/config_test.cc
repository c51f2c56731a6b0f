#include "agent/modules/integrity/config.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/config_node.h"

namespace ward::agent::integrity {
namespace {

// Parses a whole policy document (as "policy.yaml") and returns its `integrity` section, parsed.
Result<IntegrityConfig> Parse(std::string_view yaml) {
  auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
  if (!doc) return doc.error();
  const ConfigNode* section = doc->Find("integrity");
  if (section == nullptr) return InvalidArgument("test document has no integrity section");
  return ParseIntegrityConfig(*section);
}

// Asserts that parsing fails with InvalidArgument and a message naming `location` (file:line)
// and `key`, and returns the message for further checks.
std::string ExpectError(std::string_view yaml, std::string_view location, std::string_view key) {
  auto c = Parse(yaml);
  EXPECT_FALSE(c.has_value()) << "expected an error for:\n" << yaml;
  if (c.has_value()) return "";
  const std::string& msg = c.error().message();
  EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument) << msg;
  EXPECT_NE(msg.find(location), std::string::npos) << "no location " << location << " in: " << msg;
  EXPECT_NE(msg.find(key), std::string::npos) << "no key " << key << " in: " << msg;
  return msg;
}

TEST(IntegrityConfig, PathEntryGetsRecursiveAndAllDefaultAttributes) {
  auto c = Parse(
      "integrity:\n"
      "  paths:\n"
      "    - path: /srv/www\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  ASSERT_EQ(c->paths.size(), 1u);
  const WatchedPath& w = c->paths[0];
  EXPECT_EQ(w.path, "/srv/www");
  EXPECT_TRUE(w.recursive);
  EXPECT_TRUE(w.exclude.empty());
  EXPECT_EQ(w.attributes, kDefaultAttrs);
  EXPECT_EQ(AttrNames(w.attributes),
            (std::vector<std::string>{"type", "sha256", "size", "mode", "owner", "group", "mtime",
                                      "target"}));
  EXPECT_EQ(w.attributes & kAttrInode, 0u) << "inode is not a default attribute";
}

TEST(IntegrityConfig, SectionDefaultsAreEnabledHourlyScheduleAndRealtime) {
  auto c = Parse(
      "integrity:\n"
      "  paths: [/srv/www]\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->schedule, std::chrono::hours(1));
  EXPECT_TRUE(c->realtime);
  EXPECT_EQ(c->backend, RealtimeBackend::kAuto);
  EXPECT_EQ(c->settle, std::chrono::milliseconds(50));
  EXPECT_EQ(c->hash_threads, 0);
  ASSERT_EQ(c->paths.size(), 1u);
  EXPECT_TRUE(c->paths[0].recursive);
  EXPECT_EQ(c->paths[0].attributes, kDefaultAttrs);
}

TEST(IntegrityConfig, ReadsEveryKey) {
  auto c = Parse(
      "integrity:\n"
      "  enabled: false\n"
      "  paths:\n"
      "    - path: /etc\n"
      "      recursive: false\n"
      "      exclude: [\"*.log\", \"cache/**\"]\n"
      "      attributes: [mode, inode]\n"
      "  schedule: 15m\n"
      "  realtime: false\n"
      "  realtime_backend: inotify\n"
      "  settle: 200ms\n"
      "  hash_threads: 3\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_FALSE(c->enabled);
  ASSERT_EQ(c->paths.size(), 1u);
  EXPECT_FALSE(c->paths[0].recursive);
  EXPECT_EQ(c->paths[0].exclude, (std::vector<std::string>{"*.log", "cache/**"}));
  EXPECT_EQ(c->paths[0].attributes, kAttrMode | kAttrInode);
  EXPECT_EQ(c->schedule, std::chrono::minutes(15));
  EXPECT_FALSE(c->realtime);
  EXPECT_EQ(c->backend, RealtimeBackend::kInotify);
  EXPECT_EQ(c->settle, std::chrono::milliseconds(200));
  EXPECT_EQ(c->hash_threads, 3);
}

TEST(IntegrityConfig, AttributesListLimitsTheMaskToWhatIsNamed) {
  auto c = Parse(
      "integrity:\n"
      "  paths:\n"
      "    - path: /srv\n"
      "      attributes: [sha256]\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  ASSERT_EQ(c->paths.size(), 1u);
  EXPECT_EQ(c->paths[0].attributes, static_cast<uint32_t>(kAttrSha256));
  EXPECT_EQ(AttrNames(c->paths[0].attributes), std::vector<std::string>{"sha256"});
}

TEST(IntegrityConfig, AllAttributeMeansTheDefaultSet) {
  auto c = Parse(
      "integrity:\n"
      "  paths:\n"
      "    - path: /srv\n"
      "      attributes: [all, inode]\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->paths[0].attributes, kDefaultAttrs | kAttrInode);
}

TEST(IntegrityConfig, PathsAreNormalised) {
  auto c = Parse(
      "integrity:\n"
      "  paths:\n"
      "    - /srv/www/../data/./x/\n"
      "    - /\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  ASSERT_EQ(c->paths.size(), 2u);
  EXPECT_EQ(c->paths[0].path, "/srv/data/x");
  EXPECT_EQ(c->paths[1].path, "/");
}

TEST(IntegrityConfig, RelativePathErrorNamesFileLineAndKey) {
  std::string msg = ExpectError(
      "integrity:\n"
      "  paths:\n"
      "    - path: srv/www\n",
      "policy.yaml:3:", "integrity.paths[0].path");
  EXPECT_NE(msg.find("srv/www"), std::string::npos) << msg;
}

TEST(IntegrityConfig, RelativeScalarPathErrorNamesFileLineAndKey) {
  ExpectError(
      "integrity:\n"
      "  paths:\n"
      "    - /ok\n"
      "    - relative/dir\n",
      "policy.yaml:4:", "integrity.paths[1]");
}

TEST(IntegrityConfig, UnknownAttributeErrorNamesFileLineAndKey) {
  std::string msg = ExpectError(
      "integrity:\n"
      "  paths:\n"
      "    - path: /srv\n"
      "      attributes: [sha256, colour]\n",
      "policy.yaml:4:", "integrity.paths[0].attributes[1]");
  EXPECT_NE(msg.find("colour"), std::string::npos) << msg;
}

TEST(IntegrityConfig, BadScheduleErrorNamesFileLineAndKey) {
  std::string msg = ExpectError(
      "integrity:\n"
      "  paths: [/srv]\n"
      "  schedule: 5x\n",
      "policy.yaml:3:", "integrity.schedule");
  EXPECT_NE(msg.find("5x"), std::string::npos) << msg;
}

TEST(IntegrityConfig, ScheduleZeroTurnsItOffButSubSecondIsRejected) {
  auto off = Parse("integrity:\n  schedule: 0\n");
  ASSERT_TRUE(off.has_value()) << off.error().ToString();
  EXPECT_EQ(off->schedule.count(), 0);
  ExpectError("integrity:\n  schedule: 500ms\n", "policy.yaml:2:", "integrity.schedule");
}

TEST(IntegrityConfig, UnknownSectionKeyErrorNamesFileLineAndKey) {
  ExpectError(
      "integrity:\n"
      "  paths: [/srv]\n"
      "  frobnicate: true\n",
      "policy.yaml:3:", "integrity.frobnicate");
}

TEST(IntegrityConfig, UnknownPathKeyErrorNamesFileLineAndKey) {
  ExpectError(
      "integrity:\n"
      "  paths:\n"
      "    - path: /srv\n"
      "      recursve: false\n",
      "policy.yaml:4:", "integrity.paths[0].recursve");
}

TEST(IntegrityConfig, DuplicatePathErrorNamesFileLineAndKey) {
  std::string msg = ExpectError(
      "integrity:\n"
      "  paths:\n"
      "    - /srv/www\n"
      "    - path: /srv/www/\n",
      "policy.yaml:4:", "integrity.paths[1]");
  EXPECT_NE(msg.find("/srv/www"), std::string::npos) << msg;
}

TEST(IntegrityConfig, OtherBadValuesAreRejectedWithTheirKey) {
  ExpectError("integrity:\n  realtime_backend: dtrace\n",
              "policy.yaml:2:", "integrity.realtime_backend");
  ExpectError("integrity:\n  hash_threads: -1\n", "policy.yaml:2:", "integrity.hash_threads");
  ExpectError("integrity:\n  settle: 1m\n", "policy.yaml:2:", "integrity.settle");
  ExpectError("integrity:\n  paths:\n    - path: /srv\n      recursive: maybe\n",
              "policy.yaml:4:", "integrity.paths[0].recursive");
  ExpectError("integrity:\n  paths:\n    - path: /srv\n      exclude: [\"\"]\n",
              "policy.yaml:4:", "integrity.paths[0].exclude[0]");
  ExpectError("integrity:\n  paths:\n    - recursive: true\n",
              "policy.yaml:3:", "integrity.paths[0]");
  ExpectError("integrity:\n  paths: /srv\n", "policy.yaml:2:", "integrity.paths");
}

TEST(IntegrityConfig, EmptySectionIsEnabledWithNoPaths) {
  auto c = Parse("integrity:\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_TRUE(c->enabled);
  EXPECT_TRUE(c->paths.empty());
}

}  // namespace
}  // namespace ward::agent::integrity

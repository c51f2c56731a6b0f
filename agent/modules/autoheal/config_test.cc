#include "agent/modules/autoheal/config.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/config_node.h"

namespace ward::agent::autoheal {
namespace {

// Parses a whole policy document (as "policy.yaml") and returns its `autoheal` section, parsed.
Result<AutohealConfig> Parse(std::string_view yaml) {
  auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
  if (!doc) return doc.error();
  const ConfigNode* section = doc->Find("autoheal");
  if (section == nullptr) return InvalidArgument("test document has no autoheal section");
  return ParseAutohealConfig(*section);
}

// Asserts that parsing fails with InvalidArgument and a message naming `location` (file:line),
// `key` and `what`, and returns the message.
std::string ExpectError(std::string_view yaml, std::string_view location, std::string_view key,
                        std::string_view what) {
  auto c = Parse(yaml);
  EXPECT_FALSE(c.has_value()) << "expected an error for:\n" << yaml;
  if (c.has_value()) return "";
  const std::string& msg = c.error().message();
  EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument) << msg;
  EXPECT_NE(msg.find(location), std::string::npos) << "no location " << location << " in: " << msg;
  EXPECT_NE(msg.find(key), std::string::npos) << "no key " << key << " in: " << msg;
  EXPECT_NE(msg.find(what), std::string::npos) << "no \"" << what << "\" in: " << msg;
  return msg;
}

TEST(AutohealConfig, RootGetsHeadQuarantineAndNoLockByDefault) {
  auto c = Parse(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www/html/\n"
      "      repository: /srv/site.git\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  ASSERT_EQ(c->roots.size(), 1u);
  const HealRoot& r = c->roots[0];
  EXPECT_EQ(r.path, "/var/www/html") << "paths are normalised";
  EXPECT_EQ(r.repository, "/srv/site.git");
  EXPECT_EQ(r.ref, "HEAD");
  EXPECT_EQ(r.unexpected, UnexpectedAction::kQuarantine);
  EXPECT_TRUE(r.lock_file.empty());
}

TEST(AutohealConfig, SectionDefaultsAreThresholdFiveWithinOneMinute) {
  auto c = Parse("autoheal:\n  roots: []\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_TRUE(c->enabled);
  EXPECT_TRUE(c->roots.empty());
  EXPECT_EQ(c->persistent_threshold, 5);
  EXPECT_EQ(c->persistent_window, std::chrono::minutes(1));
  EXPECT_EQ(c->poll_interval, std::chrono::milliseconds(200));
}

TEST(AutohealConfig, EmptySectionIsTheDefaults) {
  auto c = Parse("autoheal:\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_TRUE(c->enabled);
  EXPECT_TRUE(c->roots.empty());
  EXPECT_EQ(c->persistent_threshold, 5);
}

TEST(AutohealConfig, ReadsEveryKey) {
  auto c = Parse(
      "autoheal:\n"
      "  enabled: false\n"
      "  roots:\n"
      "    - path: /var/www/a\n"
      "      repository: /srv/a.git\n"
      "      ref: refs/heads/prod\n"
      "      lock_file: /var/www/a.maintenance\n"
      "      unexpected_files: delete\n"
      "    - path: /var/www/b\n"
      "      repository: /srv/b\n"
      "      unexpected_files: keep\n"
      "  persistent_threshold: 3\n"
      "  persistent_window: 30s\n"
      "  poll_interval: 50ms\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_FALSE(c->enabled);
  ASSERT_EQ(c->roots.size(), 2u);
  EXPECT_EQ(c->roots[0].ref, "refs/heads/prod");
  EXPECT_EQ(c->roots[0].lock_file, "/var/www/a.maintenance");
  EXPECT_EQ(c->roots[0].unexpected, UnexpectedAction::kDelete);
  EXPECT_EQ(c->roots[1].unexpected, UnexpectedAction::kKeep);
  EXPECT_EQ(c->persistent_threshold, 3);
  EXPECT_EQ(c->persistent_window, std::chrono::seconds(30));
  EXPECT_EQ(c->poll_interval, std::chrono::milliseconds(50));
}

TEST(AutohealConfig, MissingRepositoryIsAnErrorAtTheRoot) {
  ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www/html\n",
      "policy.yaml:3:", "autoheal.roots[0]", "repository");
}

TEST(AutohealConfig, RelativePathIsAnErrorAtThePath) {
  ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: www/html\n"
      "      repository: /srv/site.git\n",
      "policy.yaml:3:", "autoheal.roots[0].path", "not an absolute path");
}

TEST(AutohealConfig, RelativeRepositoryIsAnErrorAtTheRepository) {
  ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www/html\n"
      "      repository: site.git\n",
      "policy.yaml:4:", "autoheal.roots[0].repository", "not an absolute path");
}

TEST(AutohealConfig, UnknownUnexpectedFilesActionIsAnError) {
  std::string msg = ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www/html\n"
      "      repository: /srv/site.git\n"
      "      unexpected_files: shred\n",
      "policy.yaml:5:", "autoheal.roots[0].unexpected_files", "shred");
  EXPECT_NE(msg.find("quarantine, delete, keep"), std::string::npos) << msg;
}

TEST(AutohealConfig, OverlappingRootsAreAnError) {
  std::string msg = ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www\n"
      "      repository: /srv/a.git\n"
      "    - path: /var/www/html\n"
      "      repository: /srv/b.git\n",
      "policy.yaml:5:", "autoheal.roots[1]", "overlaps");
  EXPECT_NE(msg.find("/var/www/html overlaps /var/www"), std::string::npos) << msg;
}

TEST(AutohealConfig, TheSameRootTwiceIsAnOverlap) {
  ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www/html\n"
      "      repository: /srv/a.git\n"
      "    - path: /var/www/html/\n"
      "      repository: /srv/b.git\n",
      "policy.yaml:5:", "autoheal.roots[1]", "overlaps");
}

TEST(AutohealConfig, SiblingRootsWithACommonPrefixDoNotOverlap) {
  auto c = Parse(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www\n"
      "      repository: /srv/a.git\n"
      "    - path: /var/www2\n"
      "      repository: /srv/b.git\n");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->roots.size(), 2u);
}

TEST(AutohealConfig, RepositoryInsideTheRootIsAnError) {
  ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www/html\n"
      "      repository: /var/www/html/.git\n",
      "policy.yaml:4:", "autoheal.roots[0].repository", "must not be inside the root");
}

TEST(AutohealConfig, FileSystemRootCannotBeHealed) {
  ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /\n"
      "      repository: /srv/site.git\n",
      "policy.yaml:3:", "autoheal.roots[0].path", "file system root");
}

TEST(AutohealConfig, EmptyRefIsAnError) {
  ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www/html\n"
      "      repository: /srv/site.git\n"
      "      ref: \"\"\n",
      "policy.yaml:5:", "autoheal.roots[0].ref", "must not be empty");
}

TEST(AutohealConfig, MisspeltKeyIsAnError) {
  ExpectError(
      "autoheal:\n"
      "  roots:\n"
      "    - path: /var/www/html\n"
      "      repo: /srv/site.git\n",
      "policy.yaml:", "autoheal.roots[0]", "repo");
}

TEST(AutohealConfig, ThresholdAndPollIntervalAreBounded) {
  ExpectError("autoheal:\n  persistent_threshold: 1\n",
              "policy.yaml:2:", "autoheal.persistent_threshold", "");
  ExpectError("autoheal:\n  poll_interval: 1ms\n", "policy.yaml:2:", "autoheal.poll_interval",
              "between 10ms and 60s");
  ExpectError("autoheal:\n  persistent_window: 0\n", "policy.yaml:2:", "autoheal.persistent_window",
              "must be positive");
}

TEST(AutohealConfig, UnexpectedActionNamesRoundTrip) {
  EXPECT_EQ(UnexpectedActionName(UnexpectedAction::kQuarantine), "quarantine");
  EXPECT_EQ(UnexpectedActionName(UnexpectedAction::kDelete), "delete");
  EXPECT_EQ(UnexpectedActionName(UnexpectedAction::kKeep), "keep");
}

}  // namespace
}  // namespace ward::agent::autoheal

// Managed feeds (docs/egress.md "Managed feeds"): "managed:feeds/<name>" in a policy's lists is
// the file of that name in the feeds bundle in force, its format said by its extension.
#include <gtest/gtest.h>

#include <fstream>

#include "agent/modules/egress/config.h"
#include "agent/modules/egress/egress_engine.h"
#include "agent/updates/layout.h"
#include "common/file_system.h"
#include "testing/temp_dir.h"

namespace ward::agent::egress {
namespace {

Result<EgressConfig> Parse(std::string_view yaml) {
  auto doc = ConfigNode::FromYaml(yaml, "policy.yaml");
  EXPECT_TRUE(doc.has_value());
  return ParseEgressConfig(*doc->Find("egress"));
}

void Write(const std::filesystem::path& p, std::string_view text) {
  std::ofstream(p, std::ios::binary) << text;
}

TEST(ManagedFeeds, PolicyNamesThemAndTheFormatMayComeFromTheFile) {
  auto c = Parse(R"(
egress:
  lists:
    - {name: urlhaus, path: "managed:feeds/urlhaus", category: malware}
    - {name: drop, format: spamhaus_drop, path: "managed:feeds/drop"}
)");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_TRUE(c->lists[0].format_from_file);
  EXPECT_FALSE(c->lists[1].format_from_file);
  EXPECT_EQ(c->lists[1].format, FeedFormat::kSpamhausDrop);

  // Errors name the key.
  auto bad = Parse("egress:\n  lists:\n    - {name: x, path: \"managed:feeds/Bad Name\"}\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("egress.lists[0].path"), std::string::npos)
      << bad.error().message();
  EXPECT_NE(bad.error().message().find("managed:feeds/<name>"), std::string::npos);
  bad = Parse("egress:\n  lists:\n    - {name: x, path: \"managed:clamav\"}\n");
  ASSERT_FALSE(bad.has_value());
  bad = Parse("egress:\n  lists:\n    - {name: x, path: /etc/x.txt}\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("a list needs a format"), std::string::npos);

  // The update machinery sees the reference as the kind "feeds".
  EXPECT_EQ(updates::ManagedKind("managed:feeds/urlhaus"), "feeds");
  EXPECT_EQ(updates::ManagedKind("managed:feeds/"), "");
  EXPECT_EQ(updates::ManagedFeed("managed:feeds/urlhaus"), "urlhaus");
  EXPECT_EQ(updates::ManagedFeed("managed:feeds/../x"), "");
  EXPECT_EQ(updates::FeedOfFile("urlhaus.csv").second, "urlhaus_csv");
  EXPECT_EQ(updates::FeedOfFile("urlhaus.exe").first, "");
}

TEST(ManagedFeeds, LoadRulesReadsTheBundleFileInItsFormat) {
  ward::test::TempDir dir;
  Write(dir.path() / "partners.list", "blocked.example\nhttp://files.example/dl/\n");
  Write(dir.path() / "drop.drop", "203.0.113.0/24 ; SBL1\n");
  auto c = Parse(R"(
egress:
  lists:
    - {name: partners, path: "managed:feeds/partners"}
    - {name: drop, format: spamhaus_drop, path: "managed:feeds/drop"}
)");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  auto r = LoadRules(*c, RealFileSystem(), dir.path());
  ASSERT_TRUE(r.has_value()) << r.error().message();
  auto m = (*r)->reputation.MatchName("x.blocked.example");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->list->name, "partners");
  EXPECT_TRUE((*r)->reputation.MatchUrl("http://files.example/dl/a.sh"));
  EXPECT_TRUE((*r)->reputation.MatchAddress("203.0.113.9"));

  // The policy's format must be the file's.
  auto wrong = Parse(
      "egress:\n  lists:\n    - {name: p, format: hosts, path: \"managed:feeds/partners\"}\n");
  ASSERT_TRUE(wrong.has_value());
  auto e = LoadRules(*wrong, RealFileSystem(), dir.path());
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("managed:feeds/partners is a custom feed"), std::string::npos)
      << e.error().message();
  // A feed the bundle does not hold, or no bundle at all (a standalone agent): the load fails,
  // naming the list (the previous policy stays in force).
  auto missing = Parse("egress:\n  lists:\n    - {name: gone, path: \"managed:feeds/gone\"}\n");
  ASSERT_TRUE(missing.has_value());
  e = LoadRules(*missing, RealFileSystem(), dir.path());
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code(), StatusCode::kNotFound);
  EXPECT_NE(e.error().message().find("list gone: managed:feeds/gone is not in the feeds bundle"),
            std::string::npos)
      << e.error().message();
  e = LoadRules(*c, RealFileSystem());
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code(), StatusCode::kFailedPrecondition);
}

TEST(ManagedFeeds, TheAgentsBundleCheckNamesTheFileAndTheLine) {
  ward::test::TempDir dir;
  Write(dir.path() / "ok.domains", "a.example\nb.example\n");
  Write(dir.path() / "bad.csv", "# id,dateadded,url\n\"1\",\"2026-12-01\",\"not a url\"\n");
  Write(dir.path() / "odd.exe", "a.example\n");
  EXPECT_TRUE(CheckFeedFile(dir.path() / "ok.domains").ok());
  Status s = CheckFeedFile(dir.path() / "bad.csv");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("file bad.csv: line 2: "), std::string::npos) << s.message();
  EXPECT_FALSE(CheckFeedFile(dir.path() / "odd.exe").ok());
}

}  // namespace
}  // namespace ward::agent::egress

#include "agent/modules/egress/reputation.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace ward::agent::egress {
namespace {

std::string ReadTestData(const std::string& name) {
  std::ifstream in(std::string(WARD_EGRESS_SOURCE_DIR) + "/testdata/egress/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(NormalizeName, LowerCasesAndStripsWildcardsAndDots) {
  EXPECT_EQ(NormalizeName("WWW.Example.COM."), "www.example.com");
  EXPECT_EQ(NormalizeName("*.example.com"), "example.com");
  EXPECT_EQ(NormalizeName(".example.com"), "example.com");
  EXPECT_EQ(NormalizeName("_dmarc.example.com"), "_dmarc.example.com");
  EXPECT_FALSE(NormalizeName("bad..name"));
  EXPECT_FALSE(NormalizeName("has space.example"));
  EXPECT_FALSE(NormalizeName("192.0.2.1"));
  EXPECT_FALSE(NormalizeName(""));
  EXPECT_FALSE(NormalizeName(std::string(64, 'a') + ".example"));
}

TEST(NameIndex, AnEntryCoversItsSubdomainsAndTheMostSpecificWins) {
  NameIndex idx;
  EXPECT_TRUE(idx.Insert("example.com", 1));
  EXPECT_TRUE(idx.Insert("cdn.example.com", 2));
  EXPECT_FALSE(idx.Insert("example.com", 3));
  EXPECT_EQ(idx.Match("example.com")->value, 1);
  EXPECT_EQ(idx.Match("a.b.example.com")->value, 1);
  EXPECT_EQ(idx.Match("x.cdn.example.com")->value, 2);
  EXPECT_EQ(idx.Match("x.cdn.example.com")->entry, "cdn.example.com");
  EXPECT_FALSE(idx.Match("badexample.com"));
  EXPECT_FALSE(idx.Match("com"));
}

TEST(NameIndex, HoldsManyNamesThroughGrowth) {
  NameIndex idx;
  for (int i = 0; i < 50000; ++i) ASSERT_TRUE(idx.Insert("n" + std::to_string(i) + ".example", 7));
  EXPECT_EQ(idx.size(), 50000u);
  for (int i = 0; i < 50000; i += 997) {
    EXPECT_TRUE(idx.Match("x.n" + std::to_string(i) + ".example")) << i;
  }
  EXPECT_FALSE(idx.Match("n50000.example"));
}

TEST(Reputation, LoadsAHostsFileSkippingLocalNamesAndCountingBadLines) {
  Reputation r;
  uint16_t id = r.AddList({"hosts", "ads", Risk::kSuspicious, false});
  LoadStats st = r.Load(id, FeedFormat::kHosts, ReadTestData("hosts"));
  EXPECT_EQ(st.names, 4u);
  EXPECT_EQ(st.skipped, 1u);
  EXPECT_EQ(st.first_bad, 11u);
  EXPECT_TRUE(r.MatchName("telemetry.example.net"));
  EXPECT_TRUE(r.MatchName("banner2.example.com"));
  EXPECT_FALSE(r.MatchName("localhost"));
  auto m = r.MatchName("x.ads.tracker.example");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->list->name, "hosts");
  EXPECT_EQ(m->entry, "ads.tracker.example");
}

TEST(Reputation, LoadsADomainList) {
  Reputation r;
  uint16_t id = r.AddList({"domains", "phishing", Risk::kDangerous, false});
  LoadStats st = r.Load(id, FeedFormat::kDomains, ReadTestData("domains.txt"));
  EXPECT_EQ(st.names, 4u);
  EXPECT_EQ(st.skipped, 1u);
  EXPECT_TRUE(r.MatchName("phish.example"));
  EXPECT_TRUE(r.MatchName("any.malware.example"));
  EXPECT_TRUE(r.MatchName("c2.example.net"));
  EXPECT_TRUE(r.MatchName("login-secure.example.org"));
  EXPECT_FALSE(r.MatchName("example.org"));
}

TEST(Reputation, LoadsUrlhausAndMatchesUrlPrefixesNotTheWholeHost) {
  Reputation r;
  uint16_t id = r.AddList({"urlhaus", "malware", Risk::kDangerous, false});
  LoadStats st = r.Load(id, FeedFormat::kUrlhausCsv, ReadTestData("urlhaus.csv"));
  EXPECT_EQ(st.url_prefixes, 3u);
  EXPECT_EQ(st.skipped, 1u);
  auto m = r.MatchUrl("http://FILES.example.com:80/payload/bin.sh");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->entry, "http://files.example.com/payload/bin.sh");
  EXPECT_TRUE(r.MatchUrl("http://198.51.100.7:8080/i"));
  EXPECT_FALSE(r.MatchUrl("http://198.51.100.7/i"));
  EXPECT_FALSE(r.MatchUrl("http://files.example.com/index.html"));
  EXPECT_TRUE(r.MatchUrl("https://drop.example.net/Invoice.zip"));
  EXPECT_FALSE(r.MatchName("files.example.com"));
}

TEST(Reputation, LoadsSpamhausDropInBothEditions) {
  Reputation r;
  uint16_t id = r.AddList({"drop", "hijacked", Risk::kDangerous, false});
  LoadStats st = r.Load(id, FeedFormat::kSpamhausDrop, ReadTestData("drop.txt"));
  EXPECT_EQ(st.cidrs, 3u);
  EXPECT_EQ(st.skipped, 1u);
  st = r.Load(id, FeedFormat::kSpamhausDrop, ReadTestData("dropv6.txt"));
  EXPECT_EQ(st.cidrs, 1u);
  st = r.Load(id, FeedFormat::kSpamhausDrop, ReadTestData("drop_v4.json"));
  EXPECT_EQ(st.cidrs, 2u);
  EXPECT_EQ(st.skipped, 0u);
  EXPECT_EQ(r.MatchAddress("203.0.113.77")->entry, "203.0.113.0/24");
  EXPECT_TRUE(r.MatchAddress("2001:db8:bad::1"));
  EXPECT_TRUE(r.MatchAddress("198.19.1.1"));
  EXPECT_FALSE(r.MatchAddress("198.51.100.1"));
  EXPECT_EQ(r.BlockedCidrs(false, SecurityLevel::kLow).size(), 5u);
  EXPECT_EQ(r.BlockedCidrs(true, SecurityLevel::kLow).size(), 1u);
}

TEST(Reputation, AllowListsWinOverBlockLists) {
  Reputation r;
  uint16_t block = r.AddList({"policy.block", "custom", Risk::kDangerous, false});
  uint16_t allow = r.AddList({"policy.allow", "custom", Risk::kDangerous, true});
  LoadStats st = r.Load(block, FeedFormat::kCustom, ReadTestData("custom.txt"));
  EXPECT_EQ(st.names, 1u);
  EXPECT_EQ(st.url_prefixes, 1u);
  EXPECT_EQ(st.cidrs, 2u);
  EXPECT_EQ(st.skipped, 0u);
  ASSERT_TRUE(r.AddEntry(allow, "good.blocked.example.org").ok());
  ASSERT_TRUE(r.AddEntry(allow, "http://downloads.example.com/tools/ok/").ok());
  EXPECT_FALSE(r.MatchName("x.blocked.example.org")->list->allow);
  EXPECT_TRUE(r.MatchName("x.good.blocked.example.org")->list->allow);
  EXPECT_FALSE(r.MatchUrl("http://downloads.example.com/tools/nc")->list->allow);
  EXPECT_TRUE(r.MatchUrl("http://downloads.example.com/tools/ok/nc")->list->allow);
  EXPECT_TRUE(r.MatchUrl("http://x.blocked.example.org/")) << "a URL's host is matched as a name";
  auto bad = r.AddEntry(block, "not a thing");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("not a thing"), std::string::npos);
}

TEST(Reputation, SecurityLevelSelectsRisks) {
  EXPECT_TRUE(Enforced(Risk::kDangerous, SecurityLevel::kLow));
  EXPECT_FALSE(Enforced(Risk::kHighlySuspicious, SecurityLevel::kLow));
  EXPECT_TRUE(Enforced(Risk::kHighlySuspicious, SecurityLevel::kMedium));
  EXPECT_FALSE(Enforced(Risk::kSuspicious, SecurityLevel::kMedium));
  EXPECT_TRUE(Enforced(Risk::kSuspicious, SecurityLevel::kHigh));
}

TEST(NormalizeUrl, LowerCasesSchemeAndHostAndDropsDefaultPorts) {
  EXPECT_EQ(NormalizeUrl("HTTP://User@Example.COM:80")->text, "http://example.com/");
  EXPECT_EQ(NormalizeUrl("https://[2001:DB8::1]:8443/A")->text, "https://[2001:db8::1]:8443/A");
  EXPECT_EQ(NormalizeUrl("http://x.example?q")->text, "http://x.example/?q");
  EXPECT_FALSE(NormalizeUrl("ftp://x.example/"));
  EXPECT_FALSE(NormalizeUrl("http:///path"));
}

// Managed feeds (docs/egress.md "Managed feeds"): a feed offered for distribution is read
// strictly — the first line its format cannot read refuses it, named — on the manager at upload
// and on the agent before a bundle is installed.
TEST(CheckFeed, RefusesAFeedNamingItsFirstUnreadableLine) {
  size_t entries = 0;
  EXPECT_TRUE(CheckFeed(FeedFormat::kSpamhausDrop, "; DROP\n192.0.2.0/25 ; SBL1\n", &entries).ok());
  EXPECT_EQ(entries, 1u);
  // The sample DROP list's 300.1.2.0/24 (line 7) is no CIDR.
  EXPECT_NE(CheckFeed(FeedFormat::kSpamhausDrop, ReadTestData("drop.txt"))
                .message()
                .find("line 7: \"300.1.2.0/24 ; SBL000004\""),
            std::string::npos);
  EXPECT_TRUE(CheckFeed(FeedFormat::kSpamhausDrop, ReadTestData("drop_v4.json")).ok());
  EXPECT_TRUE(CheckFeed(FeedFormat::kSpamhausDrop, ReadTestData("dropv6.txt")).ok());
  EXPECT_TRUE(CheckFeed(FeedFormat::kCustom, ReadTestData("custom.txt"), &entries).ok());
  EXPECT_EQ(entries, 4u);
  EXPECT_TRUE(CheckFeed(FeedFormat::kDomains, "# comment\n\nbad.example\n*.worse.example\n").ok());
  EXPECT_TRUE(CheckFeed(FeedFormat::kDomains, "").ok());  // an empty feed is a feed

  // The sample URLhaus dump has one line that is no URL (line 9), the hosts file one line with
  // no name (line 11): both refused, the line named.
  Status s = CheckFeed(FeedFormat::kUrlhausCsv, ReadTestData("urlhaus.csv"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("line 9: "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("not a urlhaus_csv entry (1 unreadable line)"), std::string::npos)
      << s.message();
  s = CheckFeed(FeedFormat::kHosts, ReadTestData("hosts"));
  EXPECT_NE(s.message().find("line 11: "), std::string::npos) << s.message();

  s = CheckFeed(FeedFormat::kDomains, "good.example\nnot a name\nalso bad!\n");
  EXPECT_EQ(s.message(), "line 2: \"not a name\" is not a domains entry (2 unreadable lines)");
  // A hosts file given as a CIDR list: every entry line is refused, the first named.
  s = CheckFeed(FeedFormat::kSpamhausDrop, "0.0.0.0 ads.example\n");
  EXPECT_NE(s.message().find("line 1: \"0.0.0.0 ads.example\""), std::string::npos);
  // Binary bytes are shown as '?', long lines cut; NUL bytes refuse the file at once.
  s = CheckFeed(FeedFormat::kCustom, "ok.example\n\x01\xff" + std::string(200, 'x') + "\n");
  EXPECT_NE(s.message().find("line 2: \"??xxx"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("...\""), std::string::npos) << s.message();
  EXPECT_FALSE(CheckFeed(FeedFormat::kDomains, std::string("a.example\n\0\n", 13)).ok());
}

}  // namespace
}  // namespace ward::agent::egress

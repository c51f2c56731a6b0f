#include "agent/modules/loginspect/geoip.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "agent/modules/loginspect/ruleset.h"
#include "testing/temp_dir.h"

namespace ward::agent::loginspect {
namespace {

// A MaxMind DB in the City layout with a few networks (testdata/loginspect/geoip/make-fixture.pl).
std::filesystem::path Fixture() {
  return std::filesystem::path(WARD_LOGINSPECT_SOURCE_DIR) /
         "testdata/loginspect/geoip/ward-test-city.mmdb";
}

void Write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

TEST(GeoIp, ShowsCountryAndRegionLikeAnalysisd) {
  auto db = GeoIpDatabase::Open(Fixture());
  ASSERT_TRUE(db.has_value()) << db.error().ToString();
  EXPECT_EQ((*db)->Lookup("41.78.120.9"), "CF / Haut-Mbomou");
  EXPECT_EQ((*db)->Lookup("2001:db8:1::5"), "JP / Osaka");
  // No subdivision in the entry: the country code alone.
  EXPECT_EQ((*db)->Lookup("8.8.8.8"), "US");
}

TEST(GeoIp, UnknownAddressesAndNonAddressesHaveNoValue) {
  auto db = GeoIpDatabase::Open(Fixture());
  ASSERT_TRUE(db.has_value()) << db.error().ToString();
  EXPECT_EQ((*db)->Lookup("10.1.2.3"), std::nullopt);
  EXPECT_EQ((*db)->Lookup("2001:db8:2::1"), std::nullopt);
  // Text from a log line is never resolved: a host name is not an address.
  EXPECT_EQ((*db)->Lookup("localhost"), std::nullopt);
  EXPECT_EQ((*db)->Lookup("41.78.120.9 x"), std::nullopt);
  EXPECT_EQ((*db)->Lookup(""), std::nullopt);
  EXPECT_EQ((*db)->Lookup(std::string("41.78.120.9\0x", 13)), std::nullopt);
}

TEST(GeoIp, MissingOrInvalidDatabaseIsRefusedWithItsPath) {
  test::TempDir dir;
  auto missing = GeoIpDatabase::Open(dir.path() / "none.mmdb");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.error().message().find("none.mmdb"), std::string::npos);

  Write(dir.path() / "garbage.mmdb", "this is not a MaxMind database\n");
  auto garbage = GeoIpDatabase::Open(dir.path() / "garbage.mmdb");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_EQ(garbage.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(garbage.error().message().find("garbage.mmdb"), std::string::npos);

  // The fixture cut in half: its metadata (at the end of the file) is gone.
  std::ifstream in(Fixture(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 100u);
  Write(dir.path() / "truncated.mmdb", bytes.substr(0, bytes.size() / 2));
  auto truncated = GeoIpDatabase::Open(dir.path() / "truncated.mmdb");
  ASSERT_FALSE(truncated.has_value());
  EXPECT_EQ(truncated.error().code(), StatusCode::kInvalidArgument);
}

class GeoIpRules : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(dir_.path() / "decoders/d.xml", R"(
<decoder name="conn">
  <program_name>^conn$</program_name>
  <regex>^from (\S+) to (\S+)</regex>
  <order>srcip, dstip</order>
</decoder>)");
    Write(dir_.path() / "rules/r.xml", R"(
<group name="test,">
  <rule id="100" level="3">
    <decoded_as>conn</decoded_as>
    <description>connection</description>
  </rule>
  <rule id="101" level="6">
    <if_sid>100</if_sid>
    <srcgeoip>^JP / </srcgeoip>
    <description>from Japan: $(srcgeoip)</description>
  </rule>
  <rule id="102" level="5">
    <if_sid>100</if_sid>
    <dstgeoip negate="yes">US</dstgeoip>
    <description>to outside the US</description>
  </rule>
  <rule id="103" level="9" frequency="3" timeframe="60">
    <if_matched_sid>102</if_matched_sid>
    <same_srcgeoip />
    <description>three from one region</description>
  </rule>
</group>)");
  }
  Result<std::shared_ptr<const Ruleset>> Load(bool with_db) {
    RulesetConfig c;
    c.decoder_dirs.push_back(dir_.path() / "decoders");
    c.rule_dirs.push_back(dir_.path() / "rules");
    if (with_db) c.geoip_db = Fixture();
    return Ruleset::Load(c);
  }
  test::TempDir dir_;
};

TEST_F(GeoIpRules, SrcAndDstGeoipConditionsUseTheDatabase) {
  auto rs = Load(true);
  ASSERT_TRUE(rs.has_value()) << rs.error().ToString();
  Session s(*rs);
  auto v = s.Process("Dec 19 17:20:08 host conn: from 203.0.113.7 to 8.8.8.8", "stdin", 1);
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->id, 101);
  EXPECT_EQ(DescribeRule(*v.rule, *v.event), "from Japan: JP / Tokyo");
  ASSERT_NE(v.event->Static("dstgeoip"), nullptr);
  EXPECT_EQ(*v.event->Static("dstgeoip"), "US");

  v = s.Process("Dec 19 17:20:08 host conn: from 10.0.0.1 to 41.78.120.9", "stdin", 2);
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->id, 102);
  // An address the database does not know has no srcgeoip at all.
  EXPECT_EQ(v.event->Static("srcgeoip"), nullptr);
}

TEST_F(GeoIpRules, SameSrcGeoipGroupsDifferentAddressesOfOneRegion) {
  auto rs = Load(true);
  ASSERT_TRUE(rs.has_value()) << rs.error().ToString();
  Session s(*rs);
  // Madrid, Andalusia, Madrid, Madrid (two different addresses in Madrid's /24).
  const char* lines[] = {"from 2.136.147.1 to 41.78.120.9", "from 2.136.14.9 to 41.78.120.9",
                         "from 2.136.147.2 to 41.78.120.9", "from 2.136.147.3 to 41.78.120.9"};
  int last = 0;
  for (int i = 0; i < 4; ++i) {
    auto v = s.Process(std::string("Dec 19 17:20:08 host conn: ") + lines[i], "stdin", 10 + i);
    ASSERT_NE(v.rule, nullptr);
    last = v.rule->id;
    if (i < 3) {
      EXPECT_EQ(last, 102) << "line " << i;
    }
  }
  EXPECT_EQ(last, 103);  // the third from Madrid, not the fourth line overall
}

TEST_F(GeoIpRules, WithoutADatabaseGeoipConditionsNeverMatch) {
  auto rs = Load(false);
  ASSERT_TRUE(rs.has_value()) << rs.error().ToString();
  Session s(*rs);
  auto v = s.Process("Dec 19 17:20:08 host conn: from 203.0.113.7 to 41.78.120.9", "stdin", 1);
  ASSERT_NE(v.rule, nullptr);
  EXPECT_EQ(v.rule->id, 100);
  EXPECT_EQ(v.event->Static("srcgeoip"), nullptr);
}

TEST_F(GeoIpRules, ABadDatabaseFailsTheRulesetLoad) {
  Write(dir_.path() / "bad.mmdb", "nope");
  RulesetConfig c;
  c.rule_dirs.push_back(dir_.path() / "rules");
  c.decoder_dirs.push_back(dir_.path() / "decoders");
  c.geoip_db = dir_.path() / "bad.mmdb";
  auto rs = Ruleset::Load(c);
  ASSERT_FALSE(rs.has_value());
  EXPECT_NE(rs.error().message().find("bad.mmdb"), std::string::npos);
}

}  // namespace
}  // namespace ward::agent::loginspect

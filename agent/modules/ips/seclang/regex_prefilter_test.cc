#include "agent/modules/ips/seclang/regex_prefilter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <gtest/gtest.h>
#include <pcre2.h>

#include <string>
#include <vector>

namespace ward::seclang {
namespace {

bool Bit(const std::vector<uint64_t>& hits, size_t i) { return (hits[i / 64] >> (i % 64)) & 1; }

// PCRE2 with libmodsecurity's options, as the @rx operator runs it.
bool PcreMatches(const std::string& pattern, const std::string& subject) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), PCRE2_ZERO_TERMINATED,
                    PCRE2_DOTALL | PCRE2_MULTILINE, &error, &offset, nullptr);
  EXPECT_NE(code, nullptr) << pattern;
  if (code == nullptr) return false;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                             0, md, nullptr);
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  return rc >= 0;
}

TEST(RegexPrefilter, NeverRulesOutAPatternPcre2Matches) {
  // Literals, classes, anchors in MULTILINE mode, DOTALL, a back-reference and a look-behind
  // (approximated in prefilter mode), case-insensitivity, bytes above 0x7f, and one past 64
  // patterns so that the hit bits span two words.
  std::vector<std::string> patterns = {
      R"((?i)union\s+select)", R"(<script[^>]*>)", R"(^admin$)",  R"(a.b)",
      R"((\w)\1{3})",          R"((?<=foo)bar)",   R"(\xff\xfe)", R"((?i:on(?:load|error))\s*=)",
  };
  for (int i = 0; i < 60; ++i) patterns.push_back("needle" + std::to_string(i) + "x");
  const auto pf = RegexPrefilter::Build(patterns);
  ASSERT_NE(pf, nullptr);
  ASSERT_EQ(pf->size(), patterns.size());
  EXPECT_EQ(pf->covered(), patterns.size());
  ASSERT_EQ(pf->Words(), 2u);
  const std::vector<std::string> subjects = {
      "id=1 UNION   SELECT password",
      "<p>text</p><SCRIPT src=x>",
      "x\nadmin\ny",
      "a\nb",
      "zzzz and aaaa",
      "foobar",
      std::string("\xff\xfe", 2),
      "<img onerror =alert(1)>",
      "haystack with needle59x and needle7x",
      "nothing of interest here at all",
      "",
  };
  PrefilterScratch scratch;
  std::vector<uint64_t> hits(pf->Words());
  for (const auto& s : subjects) {
    ASSERT_TRUE(pf->Scan(s, scratch, hits.data()));
    for (size_t i = 0; i < patterns.size(); ++i) {
      if (PcreMatches(patterns[i], s)) {
        EXPECT_TRUE(Bit(hits, i)) << "pattern " << patterns[i] << " on " << s;
      }
    }
  }
  // And it does rule out: a text with none of them (not even what prefilter mode approximates,
  // such as the back-reference as four word characters) leaves every bit clear.
  ASSERT_TRUE(pf->Scan("12 34 -- ++ ::", scratch, hits.data()));
  EXPECT_EQ(hits[0], 0u);
  EXPECT_EQ(hits[1], 0u);
  ASSERT_TRUE(pf->Scan("haystack with needle59x", scratch, hits.data()));
  EXPECT_TRUE(Bit(hits, 8 + 59));
  EXPECT_FALSE(Bit(hits, 8 + 58));
}

TEST(RegexPrefilter, LeavesOutWhatHyperscanRefusesAndKeepsTheRest) {
  // Recursion and a callout have no Hyperscan form, not even as a prefilter.
  const std::vector<std::string> patterns = {"alpha", R"(\((?:[^()]|(?R))*\))", "beta",
                                             "(?C1)gamma"};
  const auto pf = RegexPrefilter::Build(patterns);
  ASSERT_NE(pf, nullptr);
  EXPECT_TRUE(pf->Covers(0));
  EXPECT_FALSE(pf->Covers(1));
  EXPECT_TRUE(pf->Covers(2));
  EXPECT_FALSE(pf->Covers(3));
  EXPECT_EQ(pf->covered(), 2u);
  PrefilterScratch scratch;
  std::vector<uint64_t> hits(pf->Words());
  ASSERT_TRUE(pf->Scan("beta", scratch, hits.data()));
  EXPECT_FALSE(Bit(hits, 0));
  EXPECT_TRUE(Bit(hits, 2));
  // Nothing Hyperscan takes: no prefilter at all.
  EXPECT_EQ(RegexPrefilter::Build({"(?C1)x"}), nullptr);
}

TEST(RegexPrefilter, OneScratchServesDatabasesOfDifferentSizes) {
  const auto small = RegexPrefilter::Build({"abc"});
  std::vector<std::string> many;
  for (int i = 0; i < 200; ++i) many.push_back("w" + std::to_string(i) + "[a-z]{2,9}\\d+");
  const auto large = RegexPrefilter::Build(many);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  PrefilterScratch scratch;
  std::vector<uint64_t> hits(large->Words());
  ASSERT_TRUE(small->Scan("xabcx", scratch, hits.data()));
  EXPECT_TRUE(Bit(hits, 0));
  ASSERT_TRUE(large->Scan("w199abc42", scratch, hits.data()));
  EXPECT_TRUE(Bit(hits, 199));
  ASSERT_TRUE(small->Scan("none", scratch, hits.data()));
  EXPECT_FALSE(Bit(hits, 0));
}

}  // namespace
}  // namespace ward::seclang

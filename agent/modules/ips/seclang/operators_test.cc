#include "agent/modules/ips/seclang/operators.h"

#include <gtest/gtest.h>

#include <iostream>
#include <random>
#include <set>
#include <string>

#include "agent/modules/ips/seclang/modsec_oracle.h"
#include "agent/modules/ips/seclang/test_vectors.h"

namespace ward::seclang {
namespace {

using test::LoadVectors;
using test::ModsecOperator;
using test::Vector;

const std::string kVectorFilePrefix = "test-cases/secrules-language-tests/operators/";

std::string OperatorsDir() { return test::OraclesDir() + "/secrules-language-tests/operators"; }

// Operators of the vector set that Ward refuses at load (none is used by CRS 3.3).
const std::set<std::string> kRefused = {"rxGlobal",  "strmatch",  "verifyCC",
                                        "verifycpf", "verifyssn", "verifysvnr"};

// The vector's parameter with libmodsecurity's test-tree prefix made relative to our copy.
std::string Param(const Vector& v) {
  if (v.param.rfind(kVectorFilePrefix, 0) == 0) return v.param.substr(kVectorFilePrefix.size());
  return v.param;
}

bool Eval(const Operator& op, std::string_view input) {
  OperatorScratch scratch;
  return op.Evaluate(input, scratch);
}

class OperatorVectors : public ::testing::TestWithParam<std::string> {};

TEST(SeclangOperators, VectorFilesArePresent) { EXPECT_EQ(LoadVectors("operators").size(), 3952u); }

// Every vector of one file: Ward's verdict equals libmodsecurity 3.0.9's, and the vector's
// wherever libmodsecurity agrees with the vector.
TEST_P(OperatorVectors, AgreeWithLibmodsecurityAndTheVectors) {
  int agree = 0, library_deviates = 0, refused = 0;
  for (const Vector& v : LoadVectors("operators", GetParam())) {
    if (v.file != "operators/" + GetParam()) continue;
    const std::string where = v.file + "#" + std::to_string(v.index);
    const std::string param = Param(v);
    auto op = Operator::Create(v.name, param, OperatorsDir());
    if (kRefused.count(v.name) != 0) {
      ASSERT_FALSE(op.has_value()) << where;
      EXPECT_NE(op.error().message().find("@" + v.name), std::string::npos);
      ++refused;
      continue;
    }
    const auto ref =
        ModsecOperator(v.name, v.param == param ? param : OperatorsDir() + "/" + param, v.input);
    if (!op.has_value()) {
      // Refused at load: libmodsecurity must refuse it too.
      EXPECT_FALSE(ref.has_value()) << where << ": " << op.error().ToString();
      if (v.ret == 0) ++agree;
      continue;
    }
    ASSERT_TRUE(ref.has_value()) << where << " libmodsecurity refuses '" << param << "'";
    const bool got = Eval(**op, v.input);
    EXPECT_EQ(got, *ref) << where << " param '" << param << "' input '" << v.input << "'";
    if (static_cast<int>(got) == v.ret) {
      ++agree;
    } else {
      ++library_deviates;
      EXPECT_NE(static_cast<int>(*ref), v.ret) << where;
      std::cout << "  libmodsecurity 3.0.9 deviates from " << where << ": expected " << v.ret
                << "\n";
    }
  }
  std::cout << GetParam() << ": " << agree << " vectors pass, " << library_deviates
            << " where libmodsecurity itself differs, " << refused << " refused operators\n";
}

INSTANTIATE_TEST_SUITE_P(
    SecrulesLanguageTests, OperatorVectors,
    ::testing::Values("beginsWith.json", "contains.json", "containsWord.json", "detectSQLi.json",
                      "detectXSS.json", "endsWith.json", "eq.json", "ge.json", "geoLookup.json",
                      "gt.json", "ipMatch.json", "le.json", "lt.json", "noMatch.json", "pm.json",
                      "pmFromFile.json", "rx.json", "rxGlobal.json", "streq.json", "strmatch.json",
                      "unconditionalMatch.json", "validateByteRange.json",
                      "validateUrlEncoding.json", "validateUtf8Encoding.json", "verifyCC.json",
                      "verifycpf.json", "verifyssn.json", "verifysvnr.json", "within.json"),
    [](const ::testing::TestParamInfo<std::string>& info) {
      return info.param.substr(0, info.param.find('.'));
    });

TEST(SeclangOperators, RefusesUnsupportedOperatorsByName) {
  for (const char* name : {"rbl", "inspectFile", "fuzzyHash", "nope"}) {
    const auto op = Operator::Create(name, "x", "/");
    ASSERT_FALSE(op.has_value());
    EXPECT_NE(op.error().message().find(std::string("@") + name), std::string::npos);
  }
}

TEST(SeclangOperators, RefusesARegexThatDoesNotCompile) {
  const auto op = Operator::Create("rx", "a(b", "/");
  ASSERT_FALSE(op.has_value());
  EXPECT_NE(op.error().message().find("@rx"), std::string::npos);
}

// libmodsecurity's Aho-Corasick links a node's failure only one level up: after "abc" (of
// "abcq") it falls back to the root, not to "c", and so misses "ce" in "abce". Ward misses it
// too, on purpose (docs/ips.md).
TEST(SeclangOperators, PmMissesWhatLibmodsecurityMisses) {
  auto op = Operator::Create("pm", "abcq bz ce", "/");
  ASSERT_TRUE(op.has_value());
  EXPECT_FALSE(Eval(**op, "abce"));
  EXPECT_EQ(ModsecOperator("pm", "abcq bz ce", "abce"), false);
  EXPECT_TRUE(Eval(**op, "xce"));
  EXPECT_EQ(ModsecOperator("pm", "abcq bz ce", "xce"), true);
}

TEST(SeclangOperators, RxReportsCapturesAsLibmodsecurityStoresThem) {
  auto op = Operator::Create("rx", "(a)(x)?(b+)", "/");
  ASSERT_TRUE(op.has_value());
  OperatorScratch scratch;
  ASSERT_TRUE((*op)->Evaluate("zzabbb", scratch));
  const auto& caps = scratch.captures();
  ASSERT_EQ(caps.size(), 3u);  // the unset group 2 is skipped
  EXPECT_EQ(caps[0].group, 0);
  EXPECT_EQ(caps[0].offset, 2u);
  EXPECT_EQ(caps[0].length, 4u);
  EXPECT_EQ(caps[1].group, 1);
  EXPECT_EQ(caps[2].group, 3);
  EXPECT_EQ(caps[2].length, 3u);
}

TEST(SeclangOperators, MacroParametersAreEvaluatedWithTheirExpansion) {
  auto op = Operator::Create("ge", "%{tx.inbound_anomaly_score_threshold}", "/");
  ASSERT_TRUE(op.has_value());
  EXPECT_TRUE((*op)->param_has_macro());
  OperatorScratch scratch;
  EXPECT_TRUE((*op)->Evaluate("5", "5", scratch));
  EXPECT_FALSE((*op)->Evaluate("4", "5", scratch));
  EXPECT_FALSE(Operator::Create("pm", "%{tx.x}", "/").has_value());
  auto rx = Operator::Create("rx", "^%{tx.charsets}$", "/");
  ASSERT_TRUE(rx.has_value());
  EXPECT_TRUE((*rx)->Evaluate("utf-8", "^(utf-8|latin1)$", scratch));
  EXPECT_FALSE((*rx)->Evaluate("utf-16", "^(utf-8|latin1)$", scratch));
  EXPECT_TRUE((*rx)->Evaluate("utf-16", "^utf-16$", scratch));
  EXPECT_FALSE((*rx)->Evaluate("x", "(", scratch));  // does not compile: no match
}

// Differential checks on generated parameters and inputs.
std::string Random(std::mt19937& rng, std::string_view alphabet, size_t max_len) {
  std::string s(std::uniform_int_distribution<size_t>(0, max_len)(rng), '\0');
  for (auto& c : s)
    c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
  return s;
}

void CompareOn(const std::string& name, const std::string& param, const std::string& input) {
  const auto ref = ModsecOperator(name, param, input);
  auto op = Operator::Create(name, param, "/");
  if (!ref.has_value()) {
    EXPECT_FALSE(op.has_value()) << "@" << name << " '" << param << "'";
    return;
  }
  if (!op.has_value()) {
    ADD_FAILURE() << "@" << name << " '" << param << "' refused: " << op.error().ToString();
    return;
  }
  EXPECT_EQ(Eval(**op, input), *ref) << "@" << name << " '" << param << "' on '" << input << "'";
}

TEST(SeclangOperators, EqualsLibmodsecurityOnGeneratedTextOperators) {
  std::mt19937 rng(42);
  const std::string alpha = "abAB c-_01 9x\xc3\xa9\t";
  for (int i = 0; i < 3000; ++i) {
    const std::string p = Random(rng, alpha, 4), in = Random(rng, alpha, 12);
    for (const char* name :
         {"within", "streq", "contains", "containsWord", "endsWith", "beginsWith"}) {
      CompareOn(name, p, in);
    }
  }
  const std::string digits = "0123456789-+ x\t";
  for (int i = 0; i < 3000; ++i) {
    const std::string p = Random(rng, digits, 22), in = Random(rng, digits, 22);
    for (const char* name : {"eq", "ge", "gt", "le", "lt"}) CompareOn(name, p, in);
  }
}

TEST(SeclangOperators, EqualsLibmodsecurityOnGeneratedPatternSets) {
  std::mt19937 rng(7);
  const std::string alpha = "abcAB";
  for (int i = 0; i < 4000; ++i) {
    std::string param;
    const int words = std::uniform_int_distribution<int>(1, 6)(rng);
    for (int w = 0; w < words; ++w) param += Random(rng, alpha, 5) + " ";
    CompareOn("pm", param, Random(rng, alpha, 30));
  }
  // Quoting, |hex| and escapes in the parameter.
  const std::string special = "ab|\\\";: 0AfF\xc3";
  for (int i = 0; i < 4000; ++i) {
    const std::string param = Random(rng, special, 10);
    for (int k = 0; k < 3; ++k) CompareOn("pm", param, Random(rng, special, 14));
  }
}

TEST(SeclangOperators, EqualsLibmodsecurityOnGeneratedValidators) {
  std::mt19937 rng(9);
  std::string bytes;
  for (int c = 0; c < 256; ++c) bytes += static_cast<char>(c);
  const std::string utf = "a%0fG\x80\xbf\xc2\xc0\xe0\xed\xef\xf0\xf4\xf5\xf8\xff";
  for (int i = 0; i < 5000; ++i) {
    const std::string in = Random(rng, i % 2 ? utf : bytes, 8);
    CompareOn("validateUrlEncoding", "", in);
    CompareOn("validateUtf8Encoding", "", in);
    CompareOn("validateByteRange", "9,10,13,32-126,128-255", in);
    CompareOn("validateByteRange", "38,44-46,48-58,61,65-90,95,97-122", in);
  }
  const std::string ranges = "0123456789-, x";
  for (int i = 0; i < 2000; ++i) {
    const std::string p = Random(rng, ranges, 9);
    // A single value outside 0-255 makes libmodsecurity write outside its table: not compared.
    bool wild = false;
    size_t start = 0;
    while (true) {
      const size_t comma = p.find(',', start);
      const std::string piece = p.substr(start, comma == std::string::npos ? comma : comma - start);
      if (piece.find('-') == std::string::npos) {
        try {
          const int v = std::stoi(piece);
          if (v < 0 || v > 255) wild = true;
        } catch (...) {
        }
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (!wild) CompareOn("validateByteRange", p, Random(rng, bytes, 6));
  }
}

TEST(SeclangOperators, EqualsLibmodsecurityOnInjectionDetection) {
  const char* inputs[] = {"",
                          "1' or '1'='1",
                          "1 union select 1,2,3--",
                          "<script>alert(1)</script>",
                          "<img src=x onerror=alert(1)>",
                          "hello world",
                          "javascript:alert(1)",
                          "' OR 1=1 #",
                          "admin'--"};
  for (const char* in : inputs) {
    CompareOn("detectSQLi", "", in);
    CompareOn("detectXSS", "", in);
  }
}

TEST(SeclangOperators, EqualsLibmodsecurityOnGeneratedNetworks) {
  std::mt19937 rng(3);
  auto v4 = [&] {
    std::string s;
    for (int i = 0; i < 4; ++i) {
      if (i) s += '.';
      s += std::to_string(std::uniform_int_distribution<int>(0, 3)(rng) * 64 +
                          std::uniform_int_distribution<int>(0, 1)(rng));
    }
    return s;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string param = v4();
    if (i % 3) param += "/" + std::to_string(std::uniform_int_distribution<int>(0, 33)(rng));
    if (i % 5 == 0) param += ",::1,fe80::/10";
    CompareOn("ipMatch", param, v4());
    CompareOn("ipMatch", param, "fe80::1");
  }
}

TEST(SeclangOperators, EqualsLibmodsecurityOnRegexes) {
  const std::pair<const char*, const char*> cases[] = {
      {"^abc$", "x\nabc\ny"},
      {"a.c", "a\nc"},
      {"(?i)select", "SeLeCt"},
      {"abc$", "abc\n"},
      {"^$", ""},
      {"\\d+", "abc"},
      {"(a|b)*c", "ababab"},
      {"(?:a+)+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"},
      {"[\\x80-\\xff]", "\xc3"},
      {"\\bword\\b", "a word."},
  };
  for (const auto& [re, in] : cases) CompareOn("rx", re, in);
}

}  // namespace
}  // namespace ward::seclang

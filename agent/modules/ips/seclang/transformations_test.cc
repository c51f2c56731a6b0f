#include "agent/modules/ips/seclang/transformations.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "agent/modules/ips/seclang/modsec_oracle.h"
#include "agent/modules/ips/seclang/test_vectors.h"

namespace ward::seclang {
namespace {

using test::LoadVectors;
using test::ModsecTransform;
using test::Vector;

std::string Hex(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

// The vector files use the class file name for t:cmdLine.
std::string RuleName(const std::string& vector_name) {
  return vector_name == "cmd_line" ? "cmdLine" : vector_name;
}

TEST(SeclangTransformations, NamesRoundTripCaseInsensitively) {
  for (int i = 0; i < kTransformationCount; ++i) {
    const auto t = static_cast<Transformation>(i);
    EXPECT_EQ(TransformationFromName(TransformationName(t)), t);
  }
  EXPECT_EQ(TransformationFromName("BASE64DECODE"), Transformation::kBase64Decode);
  EXPECT_EQ(TransformationFromName("normalizePath"), Transformation::kNormalisePath);
  EXPECT_EQ(TransformationFromName("normalizepathwin"), Transformation::kNormalisePathWin);
  EXPECT_EQ(TransformationFromName("utf8toUnicode"), Transformation::kUtf8ToUnicode);
  EXPECT_FALSE(TransformationFromName("phpArgsNames"));  // not in libmodsecurity 3 either
  EXPECT_FALSE(TransformationFromName("urlDecod"));
}

TEST(SeclangTransformations, UnchangedInputIsReturnedAsAView) {
  std::string out;
  const std::string_view in = "plain text without escapes";
  for (const auto t :
       {Transformation::kNone, Transformation::kUrlDecodeUni, Transformation::kHtmlEntityDecode,
        Transformation::kJsDecode, Transformation::kCssDecode, Transformation::kLowercase,
        Transformation::kRemoveNulls, Transformation::kUtf8ToUnicode, Transformation::kTrim,
        Transformation::kReplaceComments, Transformation::kCompressWhitespace}) {
    EXPECT_EQ(Transform(t, in, out).data(), in.data()) << TransformationName(t);
  }
  EXPECT_EQ(Transform(Transformation::kTrim, "  x ", out), "x");
}

TEST(SeclangTransformations, ChainReusesItsBuffersWithoutChangingResults) {
  TransformScratch scratch;
  const Transformation chain[] = {Transformation::kUrlDecodeUni, Transformation::kHtmlEntityDecode,
                                  Transformation::kLowercase, Transformation::kRemoveNulls,
                                  Transformation::kCompressWhitespace};
  const std::string input = "%3CScRiPt%3E&lt;ALERT(1)&gt;  %00 \t X";
  std::string expected = input;
  for (const auto t : chain) expected = test::ModsecTransform(TransformationName(t), expected);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(scratch.Run(chain, input), expected);
  }
}

TEST(SeclangTransformations, UrlDecodeUniUsesTheUnicodeMapLikeLibmodsecurity) {
  const std::string file = test::OraclesDir() + "/modsecurity-3.0.9-config/unicode.mapping";
  for (const int page : {20127, 1252, 932}) {
    auto map = UnicodeMap::Load(file, page);
    ASSERT_TRUE(map.has_value()) << map.error().ToString();
    std::string out;
    std::string all;
    for (uint32_t code = 0; code < 0x10000; code += 7) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "%%u%04x", code);
      all += esc;
      all += code % 3 ? "x" : "%U" + std::string(esc + 2);
    }
    EXPECT_EQ(Hex(Transform(Transformation::kUrlDecodeUni, all, out, map->get())),
              Hex(test::ModsecTransformWithMap("urlDecodeUni", all, file, page)))
        << "code page " << page;
    std::string plain;
    EXPECT_NE(std::string(Transform(Transformation::kUrlDecodeUni, all, out, map->get())),
              std::string(Transform(Transformation::kUrlDecodeUni, all, plain)))
        << "the map changes nothing for code page " << page;
  }
  EXPECT_FALSE(UnicodeMap::Load("/nonexistent/unicode.mapping", 20127).has_value());
}

class TransformationVectors : public ::testing::TestWithParam<std::string> {};

TEST(SeclangTransformations, VectorFilesArePresent) {
  const auto vectors = LoadVectors("transformations");
  EXPECT_EQ(vectors.size(), 374u);
}

// Every vector of one file: Ward equals libmodsecurity 3.0.9 always, and equals the vector's
// expected output wherever libmodsecurity does.
TEST_P(TransformationVectors, AgreeWithLibmodsecurityAndTheVectors) {
  int agree = 0, library_deviates = 0;
  std::string out;
  for (const Vector& v : LoadVectors("transformations", GetParam())) {
    if (v.file != "transformations/" + GetParam()) continue;
    const std::string name = RuleName(v.name);
    const auto t = TransformationFromName(name);
    if (!t) {
      EXPECT_EQ(name, "phpArgsNames") << v.file << "#" << v.index;
      continue;
    }
    const std::string got(Transform(*t, v.input, out));
    const std::string ref = ModsecTransform(name, v.input);
    EXPECT_EQ(Hex(got), Hex(ref)) << v.file << "#" << v.index << " input " << Hex(v.input);
    if (got == v.output) {
      ++agree;
    } else {
      EXPECT_NE(ref, v.output) << v.file << "#" << v.index;
      ++library_deviates;
      std::cout << "  libmodsecurity 3.0.9 deviates from " << v.file << "#" << v.index
                << ": expected " << Hex(v.output) << ", it returns " << Hex(ref) << "\n";
    }
  }
  std::cout << GetParam() << ": " << agree << " vectors pass, " << library_deviates
            << " where libmodsecurity itself differs\n";
}

INSTANTIATE_TEST_SUITE_P(
    SecrulesLanguageTests, TransformationVectors,
    ::testing::Values("base64Decode.json", "base64DecodeExt.json", "base64Encode.json",
                      "cmdLine.json", "compressWhitespace.json", "cssDecode.json",
                      "escapeSeqDecode.json", "hexDecode.json", "hexEncode.json",
                      "htmlEntityDecode.json", "jsDecode.json", "length.json", "lowercase.json",
                      "md5.json", "normalisePath.json", "normalisePathWin.json",
                      "parityEven7bit.json", "parityOdd7bit.json", "parityZero7bit.json",
                      "phpArgsNames.json", "removeComments.json", "removeCommentsChar.json",
                      "removeNulls.json", "removeWhitespace.json", "replaceComments.json",
                      "replaceNulls.json", "sha1.json", "sqlHexDecode.json", "trim.json",
                      "trimLeft.json", "trimRight.json", "urlDecode.json", "urlDecodeUni.json",
                      "urlEncode.json", "utf8toUnicode.json"),
    [](const ::testing::TestParamInfo<std::string>& info) {
      return info.param.substr(0, info.param.find('.'));
    });

}  // namespace
}  // namespace ward::seclang

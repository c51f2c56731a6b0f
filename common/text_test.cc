#include "common/text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ward {
namespace {

using namespace std::string_literals;

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(IsValidUtf8, AcceptsAsciiAndWellFormedMultibyteSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii /etc/passwd"));
  EXPECT_TRUE(IsValidUtf8("nul\0inside"s));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9"));          // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));      // U+20AC
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));  // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xC2\x80"));          // U+0080, smallest two-byte
  EXPECT_TRUE(IsValidUtf8("\xE0\xA0\x80"));      // U+0800, smallest three-byte
  EXPECT_TRUE(IsValidUtf8("\xF0\x90\x80\x80"));  // U+10000, smallest four-byte
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xEE\x80\x80"));      // U+E000, just above the surrogates
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
}

TEST(IsValidUtf8, RejectsOverlongEncodings) {
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // '/' in two bytes
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));          // U+007F in two bytes
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // '/' in three bytes
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));      // U+07FF in three bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // '/' in four bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in four bytes
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // modified-UTF-8 NUL
}

TEST(IsValidUtf8, RejectsSurrogates) {
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));              // U+D800
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));              // U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\xBD\xED\xB8\x80"));  // CESU-8 pair
}

TEST(IsValidUtf8, RejectsTruncatedSequences) {
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));
  EXPECT_FALSE(IsValidUtf8("abc\xE2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82x"));  // continuation byte replaced by ASCII
}

TEST(IsValidUtf8, RejectsStrayAndImpossibleBytes) {
  EXPECT_FALSE(IsValidUtf8("\x80"));  // lone continuation
  EXPECT_FALSE(
      IsValidUtf8("a\xBF"
                  "b"));  // continuation in the middle
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xFE"));
  EXPECT_FALSE(IsValidUtf8("\xF8\x88\x80\x80\x80"));  // five-byte form
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));      // U+110000, beyond Unicode
}

TEST(LossyUtf8, LeavesValidTextUnchanged) {
  const std::string s = "caf\xC3\xA9 \xF0\x9F\x98\x80 ok";
  EXPECT_EQ(LossyUtf8(s), s);
  EXPECT_EQ(LossyUtf8(""), "");
}

TEST(LossyUtf8, ReplacesEachInvalidByteWithReplacementCharacter) {
  EXPECT_EQ(LossyUtf8("a\xFF"
                      "b"),
            "a" + kReplacement + "b");
  EXPECT_EQ(LossyUtf8("\xFF\xFE"), kReplacement + kReplacement);
  // A truncated sequence: each of its bytes becomes one U+FFFD, then the rest is kept.
  EXPECT_EQ(LossyUtf8("\xE2\x82"
                      "z"),
            kReplacement + kReplacement + "z");
  // An overlong '/': both bytes replaced, never decoded into a '/'.
  EXPECT_EQ(LossyUtf8("\xC0\xAF"), kReplacement + kReplacement);
}

TEST(LossyUtf8, OutputIsAlwaysValidUtf8) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string lossy = LossyUtf8(all);
  EXPECT_TRUE(IsValidUtf8(lossy));
  // The 128 ASCII bytes survive; the 128 high bytes are all lone and become U+FFFD.
  EXPECT_EQ(lossy.size(), 128u + 128u * 3u);
}

TEST(ToHex, RendersLowercaseTwoDigitsPerByte) {
  const std::vector<uint8_t> bytes = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(ToHex(bytes), "000fa5ff");
  EXPECT_EQ(ToHex({}), "");
}

TEST(Base64, EncodesRfc4648TestVectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesRfc4648TestVectors) {
  EXPECT_EQ(Base64Decode(""), "");
  EXPECT_EQ(Base64Decode("Zg=="), "f");
  EXPECT_EQ(Base64Decode("Zm8="), "fo");
  EXPECT_EQ(Base64Decode("Zm9v"), "foo");
  EXPECT_EQ(Base64Decode("Zm9vYg=="), "foob");
  EXPECT_EQ(Base64Decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(Base64Decode("Zm9vYmFy"), "foobar");
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string encoded = Base64Encode(all);
  EXPECT_EQ(encoded.size(), (all.size() + 2) / 3 * 4);
  auto decoded = Base64Decode(encoded);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, all);
}

TEST(Base64, RoundTripsEveryLengthModThree) {
  // Lengths 0..8 cover no padding, one '=' and two '='; each uses high bytes and NULs.
  for (size_t len = 0; len <= 8; ++len) {
    std::string s;
    for (size_t i = 0; i < len; ++i) s += static_cast<char>(i % 2 == 0 ? 0xFF - i : i);
    std::string enc = Base64Encode(s);
    EXPECT_EQ(enc.size() % 4, 0u) << len;
    size_t pad = enc.size() - enc.find_last_not_of('=') - 1;
    EXPECT_EQ(pad, (3 - len % 3) % 3) << len;
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec.has_value()) << len;
    EXPECT_EQ(*dec, s) << len;
  }
}

TEST(Base64, RoundTripsEverySingleByteAndPair) {
  for (int a = 0; a < 256; ++a) {
    std::string one(1, static_cast<char>(a));
    ASSERT_EQ(Base64Decode(Base64Encode(one)), one) << a;
    std::string two = one + static_cast<char>(255 - a);
    ASSERT_EQ(Base64Decode(Base64Encode(two)), two) << a;
  }
}

TEST(Base64, DecodeRejectsGarbage) {
  EXPECT_FALSE(Base64Decode("Zg=").has_value());  // length not a multiple of 4
  EXPECT_FALSE(Base64Decode("Zm9").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v!A==").has_value());  // character outside the alphabet
  EXPECT_FALSE(Base64Decode("Zm 9").has_value());      // whitespace
  EXPECT_FALSE(Base64Decode("Zm9v\n").has_value());
  EXPECT_FALSE(Base64Decode("Z===").has_value());  // too much padding
  EXPECT_FALSE(Base64Decode("====").has_value());
  EXPECT_FALSE(Base64Decode("Zg=a").has_value());      // data after padding
  EXPECT_FALSE(Base64Decode("Zg==Zm9v").has_value());  // padding before the last quad
  EXPECT_FALSE(Base64Decode("Zm9v\0AAA"s).has_value());
  EXPECT_FALSE(Base64Decode("Zm9v\xFF\xFF\xFF\xFF").has_value());
}

}  // namespace
TEST(NormalizeAbsolutePath, ResolvesDotsAndSlashes) {
  EXPECT_EQ(NormalizeAbsolutePath("/a/b/../c/"), "/a/c");
  EXPECT_EQ(NormalizeAbsolutePath("//a///b/./"), "/a/b");
  EXPECT_EQ(NormalizeAbsolutePath("/.."), "/");
  EXPECT_EQ(NormalizeAbsolutePath("/"), "/");
  EXPECT_EQ(NormalizeAbsolutePath("/a/.hidden/..x"), "/a/.hidden/..x");
}

TEST(HexDigitValue, HexDigitsOnly) {
  EXPECT_EQ(HexDigitValue('0'), 0);
  EXPECT_EQ(HexDigitValue('9'), 9);
  EXPECT_EQ(HexDigitValue('a'), 10);
  EXPECT_EQ(HexDigitValue('F'), 15);
  EXPECT_EQ(HexDigitValue('g'), -1);
  EXPECT_EQ(HexDigitValue('%'), -1);
  EXPECT_EQ(HexDigitValue('\xC1'), -1);
}

TEST(UpperCase, LettersOnly) {
  EXPECT_EQ(UpperCase("Request_Headers:x-1"), "REQUEST_HEADERS:X-1");
  EXPECT_EQ(UpperCase(""), "");
  EXPECT_EQ(UpperCase("\xE9t\xE9"), "\xE9T\xE9");
}

TEST(EqualsIgnoreCase, ComparesLettersWithoutCase) {
  EXPECT_TRUE(EqualsIgnoreCase("DetectionOnly", "detectiononly"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
  EXPECT_FALSE(EqualsIgnoreCase("On", "Off"));
  EXPECT_FALSE(EqualsIgnoreCase("on", "on "));
  EXPECT_FALSE(EqualsIgnoreCase("[", "{"));
}

}  // namespace ward

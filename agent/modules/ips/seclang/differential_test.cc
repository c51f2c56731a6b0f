// Differential tests: Ward's transformations against libmodsecurity 3.0.9 on generated and
// hostile inputs (t:cmdLine has no vectors at all; this is where it is checked).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "agent/modules/ips/seclang/modsec_oracle.h"
#include "agent/modules/ips/seclang/transformations.h"

namespace ward::seclang {
namespace {

// Bytes that steer the decoders into their interesting branches, plus any byte at all.
std::string RandomInput(std::mt19937& rng, size_t max_len) {
  static const std::string kAlphabet =
      "%uU+0123456789abcdefABCDEFxX&#;\\/*-<!>. \t\n\r\v\f'\"^,()=?nbsplgtquoamp9";
  std::uniform_int_distribution<size_t> len_dist(0, max_len);
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  static const char* const kPieces[] = {"&#x",
                                        "&#",
                                        "\\u00",
                                        "%u00",
                                        "%uff",
                                        "\\x",
                                        "/*",
                                        "*/",
                                        "<!--",
                                        "-->",
                                        "--",
                                        "0x",
                                        "/../",
                                        "/./",
                                        "..\\",
                                        "\\\\",
                                        "\xc3\xa9",
                                        "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80",
                                        "\xed\xa0\x80",
                                        "\xc0\xaf",
                                        "\xf5\x80\x80\x80",
                                        "&nbsp;",
                                        "&quot"};
  std::string s;
  const size_t n = len_dist(rng);
  while (s.size() < n) {
    const int k = kind(rng);
    if (k < 6) {
      s += kAlphabet[pick(rng)];
    } else if (k < 8) {
      s += kPieces[std::uniform_int_distribution<size_t>(0, std::size(kPieces) - 1)(rng)];
    } else if (k < 9) {
      s += static_cast<char>(byte(rng));
    } else {
      s += '\0';
    }
  }
  return s;
}

class Differential : public ::testing::TestWithParam<int> {};

TEST_P(Differential, EqualsLibmodsecurityOnGeneratedInputs) {
  const auto t = static_cast<Transformation>(GetParam());
  const std::string name(TransformationName(t));
  std::mt19937 rng(0x5ec1a9 + GetParam());
  std::string out;
  int failures = 0;
  for (int i = 0; i < 4000 && failures < 5; ++i) {
    const std::string in = RandomInput(rng, i < 3000 ? 24 : 400);
    const std::string got(Transform(t, in, out));
    const std::string ref = test::ModsecTransform(name, in);
    if (got != ref) {
      ++failures;
      ADD_FAILURE() << name << " differs on input of " << in.size() << " bytes";
    }
  }
}

TEST_P(Differential, EqualsLibmodsecurityOnHostileInputs) {
  const auto t = static_cast<Transformation>(GetParam());
  const std::string name(TransformationName(t));
  std::string out;
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
  const std::string inputs[] = {
      "",
      std::string(1, '\0'),
      std::string(100000, '%'),
      std::string(100000, '\\'),
      std::string(50000, '&') + "#x",
      std::string(20000, '/') + std::string(20000, '.'),
      std::string(65536, '\xff'),
      std::string(30000, '0') + "x41",
      "&#x" + std::string(40, 'f') + ";",
      "&#" + std::string(40, '9') + ";",
      all_bytes,
      all_bytes + all_bytes,
  };
  for (const auto& in : inputs) {
    EXPECT_EQ(std::string(Transform(t, in, out)), test::ModsecTransform(name, in))
        << name << " on " << in.size() << " bytes";
  }
  // Every single byte and every pair of a special byte with any byte.
  for (int c = 0; c < 256; ++c) {
    for (const char* prefix : {"", "%", "\\", "&", "&#", "0x", "/", ".", "%u"}) {
      const std::string in = std::string(prefix) + static_cast<char>(c);
      EXPECT_EQ(std::string(Transform(t, in, out)), test::ModsecTransform(name, in))
          << name << " on prefix '" << prefix << "' + byte " << c;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTransformations, Differential,
                         ::testing::Range(0, kTransformationCount),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(
                               TransformationName(static_cast<Transformation>(info.param)));
                         });

}  // namespace
}  // namespace ward::seclang

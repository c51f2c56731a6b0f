#include "manager/auth/totp.h"

#include <gtest/gtest.h>

namespace ward::manager {
namespace {

// RFC 6238 appendix B: the SHA-1 key is the ASCII string "12345678901234567890".
constexpr std::string_view kRfcKey = "12345678901234567890";

TimePoint At(int64_t unix_seconds) { return TimePoint(std::chrono::seconds(unix_seconds)); }

TEST(Totp, MatchesRfc6238AppendixBSha1Vectors) {
  struct Vector {
    int64_t time;
    const char* code8;
  };
  const Vector vectors[] = {{59, "94287082"},         {1111111109, "07081804"},
                            {1111111111, "14050471"}, {1234567890, "89005924"},
                            {2000000000, "69279037"}, {20000000000, "65353130"}};
  for (const auto& v : vectors) {
    // system_clock counts nanoseconds in an int64: year 2603 (T = 20000000000) does not fit, so
    // that vector checks HOTP at its step only.
    const int64_t step = v.time / 30;
    if (v.time < 9'000'000'000) {
      EXPECT_EQ(TotpStep(At(v.time)), step);
    }
    EXPECT_EQ(Hotp(kRfcKey, static_cast<uint64_t>(step), 8), v.code8) << "T = " << v.time;
    // the 6-digit code Ward uses is the last six digits of the same truncation
    EXPECT_EQ(Hotp(kRfcKey, static_cast<uint64_t>(step), 6), std::string(v.code8).substr(2));
  }
  EXPECT_EQ(TotpStep(At(59)), 1);
  EXPECT_EQ(TotpStep(At(1111111109)), 0x23523EC);
}

TEST(Totp, MatchesRfc4226AppendixDHotpVectors) {
  const char* codes[] = {"755224", "287082", "359152", "969429", "338314",
                         "254676", "287922", "162583", "399871", "520489"};
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(Hotp(kRfcKey, i), codes[i]) << "count " << i;
}

TEST(Totp, AcceptsOneStepOfDriftEitherSideAndNoMore) {
  const std::string secret = Base32Encode(kRfcKey);
  EXPECT_EQ(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  const TimePoint now = At(1234567890);
  const int64_t step = TotpStep(now);
  auto code = [&](int64_t s) { return Hotp(kRfcKey, static_cast<uint64_t>(s)); };
  EXPECT_EQ(VerifyTotp(secret, code(step), now), step);
  EXPECT_EQ(VerifyTotp(secret, code(step - 1), now), step - 1);
  EXPECT_EQ(VerifyTotp(secret, code(step + 1), now), step + 1);
  EXPECT_FALSE(VerifyTotp(secret, code(step - 2), now));
  EXPECT_FALSE(VerifyTotp(secret, code(step + 2), now));
}

TEST(Totp, RefusesMalformedCodesAndSecrets) {
  const std::string secret = Base32Encode(kRfcKey);
  const TimePoint now = At(59);
  EXPECT_FALSE(VerifyTotp(secret, "", now));
  EXPECT_FALSE(VerifyTotp(secret, "94287", now));
  EXPECT_FALSE(VerifyTotp(secret, "2870820", now));
  EXPECT_FALSE(VerifyTotp(secret, "28708a", now));
  EXPECT_FALSE(VerifyTotp("not base32!", "287082", now));
  EXPECT_FALSE(VerifyTotp("", "287082", now));
}

TEST(Totp, Base32RoundTripsAndNewSecretsAre160Bits) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(Base32Decode(Base32Encode(s)), s);
  }
  EXPECT_EQ(Base32Encode("foobar"), "MZXW6YTBOI");  // RFC 4648 section 10, without padding
  EXPECT_EQ(Base32Decode("mzxw6ytboi======"), "foobar");
  EXPECT_FALSE(Base32Decode("MZXW1"));
  const std::string a = NewTotpSecret();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(Base32Decode(a)->size(), 20u);
  EXPECT_NE(a, NewTotpSecret());
}

TEST(Totp, UriNamesIssuerAccountAndParameters) {
  EXPECT_EQ(TotpUri("Ward", "alice smith", "ABC"),
            "otpauth://totp/Ward:alice%20smith?secret=ABC&issuer=Ward&algorithm=SHA1&digits=6&"
            "period=30");
}

}  // namespace
}  // namespace ward::manager

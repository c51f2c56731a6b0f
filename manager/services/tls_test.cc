#include "manager/services/tls.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "testing/temp_dir.h"

namespace ward::manager {
namespace {

TEST(SelfSignedCertificate, IsMadeOnceWithAPrivateKeyAndAStableFingerprint) {
  test::TempDir dir;
  auto a = EnsureSelfSignedCertificate(dir.path(), "manager-01.example");
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_TRUE(a->created);
  struct stat st {};
  ASSERT_EQ(::stat(a->key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto fp = CertificateFingerprint(a->cert);
  ASSERT_TRUE(fp) << fp.error().ToString();
  EXPECT_EQ(fp->size(), 64u);
  EXPECT_EQ(fp->find_first_not_of("0123456789abcdef"), std::string::npos);
  std::string pem = test::ReadFileOrDie(a->cert.string());
  auto b = EnsureSelfSignedCertificate(dir.path(), "manager-01.example");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->created);
  EXPECT_EQ(*CertificateFingerprint(b->cert), *fp);
}

// The pin equals what curl's documentation computes with the openssl CLI.
TEST(SelfSignedCertificate, PublicKeyPinIsCurlsSha256OfTheSubjectPublicKeyInfo) {
  test::TempDir dir;
  auto a = EnsureSelfSignedCertificate(dir.path(), "manager-01.example");
  ASSERT_TRUE(a) << a.error().ToString();
  auto pin = PublicKeyPin(a->cert);
  ASSERT_TRUE(pin) << pin.error().ToString();
  std::string cmd = "openssl x509 -in '" + a->cert.string() +
                    "' -pubkey -noout | openssl pkey -pubin -outform der | "
                    "openssl dgst -sha256 -binary | base64";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[128] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  ASSERT_EQ(pclose(p), 0);
  std::string expected(buf, n);
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  ASSERT_EQ(expected.size(), 44u);
  EXPECT_EQ(*pin, "sha256//" + expected);
  EXPECT_FALSE(PublicKeyPin(dir.Sub("missing.pem")));
}

TEST(SelfSignedCertificate, FingerprintRefusesAFileWithoutACertificate) {
  test::TempDir dir;
  test::WriteFile(dir.Sub("x.pem"), "hello");
  EXPECT_FALSE(CertificateFingerprint(dir.Sub("x.pem")));
  EXPECT_FALSE(CertificateFingerprint(dir.Sub("missing.pem")));
}

}  // namespace
}  // namespace ward::manager

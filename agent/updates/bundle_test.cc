#include "agent/updates/bundle.h"

#include <gtest/gtest.h>

namespace ward::updates {
namespace {

KeyPair TestKey(unsigned char fill) {
  std::array<unsigned char, 32> seed{};
  seed.fill(fill);
  return KeyPairFromSeed(seed);
}

Manifest OneFile() {
  Manifest m;
  m.kind = "clamav";
  m.version = 3;
  m.created = "2026-12-07T12:00:00Z";
  m.files.push_back({"daily.hdb", std::string(64, 'a'), 68, std::nullopt});
  return m;
}

TEST(UpdateBundle, SignedManifestVerifiesAndRoundTrips) {
  KeyPair k = TestKey(1);
  SignedManifest s{SerializeManifest(OneFile()), ""};
  s.signature = Sign(s.manifest, k);
  auto back = ParseSignedManifest(SignedManifestToJson(s));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  auto m = VerifyAndParse(*back, k.public_key, "clamav", 3);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->version, 3);
  ASSERT_EQ(m->files.size(), 1u);
  EXPECT_EQ(m->files[0].name, "daily.hdb");
  EXPECT_EQ(m->files[0].size, 68u);
}

TEST(UpdateBundle, AChangedByteOrAnotherKeyIsRefused) {
  KeyPair k = TestKey(1);
  SignedManifest s{SerializeManifest(OneFile()), ""};
  s.signature = Sign(s.manifest, k);
  SignedManifest changed = s;
  changed.manifest[changed.manifest.find("68")] = '9';  // size 98: a different manifest
  auto r = VerifyAndParse(changed, k.public_key);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(r.error().message().find("does not verify"), std::string::npos);

  auto other = VerifyAndParse(s, TestKey(2).public_key);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code(), StatusCode::kPermissionDenied);

  SignedManifest garbage = s;
  garbage.signature = "not base64!";
  EXPECT_EQ(VerifyAndParse(garbage, k.public_key).error().code(), StatusCode::kPermissionDenied);
}

TEST(UpdateBundle, AnOldVersionCannotBeServedAsANewOne) {
  KeyPair k = TestKey(1);
  SignedManifest s{SerializeManifest(OneFile()), ""};
  s.signature = Sign(s.manifest, k);
  auto r = VerifyAndParse(s, k.public_key, "clamav", 4);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("version 3 where 4"), std::string::npos);
  EXPECT_FALSE(VerifyAndParse(s, k.public_key, "yara", 3).has_value());
}

TEST(UpdateBundle, HostileFileNamesAreRefused) {
  for (const char* bad :
       {"../x.hdb", "/etc/x.hdb", "a/b.hdb", ".hidden.hdb", "-rf.hdb", "x.sh", "current", "x..hdb",
        "x.hdb\n", "x\\y.hdb", "", "x.hdb/", "v3", "a b.hdb"}) {
    EXPECT_FALSE(CheckFileName("clamav", bad).ok()) << bad;
  }
  EXPECT_TRUE(CheckFileName("clamav", "main.cvd").ok());
  EXPECT_TRUE(CheckFileName("clamav", "Daily.CLD").ok());
  EXPECT_TRUE(CheckFileName("yara", "rules_2026-12.yar").ok());
  EXPECT_FALSE(CheckFileName("yara", "main.cvd").ok());
  EXPECT_TRUE(CheckFileName("crs", "REQUEST-942-APPLICATION-ATTACK-SQLI.conf").ok());
  EXPECT_FALSE(CheckFileName("nope", "x.conf").ok());
  EXPECT_FALSE(CheckFileName("clamav", std::string(129, 'a') + ".hdb").ok());
}

TEST(UpdateBundle, ManifestErrorsNameTheField) {
  Manifest m = OneFile();
  m.files[0].name = "../../etc/passwd.hdb";
  auto r = ParseManifest(SerializeManifest(m));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("files[0].name"), std::string::npos) << r.error().message();

  m = OneFile();
  m.files.push_back(m.files[0]);
  EXPECT_NE(ParseManifest(SerializeManifest(m)).error().message().find("twice"), std::string::npos);
  m = OneFile();
  m.files[0].sha256 = std::string(64, 'A');
  EXPECT_NE(ParseManifest(SerializeManifest(m)).error().message().find("files[0].sha256"),
            std::string::npos);
  EXPECT_FALSE(ParseManifest("[]").has_value());
  EXPECT_FALSE(ParseManifest("{\"format\":\"other\"}").has_value());
  EXPECT_NE(ParseManifest(R"({"format":"ward-update-bundle/1","kind":"clamav","version":0,
      "created":"x","files":[]})")
                .error()
                .message()
                .find("version"),
            std::string::npos);
  EXPECT_FALSE(ParseManifest(R"({"format":"ward-update-bundle/1","kind":"clamav","version":1,
      "created":"x","files":[{"name":"a.hdb","sha256":")" +
                             std::string(64, 'a') + R"(","size":-1}]})")
                   .has_value());
}

TEST(UpdateBundle, ManagedReferences) {
  EXPECT_EQ(ManagedKind("managed:clamav"), "clamav");
  EXPECT_EQ(ManagedKind("managed:yara"), "yara");
  EXPECT_EQ(ManagedKind("managed:../x"), "");
  EXPECT_EQ(ManagedKind("/var/lib/clamav"), "");
  EXPECT_EQ(ManagedDir("/s", "clamav"), std::filesystem::path("/s/updates/clamav/current"));
}

}  // namespace
}  // namespace ward::updates

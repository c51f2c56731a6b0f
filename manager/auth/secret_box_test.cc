#include "manager/auth/secret_box.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "testing/temp_dir.h"

namespace ward::manager {
namespace {

TEST(SecretBox, SealsSoThatOnlyTheSameKeyOpens) {
  SecretBox box = SecretBox::Ephemeral();
  const std::string secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
  std::string a = box.Seal(secret);
  std::string b = box.Seal(secret);
  EXPECT_TRUE(SecretBox::IsSealed(a));
  EXPECT_NE(a, b) << "a fresh nonce per value";
  EXPECT_EQ(a.find(secret), std::string::npos);
  EXPECT_LE(a.size(), 255u) << "fits the users.totp_secret column";
  auto open = box.Open(a);
  ASSERT_TRUE(open.has_value()) << open.error().ToString();
  EXPECT_EQ(*open, secret);
  // Another key, a changed byte, a cut value: kDataLoss; not sealed at all: kInvalidArgument.
  EXPECT_EQ(SecretBox::Ephemeral().Open(a).error().code(), StatusCode::kDataLoss);
  std::string changed = a;
  changed[10] = changed[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(box.Open(changed).error().code(), StatusCode::kDataLoss);
  EXPECT_EQ(box.Open(a.substr(0, 20)).error().code(), StatusCode::kDataLoss);
  EXPECT_EQ(box.Open("sb1:!!!").error().code(), StatusCode::kDataLoss);
  EXPECT_EQ(box.Open(secret).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*box.Open(box.Seal("")), "");
}

TEST(SecretBox, KeyFileIsCreatedOwnerOnlyAndReadBack) {
  test::TempDir dir;
  const auto file = dir.path() / "state" / "manager.key";
  bool created = false;
  auto first = SecretBox::LoadOrCreate(file, &created);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_EQ(::stat(file.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "the state directory it made is the owner's only";
  std::string sealed = first->Seal("secret");
  auto again = SecretBox::LoadOrCreate(file, &created);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(created);
  EXPECT_EQ(*again->Open(sealed), "secret") << "the same key after a restart";
}

TEST(SecretBox, RefusesKeyFilesOthersCanReadOrOfTheWrongSize) {
  test::TempDir dir;
  const auto file = dir.path() / "manager.key";
  ASSERT_TRUE(SecretBox::LoadOrCreate(file).has_value());
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  auto open = SecretBox::LoadOrCreate(file);
  ASSERT_FALSE(open.has_value());
  EXPECT_EQ(open.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(open.error().message().find(file.string()), std::string::npos);
  const auto shortfile = dir.path() / "short.key";
  { std::ofstream(shortfile) << "too short"; }
  ASSERT_EQ(::chmod(shortfile.c_str(), 0600), 0);
  EXPECT_EQ(SecretBox::LoadOrCreate(shortfile).error().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ward::manager

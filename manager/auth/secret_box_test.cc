#include "manager/auth/secret_box.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

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

// Manager nodes sharing a state dir start at the same moment: each gets the one key that was
// created, none fails (a shared temporary name made one node's unlink break another's link).
TEST(SecretBox, NodesCreatingTheKeyTogetherAllGetTheSameKey) {
  for (int round = 0; round < 20; ++round) {
    test::TempDir dir;
    const auto file = dir.path() / "state" / "manager.key";
    constexpr int kNodes = 8;
    std::vector<std::string> sealed(kNodes);
    std::vector<std::string> errors(kNodes);
    std::vector<std::thread> nodes;
    for (int i = 0; i < kNodes; ++i) {
      nodes.emplace_back([&, i] {
        auto box = SecretBox::LoadOrCreate(file);
        if (box) {
          sealed[static_cast<size_t>(i)] = box->Seal("secret");
        } else {
          errors[static_cast<size_t>(i)] = box.error().ToString();
        }
      });
    }
    for (auto& t : nodes) t.join();
    auto key = SecretBox::LoadOrCreate(file);
    ASSERT_TRUE(key.has_value()) << key.error().ToString();
    for (int i = 0; i < kNodes; ++i) {
      ASSERT_EQ(errors[static_cast<size_t>(i)], "") << "node " << i << " round " << round;
      auto opened = key->Open(sealed[static_cast<size_t>(i)]);
      ASSERT_TRUE(opened.has_value()) << "node " << i << " sealed with another key";
      EXPECT_EQ(*opened, "secret");
    }
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(file.parent_path())) {
      (void)e;
      ++files;
    }
    EXPECT_EQ(files, 1u) << "no temporary file left beside the key";
  }
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

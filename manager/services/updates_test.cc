#include "manager/services/updates.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "common/clock.h"
#include "testing/temp_dir.h"

namespace ward::manager {
namespace {

namespace fs = std::filesystem;

updates::KeyPair Key(unsigned char fill) {
  std::array<unsigned char, 32> seed{};
  seed.fill(fill);
  return updates::KeyPairFromSeed(seed);
}

TEST(UpdateRepository, PublishMakesSignedVersionsThatAddToTheLatest) {
  test::TempDir tmp;
  auto repo = UpdateRepository::Open(tmp.path(), Key(1));
  ASSERT_TRUE(repo.has_value()) << repo.error().ToString();
  auto v1 = (*repo)->Publish("clamav", {{"a.hdb", "A"}}, false, SystemClock().Now());
  ASSERT_TRUE(v1.has_value()) << v1.error().ToString();
  EXPECT_EQ(v1->manifest.version, 1);
  auto v2 = (*repo)->Publish("clamav", {{"b.ndb", "B"}}, false, SystemClock().Now());
  ASSERT_TRUE(v2.has_value());
  EXPECT_EQ(v2->manifest.version, 2);
  ASSERT_EQ(v2->manifest.files.size(), 2u);
  auto v3 = (*repo)->Publish("clamav", {{"c.ldb", "C"}}, true, SystemClock().Now());
  ASSERT_EQ(v3->manifest.files.size(), 1u);
  // What an agent receives verifies with the public key the manager offers.
  auto key = updates::PublicKeyFromBase64((*repo)->PublicKeyBase64());
  ASSERT_TRUE(key.has_value());
  auto got = (*repo)->Get("clamav", 2);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(updates::VerifyAndParse(got->signed_manifest, *key, "clamav", 2).has_value());
  auto latest = (*repo)->Latest();
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].manifest.version, 3);
  EXPECT_EQ((*repo)->List("clamav").size(), 3u);
  // Files by hash, only those a version lists; nothing but 64 hex digits is a name.
  auto p = (*repo)->FilePath("clamav", v1->manifest.files[0].sha256);
  ASSERT_TRUE(p.has_value());
  std::ifstream in(*p);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "A");
  EXPECT_FALSE((*repo)->FilePath("yara", v1->manifest.files[0].sha256).has_value());
  EXPECT_FALSE((*repo)->FilePath("clamav", "../../manager.key").has_value());
  EXPECT_FALSE((*repo)->Publish("clamav", {{"../x.hdb", "X"}}, false, SystemClock().Now()));
  EXPECT_FALSE((*repo)->Publish("clamav", {{"x.sh", "X"}}, false, SystemClock().Now()));
  EXPECT_FALSE((*repo)->Publish("other", {{"x.hdb", "X"}}, false, SystemClock().Now()));
}

TEST(UpdateRepository, ImportingAnUnchangedDirectoryMakesNoVersion) {
  test::TempDir tmp;
  auto repo = UpdateRepository::Open(tmp.path() / "repo", Key(1));
  ASSERT_TRUE(repo.has_value());
  fs::create_directories(tmp.path() / "clamav");
  std::ofstream(tmp.path() / "clamav" / "daily.hdb") << "h1";
  std::ofstream(tmp.path() / "clamav" / "freshclam.dat") << "state";  // skipped
  std::vector<std::string> skipped;
  auto r1 =
      (*repo)->ImportDirectory("clamav", tmp.path() / "clamav", SystemClock().Now(), &skipped);
  ASSERT_TRUE(r1.has_value()) << r1.error().ToString();
  ASSERT_TRUE(r1->has_value());
  EXPECT_EQ((*r1)->manifest.version, 1);
  EXPECT_EQ(skipped, std::vector<std::string>{"freshclam.dat"});
  auto r2 = (*repo)->ImportDirectory("clamav", tmp.path() / "clamav", SystemClock().Now());
  ASSERT_TRUE(r2.has_value());
  EXPECT_FALSE(r2->has_value());
  std::ofstream(tmp.path() / "clamav" / "daily.hdb") << "h2";
  auto r3 = (*repo)->ImportDirectory("clamav", tmp.path() / "clamav", SystemClock().Now());
  ASSERT_TRUE(r3.has_value() && r3->has_value());
  EXPECT_EQ((*r3)->manifest.version, 2);
}

TEST(UpdateRepository, TwoNodesSharingTheDirectoryNeverMakeTheSameVersion) {
  test::TempDir tmp;
  auto a = UpdateRepository::Open(tmp.path(), Key(1));
  auto b = UpdateRepository::Open(tmp.path(), Key(1));
  ASSERT_TRUE(a.has_value() && b.has_value());
  std::vector<int64_t> va, vb;
  std::jthread ta([&] {
    for (int i = 0; i < 20; ++i) {
      auto r = (*a)->Publish("yara", {{"a.yar", "rule a" + std::to_string(i)}}, false,
                             SystemClock().Now());
      if (r) va.push_back(r->manifest.version);
    }
  });
  std::jthread tb([&] {
    for (int i = 0; i < 20; ++i) {
      auto r = (*b)->Publish("yara", {{"b.yar", "rule b" + std::to_string(i)}}, false,
                             SystemClock().Now());
      if (r) vb.push_back(r->manifest.version);
    }
  });
  ta.join();
  tb.join();
  ASSERT_EQ(va.size(), 20u);
  ASSERT_EQ(vb.size(), 20u);
  std::set<int64_t> all(va.begin(), va.end());
  all.insert(vb.begin(), vb.end());
  EXPECT_EQ(all.size(), 40u);
  EXPECT_EQ((*a)->List("yara").size(), 40u);
}

TEST(UpdateRepository, AManifestChangedOnDiskIsNotOffered) {
  test::TempDir tmp;
  auto repo = UpdateRepository::Open(tmp.path(), Key(1));
  ASSERT_TRUE((*repo)->Publish("clamav", {{"a.hdb", "A"}}, false, SystemClock().Now()));
  // Someone with write access to the directory but not the key.
  auto other = UpdateRepository::Open(tmp.path() / "other", Key(2));
  auto forged = (*other)->Publish("clamav", {{"a.hdb", "EVIL"}}, false, SystemClock().Now());
  fs::copy_file(tmp.path() / "other" / "clamav" / "1.json", tmp.path() / "clamav" / "2.json");
  auto fresh = UpdateRepository::Open(tmp.path(), Key(1));
  auto latest = (*fresh)->Latest();
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].manifest.version, 1);
}

}  // namespace
}  // namespace ward::manager

#include "manager/services/updates.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "agent/updates/cdiff.h"
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

// ---- ClamAV cdiff deltas (docs/updates.md, "Incremental ClamAV updates") ----------------------

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// daily.cud v`version` built by ClamAV's sigtool (tar.gz, as freshclam-era tools write them)
// from `n` body signatures starting at `first`.
std::string SigtoolCud(const fs::path& work, int first, int n, int version) {
  fs::remove_all(work);
  fs::create_directories(work);
  std::ofstream(work / "COPYING") << "test\n";
  {
    std::ofstream ndb(work / "daily.ndb");
    for (int i = first; i < first + n; ++i) {
      ndb << "Ward.Test.Body-" << i << ":0:*:" << std::hex << 0x7761726400000000ULL + i << std::dec
          << "\n";
    }
  }
  const std::string cmd = "cd '" + work.string() +
                          "' && echo ward-test | sigtool --build=daily.cud --unsigned "
                          "--cvd-version=" +
                          std::to_string(version) + " --datadir='" + (work / "none").string() +
                          "' >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return ReadAll(work / "daily.cud");
}

TEST(UpdateRepository, ClamAvContainersGetAVerifiedCdiffFromTheVersionBefore) {
  ASSERT_EQ(std::system("command -v sigtool >/dev/null 2>&1"), 0)
      << "sigtool (Debian package clamav) is needed: scripts/install-deps";
  test::TempDir tmp;
  auto repo = UpdateRepository::Open(tmp.path() / "repo", Key(1));
  ASSERT_TRUE(repo.has_value());
  const std::string v1 = SigtoolCud(tmp.path() / "b1", 0, 2000, 1);
  const std::string v2 = SigtoolCud(tmp.path() / "b2", 20, 2000, 2);  // 20 gone, 20 new
  // Published through the freshclam-directory import, as an operator's manager gets them.
  fs::create_directories(tmp.path() / "fc");
  std::ofstream(tmp.path() / "fc" / "daily.cud", std::ios::binary) << v1;
  std::ofstream(tmp.path() / "fc" / "local.hdb") << "44d88612fea8a8f36de82e1278abb02f:68:E\n";
  auto r1 = (*repo)->ImportDirectory("clamav", tmp.path() / "fc", SystemClock().Now());
  ASSERT_TRUE(r1.has_value() && r1->has_value()) << (r1 ? "" : r1.error().ToString());
  // The container is published in canonical form: same files, deterministic bytes, and no new
  // version for the same freshclam file at the next import.
  const updates::FileEntry& f1 = (*r1)->manifest.files[0];
  ASSERT_EQ(f1.name, "daily.cud");
  EXPECT_FALSE(f1.delta.has_value());
  const std::string c1 = ReadAll(*(*repo)->FilePath("clamav", f1.sha256));
  EXPECT_EQ(updates::cdiff::ReadDatabase(c1)->files, updates::cdiff::ReadDatabase(v1)->files);
  EXPECT_EQ(c1, *updates::cdiff::WriteCanonical(updates::cdiff::ReadDatabase(v1)->files));
  auto again = (*repo)->ImportDirectory("clamav", tmp.path() / "fc", SystemClock().Now());
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->has_value());

  std::ofstream(tmp.path() / "fc" / "daily.cud", std::ios::binary | std::ios::trunc) << v2;
  auto r2 = (*repo)->ImportDirectory("clamav", tmp.path() / "fc", SystemClock().Now());
  ASSERT_TRUE(r2.has_value() && r2->has_value());
  const updates::FileEntry& f2 = (*r2)->manifest.files[0];
  ASSERT_TRUE(f2.delta.has_value());
  EXPECT_EQ(f2.delta->from_sha256, f1.sha256);
  EXPECT_FALSE((*r2)->manifest.files[1].delta.has_value());  // local.hdb: unchanged, no delta
  // The signed manifest carries it; the agent's call serves it by hash.
  auto parsed = updates::ParseManifest((*r2)->signed_manifest.manifest);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(parsed->files[0].delta, f2.delta);
  auto dpath = (*repo)->FilePath("clamav", f2.delta->sha256);
  ASSERT_TRUE(dpath.has_value());
  const std::string cdiff = ReadAll(*dpath);
  EXPECT_EQ(cdiff.size(), f2.delta->size);
  EXPECT_LT(cdiff.size() * 10, f2.size) << cdiff.size() << " vs " << f2.size;
  // Applying it to v1's published bytes gives v2's published bytes exactly.
  auto db = updates::cdiff::ReadDatabase(c1);
  auto script = updates::cdiff::ScriptOf(cdiff);
  ASSERT_TRUE(db.has_value() && script.has_value());
  ASSERT_TRUE(updates::cdiff::ApplyScript(*script, db->files).ok());
  EXPECT_EQ(*updates::cdiff::WriteCanonical(db->files),
            ReadAll(*(*repo)->FilePath("clamav", f2.sha256)));
  // A third version built from something else than v2's file lists no delta from v1.
  auto r3 = (*repo)->Publish("clamav", {{"main.hdb", "x:1:y\n"}}, false, SystemClock().Now());
  ASSERT_TRUE(r3.has_value());
  for (const auto& f : r3->manifest.files) EXPECT_FALSE(f.delta.has_value()) << f.name;
}

}  // namespace
}  // namespace ward::manager

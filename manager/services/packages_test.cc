#include "manager/services/packages.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/hash.h"
#include "testing/temp_dir.h"

namespace ward::manager {
namespace {

std::string FakeDeb(std::string_view tag) { return "!<arch>\ndebian-binary   " + std::string(tag); }

TEST(PackageCatalog, LoadsTheDebianPackagesOfItsDirectoryWithTheirHashes) {
  test::TempDir dir;
  test::WriteFile(dir.Sub("ward-agent_0.1.0_amd64.deb"), FakeDeb("a"));
  test::WriteFile(dir.Sub("ward-agent_0.1.0_arm64.deb"), FakeDeb("b"));
  test::WriteFile(dir.Sub("ward-manager_0.1.0_amd64.deb"), FakeDeb("c"));
  test::WriteFile(dir.Sub("notes.txt"), "not a package");
  test::WriteFile(dir.Sub("ward-agent.deb"), FakeDeb("no version"));  // skipped: name
  test::WriteFile(dir.Sub("ward-agent_0.2.0_amd64.deb"), "a shell script, not an ar archive");
  test::WriteFile(dir.Sub("ward agent_0.1.0_amd64.deb"), FakeDeb("space"));  // skipped: charset
  std::filesystem::create_directories(dir.Sub("sub.deb"));
  auto c = PackageCatalog::Load(dir.path());
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_EQ(c->packages().size(), 3u);
  const AgentPackage* p = c->Find("ward-agent_0.1.0_arm64.deb");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "ward-agent");
  EXPECT_EQ(p->version, "0.1.0");
  EXPECT_EQ(p->arch, "arm64");
  EXPECT_EQ(*p->bytes, FakeDeb("b"));
  EXPECT_EQ(p->sha256, DigestHex(Sha256::Of(FakeDeb("b"))));
  EXPECT_EQ(c->Find("ward-agent_0.2.0_amd64.deb"), nullptr);
  EXPECT_EQ(c->Find("../ward-agent_0.1.0_amd64.deb"), nullptr);
  auto agents = c->AgentPackages("0.1.0");
  ASSERT_EQ(agents.size(), 2u);  // one per architecture, no ward-manager
  EXPECT_EQ(agents[0]->arch, "amd64");
  EXPECT_EQ(agents[1]->arch, "arm64");
}

TEST(PackageCatalog, PrefersTheManagersOwnVersionElseTheLastName) {
  test::TempDir dir;
  test::WriteFile(dir.Sub("ward-agent_0.1.0_amd64.deb"), FakeDeb("old"));
  test::WriteFile(dir.Sub("ward-agent_0.3.0_amd64.deb"), FakeDeb("new"));
  auto c = PackageCatalog::Load(dir.path());
  ASSERT_TRUE(c);
  ASSERT_EQ(c->AgentPackages("0.1.0").size(), 1u);
  EXPECT_EQ(c->AgentPackages("0.1.0")[0]->version, "0.1.0");
  EXPECT_EQ(c->AgentPackages("9.9.9")[0]->version, "0.3.0");
}

TEST(PackageCatalog, RefusesAMissingDirectoryAndAcceptsAnEmptyOne) {
  test::TempDir dir;
  auto missing = PackageCatalog::Load(dir.Sub("nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  auto empty = PackageCatalog::Load(dir.path());
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->packages().empty());
  EXPECT_TRUE(empty->AgentPackages("0.1.0").empty());
}

TEST(PackageCatalog, FileNamesFromRequestsAreCheckedBeforeAnyLookup) {
  EXPECT_TRUE(IsPackageFileName("ward-agent_0.1.0+b1~rc1_amd64.deb"));
  for (const char* bad : {"", ".deb", "../x.deb", "a/b.deb", "x.deb/", "x%2f.deb", ".hidden.deb",
                          "x.tar", "x y.deb", "x..deb"}) {
    EXPECT_FALSE(IsPackageFileName(bad)) << bad;
  }
}

}  // namespace
}  // namespace ward::manager

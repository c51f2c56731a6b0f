#include "agent/transport/identity.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "testing/temp_dir.h"

namespace ward::agent::transport {
namespace {

using ward::test::TempDir;
using ward::test::WriteFile;

TEST(Identity, IsSavedRootOnlyAndReadBack) {
  TempDir dir;
  Identity id{"a1", "wac_a1_secret", "t1", "https://m:4119", std::string(64, 'b'), "", "mid", 30};
  ASSERT_TRUE(SaveIdentity(dir.path(), id).ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.Sub("transport/identity.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir.Sub("transport").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto back = LoadIdentity(dir.path());
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->credential, "wac_a1_secret");
  EXPECT_EQ(back->heartbeat_interval_s, 30);
}

TEST(Identity, MissingIsNotFoundAndDamagedNamesTheField) {
  TempDir dir;
  auto none = LoadIdentity(dir.path());
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), StatusCode::kNotFound);
  WriteFile(dir.Sub("transport/identity.json"), R"({"agent_id":"a"})");
  auto bad = LoadIdentity(dir.path());
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("credential: missing"), std::string::npos);
}

TEST(Identity, PolicyCacheRoundTrips) {
  TempDir dir;
  ManagedPolicy p{"p1", 7, {{"integrity", {{"paths", nlohmann::json::array()}}}}};
  ASSERT_TRUE(SaveCachedPolicy(dir.path(), p).ok());
  auto back = LoadCachedPolicy(dir.path());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->version, 7);
  EXPECT_EQ(back->document, p.document);
}

TEST(Identity, MachineIdComesFromTheEnvironmentWhenSet) {
  ::setenv("WARD_MACHINE_ID", "clone-test-1", 1);
  EXPECT_EQ(MachineId(), "clone-test-1");
  ::unsetenv("WARD_MACHINE_ID");
  EXPECT_NE(MachineId(), "clone-test-1");
}

}  // namespace
}  // namespace ward::agent::transport

#include "manager/auth/time_zones.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/temp_dir.h"

namespace ward::manager {
namespace {

TEST(TimeZones, AcceptsNamesWhoseZoneInfoFileIsTzif) {
  ward::test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "Asia");
  std::ofstream(dir.path() / "Asia" / "Tokyo") << "TZif2 rest of the file";
  std::ofstream(dir.path() / "zone.tab") << "# not a zone";
  EXPECT_TRUE(ValidTimeZone("Asia/Tokyo", dir.path()));
  EXPECT_TRUE(ValidTimeZone("UTC", dir.path())) << "UTC needs no file";
  EXPECT_FALSE(ValidTimeZone("Asia/Osaka", dir.path())) << "no such file";
  EXPECT_FALSE(ValidTimeZone("zone.tab", dir.path())) << "'.' is not allowed";
  EXPECT_FALSE(ValidTimeZone("Asia", dir.path())) << "a directory";
  EXPECT_FALSE(ValidTimeZone("", dir.path()));
  EXPECT_FALSE(ValidTimeZone("/Asia/Tokyo", dir.path()));
  EXPECT_FALSE(ValidTimeZone("Asia//Tokyo", dir.path()));
  EXPECT_FALSE(ValidTimeZone("Asia/Tokyo/", dir.path()));
  EXPECT_FALSE(ValidTimeZone("../Asia/Tokyo", dir.path()));
  EXPECT_FALSE(ValidTimeZone("Asia/../Asia/Tokyo", dir.path()));
  EXPECT_FALSE(ValidTimeZone(std::string(65, 'A'), dir.path()));
}

TEST(TimeZones, TheSystemDatabaseKnowsTokyoAndNewYork) {
  // tzdata is installed by scripts/install-deps
  EXPECT_TRUE(ValidTimeZone("Asia/Tokyo"));
  EXPECT_TRUE(ValidTimeZone("America/New_York"));
  EXPECT_TRUE(ValidTimeZone("Etc/GMT+9"));
  EXPECT_FALSE(ValidTimeZone("Mars/Olympus_Mons"));
  EXPECT_FALSE(ValidTimeZone("Asia/Tokyo<script>"));
}

}  // namespace
}  // namespace ward::manager

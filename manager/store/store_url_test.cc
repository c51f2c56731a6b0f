#include "manager/store/store_url.h"

#include <gtest/gtest.h>

namespace ward::manager {
namespace {

TEST(StoreUrl, SqlitePathBecomesDbOption) {
  auto u = ParseStoreUrl("sqlite:/var/lib/ward/manager.db");
  ASSERT_TRUE(u.has_value()) << u.error().ToString();
  EXPECT_EQ(u->dialect, Dialect::kSqlite);
  EXPECT_EQ(u->database, "/var/lib/ward/manager.db");
  EXPECT_EQ(u->connect, "db=/var/lib/ward/manager.db timeout=10");
}

TEST(StoreUrl, PostgresUrlIsTranslatedAndPasswordRedacted) {
  auto u =
      ParseStoreUrl("postgresql://ward:s%40cr%27t@db.example:5433/ward?pool=4&sslmode=require");
  ASSERT_TRUE(u.has_value()) << u.error().ToString();
  EXPECT_EQ(u->dialect, Dialect::kPostgres);
  EXPECT_EQ(u->pool_size, 4);
  EXPECT_EQ(u->connect,
            "host='db.example' port=5433 dbname='ward' connect_timeout=5 user='ward' "
            "password='s@cr\\'t' sslmode=require");
  EXPECT_EQ(u->redacted, "postgresql://ward:***@db.example:5433/ward");
}

TEST(StoreUrl, MysqlUrlDefaultsPort) {
  auto u = ParseStoreUrl("mysql://root@localhost/ward");
  ASSERT_TRUE(u.has_value()) << u.error().ToString();
  EXPECT_EQ(u->dialect, Dialect::kMysql);
  EXPECT_EQ(u->connect,
            "host=localhost port=3306 db=ward connect_timeout=5 charset=utf8mb4 "
            "user='root'");
}

TEST(StoreUrl, RejectsMalformedUrlsNamingTheProblem) {
  struct Case {
    const char* url;
    const char* says;
  } cases[] = {
      {"oracle://x/y", "unknown scheme"},
      {"sqlite:", "file path"},
      {"sqlite::memory:", "not supported"},
      {"sqlite:/my data/x.db", "spaces"},
      {"postgresql://host", "missing /database"},
      {"postgresql://host:99999/db", "port"},
      {"postgresql://host/db;drop", "database name"},
      {"mysql://host/db?pool=0", "pool"},
      {"mysql://host/db?colour=red", "unknown option 'colour'"},
      {"postgresql://u:%zz@host/db", "percent-encoding"},
      {"postgresql://host/db?sslmode=maybe", "sslmode"},
  };
  for (const auto& c : cases) {
    auto u = ParseStoreUrl(c.url);
    ASSERT_FALSE(u.has_value()) << c.url;
    EXPECT_EQ(u.error().code(), StatusCode::kInvalidArgument) << c.url;
    EXPECT_NE(u.error().message().find(c.says), std::string::npos)
        << c.url << " -> " << u.error().message();
  }
}

TEST(StoreUrl, WithDatabaseKeepsCredentialsAndOptions) {
  auto u = WithDatabase("mysql://ward:pw@127.0.0.1:3306/ward?pool=2", "other_db");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(*u, "mysql://ward:pw@127.0.0.1:3306/other_db?pool=2");
}

}  // namespace
}  // namespace ward::manager

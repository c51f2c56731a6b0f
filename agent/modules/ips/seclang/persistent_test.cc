#include "agent/modules/ips/seclang/persistent.h"

#include <gtest/gtest.h>

namespace ward::seclang {
namespace {

class PersistentTest : public ::testing::Test {
 protected:
  PersistentCollections Make(size_t max_entries = 100, int64_t timeout = 3600) {
    return PersistentCollections({max_entries, timeout}, [this] { return now_; });
  }
  static std::string Value(const PersistentCollections& p, std::string_view c,
                           const std::string& k) {
    const PersistentMap& col = p.Get(c);
    auto f = col.find(k);
    return f == col.end() ? "<none>" : f->second;
  }
  int64_t now_ = 1000;
};

TEST_F(PersistentTest, KeysAreLibmodsecurityCompartmentsComparedWithoutCase) {
  EXPECT_EQ(PersistentCollections::Prefix("192.0.2.1_abc", ""), "192.0.2.1_abc::::");
  EXPECT_EQ(PersistentCollections::Prefix("k", "app"), "k::app::");
  EXPECT_TRUE(PersistentCollections::IsPersistent("IP"));
  EXPECT_TRUE(PersistentCollections::IsPersistent("USER"));
  EXPECT_FALSE(PersistentCollections::IsPersistent("TX"));
  auto p = Make();
  p.Store("IP", "a::::Hits", "1");
  p.Store("IP", "a::::hits", "2");  // the same entry: updated, not added
  EXPECT_EQ(p.size(), 1u);
  EXPECT_EQ(p.Get("IP").size(), 1u);
  EXPECT_EQ(Value(p, "IP", "A::::HITS"), "2");
  EXPECT_EQ(Value(p, "GLOBAL", "a::::hits"), "<none>");
  p.Erase("IP", "A::::hIts");
  EXPECT_EQ(p.size(), 0u);
  EXPECT_TRUE(p.Get("IP").empty());
}

TEST_F(PersistentTest, EntriesExpireAfterTheTimeoutOrTheirExpirevar) {
  auto p = Make(100, 60);
  p.Store("IP", "a::::x", "1");
  p.Store("IP", "a::::y", "1", 600);  // SecCollectionTimeout of the rule set
  p.Store("IP", "a::::z", "1");
  EXPECT_TRUE(p.ExpireIn("IP", "a::::z", 10));
  EXPECT_FALSE(p.ExpireIn("IP", "a::::missing", 10));
  now_ += 10;
  p.Expire();
  EXPECT_EQ(Value(p, "IP", "a::::z"), "<none>");
  EXPECT_EQ(Value(p, "IP", "a::::x"), "1");
  // A write moves the expiry: x written again at 1010 lives until 1070.
  p.Store("IP", "a::::x", "2");
  now_ = 1069;
  p.Expire();
  EXPECT_EQ(Value(p, "IP", "a::::x"), "2");
  now_ = 1070;
  p.Expire();
  EXPECT_EQ(Value(p, "IP", "a::::x"), "<none>");
  EXPECT_EQ(Value(p, "IP", "a::::y"), "1");
  now_ = 1600;
  p.Expire();
  EXPECT_EQ(p.size(), 0u);
}

TEST_F(PersistentTest, TheBoundDropsTheLeastRecentlyWritten) {
  auto p = Make(3);
  p.Store("IP", "1::::n", "1");
  p.Store("IP", "2::::n", "1");
  p.Store("GLOBAL", "g::::n", "1");
  p.Store("IP", "1::::n", "2");  // 1 is now the most recent
  p.Store("IP", "3::::n", "1");  // over the bound: 2 goes
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(Value(p, "IP", "2::::n"), "<none>");
  EXPECT_EQ(Value(p, "IP", "1::::n"), "2");
  EXPECT_EQ(Value(p, "GLOBAL", "g::::n"), "1");
  for (int i = 0; i < 1000; ++i) p.Store("IP", std::to_string(i) + "::::n", "1");
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(p.Get("IP").size() + p.Get("GLOBAL").size(), 3u);
}

}  // namespace
}  // namespace ward::seclang

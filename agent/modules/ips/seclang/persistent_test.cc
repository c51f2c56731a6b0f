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

TEST_F(PersistentTest, SerializedCollectionsComeBackWithTheirValuesOrderAndExpiry) {
  auto p = Make(3);
  p.Store("IP", "192.0.2.1::::Hits", "7");
  p.Store("GLOBAL", "g::::n", std::string("a\n b\0c", 7));  // any bytes
  p.Store("SESSION", "s::::x", "", 10);                     // ends 10 s from now
  p.Store("IP", "192.0.2.1::::Hits", "8");                  // rewritten: now the newest
  ASSERT_TRUE(p.ExpireIn("GLOBAL", "g::::n", 100));
  const int64_t wall = 1'800'000'000;
  const std::string text = p.Serialize(wall);

  // Restored by another instance (another process), whose clock starts elsewhere, 4 s later.
  now_ = 50;
  auto q = Make(3);
  auto added = q.Restore(text, wall + 4);
  ASSERT_TRUE(added.has_value()) << added.error().ToString();
  EXPECT_EQ(*added, 3u);
  EXPECT_EQ(Value(q, "IP", "192.0.2.1::::hits"), "8");
  EXPECT_EQ(q.Get("IP").begin()->first, "192.0.2.1::::Hits");  // the key as written
  EXPECT_EQ(Value(q, "GLOBAL", "g::::n"), std::string("a\n b\0c", 7));
  EXPECT_EQ(Value(q, "SESSION", "s::::x"), "");
  EXPECT_EQ(q.Serialize(wall + 4), text);  // order and (wall-clock) expiries kept
  // The expiries continue: SESSION had 6 s left, GLOBAL 96 s, IP an hour.
  now_ = 56;
  q.Expire();
  EXPECT_EQ(Value(q, "SESSION", "s::::x"), "<none>");
  EXPECT_EQ(Value(q, "GLOBAL", "g::::n"), std::string("a\n b\0c", 7));
  now_ = 50 + 96;
  q.Expire();
  EXPECT_EQ(Value(q, "GLOBAL", "g::::n"), "<none>");
  EXPECT_EQ(Value(q, "IP", "192.0.2.1::::hits"), "8");
  // The write order is kept for the bound: the oldest restored entry goes first.
  q.Store("USER", "u::::a", "1");
  q.Store("USER", "u::::b", "1");
  q.Store("USER", "u::::c", "1");
  EXPECT_EQ(Value(q, "IP", "192.0.2.1::::hits"), "<none>");

  // What expired while nobody ran is not restored.
  auto r = Make();
  auto late = r.Restore(text, wall + 20);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(*late, 2u);
  EXPECT_EQ(Value(r, "SESSION", "s::::x"), "<none>");
  auto empty = Make();
  EXPECT_EQ(empty.Serialize(wall), "ward-ips-collections 1\n0\nend\n");
  EXPECT_EQ(*empty.Restore(empty.Serialize(wall), wall), 0u);
}

TEST_F(PersistentTest, ACorruptTextIsRefusedWithWhereAndChangesNothing) {
  auto p = Make();
  p.Store("IP", "a::::n", "1");
  p.Store("GLOBAL", "b::::n", "22");
  const std::string text = p.Serialize(1000);
  auto refused = [&](const std::string& bad) {
    auto q = Make();
    q.Store("USER", "kept::::x", "1");
    auto r = q.Restore(bad, 1000);
    if (r.has_value()) return false;
    EXPECT_EQ(r.error().code(), StatusCode::kDataLoss);
    EXPECT_NE(r.error().message().find("at byte"), std::string::npos) << r.error().message();
    EXPECT_EQ(q.size(), 1u);  // nothing added, nothing lost
    EXPECT_EQ(Value(q, "USER", "kept::::x"), "1");
    return true;
  };
  // Every truncation, and every single-byte change of the structure, is refused.
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_TRUE(refused(text.substr(0, n))) << "truncated to " << n;
  }
  EXPECT_TRUE(refused(text + "x"));
  EXPECT_TRUE(refused("ward-ips-collections 2" + text.substr(22)));
  std::string other = text;
  other.replace(other.find("GLOBAL"), 6, "TXXXXX");
  EXPECT_TRUE(refused(other));
  std::string longer = text;
  longer.replace(longer.find("GLOBAL 6 2"), 10, "GLOBAL 6 3");
  EXPECT_TRUE(refused(longer));
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused("ward-ips-collections 1\n99999999999999999999\n"));
}

}  // namespace
}  // namespace ward::seclang

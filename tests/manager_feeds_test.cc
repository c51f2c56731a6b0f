// Egress reputation feeds through the manager (issue #17, s9-feeds; docs/egress.md "Managed
// feeds", docs/api.md "Egress feeds"): upload with the strict check (a bad line refused, named,
// nothing stored), list/get/content/replace/delete, tenancy, the primary tenant's shared feeds,
// and each tenant's signed "feeds" bundle offered in heartbeats and served on /agent/v1/updates/*.
#include <gtest/gtest.h>

#include <array>
#include <set>

#include "agent/updates/bundle.h"
#include "common/hash.h"
#include "manager/services/updates.h"
#include "tests/manager_harness.h"

namespace ward::test {
namespace {

Json Heartbeat() {
  return {{"machine_id", "machine-1"},
          {"status",
           {{"version", "0.1.1"},
            {"hostname", "web-01"},
            {"policy_version", 0},
            {"modules", Json::array()}}},
          {"command_results", Json::array()}};
}

class Feeds : public ::testing::Test {
 protected:
  static manager::ApiOptions Options(const std::filesystem::path& dir) {
    std::array<unsigned char, 32> seed{};
    seed[0] = 7;
    manager::ApiOptions o;
    o.updates = std::shared_ptr<manager::UpdateRepository>(
        manager::UpdateRepository::Open(dir, updates::KeyPairFromSeed(seed)).value().release());
    return o;
  }
  Feeds() : m_(Options(dir_.path())) {}

  Reply Upload(const std::string& key, const std::string& query, const std::string& body) {
    return m_.Do("POST", "/api/v1/feeds?" + query, key, body, "text/plain");
  }
  // The feeds bundle the heartbeat offers (0: none).
  int64_t Offered(const std::string& cred) {
    Reply h = m_.Post("/agent/v1/heartbeat", cred, Heartbeat());
    EXPECT_EQ(h.status, 200) << h.raw;
    for (const auto& b : h.body["updates"]["bundles"]) {
      if (b["kind"] == "feeds") return b["version"].get<int64_t>();
    }
    return 0;
  }
  // The files (name -> bytes) of the tenant's feeds bundle `version`, signature checked.
  std::map<std::string, std::string> Files(const std::string& cred, int64_t version) {
    Reply h = m_.Post("/agent/v1/heartbeat", cred, Heartbeat());
    auto key = updates::PublicKeyFromBase64(h.body["updates"]["key"].get<std::string>());
    EXPECT_TRUE(key.has_value());
    Reply r =
        m_.Post("/agent/v1/updates/manifest", cred, {{"kind", "feeds"}, {"version", version}});
    EXPECT_EQ(r.status, 200) << r.raw;
    auto sm = updates::ParseSignedManifest(r.raw);
    EXPECT_TRUE(sm.has_value());
    auto man = updates::VerifyAndParse(*sm, *key, "feeds");
    EXPECT_TRUE(man.has_value()) << man.error().ToString();
    std::map<std::string, std::string> out;
    for (const auto& f : man->files) {
      Reply fr = m_.Post("/agent/v1/updates/file", cred, {{"kind", "feeds"}, {"sha256", f.sha256}});
      EXPECT_EQ(fr.status, 200);
      EXPECT_EQ(DigestHex(Sha256::Of(fr.raw)), f.sha256);
      out[f.name] = fr.raw;
    }
    return out;
  }

  TempDir dir_;
  ManagerHarness m_;
};

TEST_F(Feeds, UploadIsCheckedStrictlyAndABadFeedStoresNothing) {
  auto [a, a_key] = m_.NewTenant("tenant-a");
  Reply r = Upload(a_key, "name=urlhaus&format=urlhaus_csv",
                   "# id,dateadded,url\n\"1\",\"2026-12-01\",\"http://files.example/x.sh\"\n");
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string id = r.body["id"];
  EXPECT_EQ(r.body["file"], "urlhaus.csv");
  EXPECT_EQ(r.body["reference"], "managed:feeds/urlhaus");
  EXPECT_EQ(r.body["entries"], 1);
  EXPECT_EQ(r.body["shared"], false);

  // A line the format cannot read: 400 naming the line; nothing stored.
  r = Upload(a_key, "name=ads&format=hosts", "0.0.0.0 ads.example\n0.0.0.0\n");
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "invalid_feed");
  EXPECT_EQ(r.body["error"]["field"], "body");
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("line 2: \"0.0.0.0\""),
            std::string::npos)
      << r.raw;
  EXPECT_EQ(m_.Get("/api/v1/feeds", a_key).body["items"].size(), 1u);
  // A bad replacement keeps the stored feed as it was.
  r = m_.Do("PUT", "/api/v1/feeds/" + id, a_key, "\"2\",\"x\",\"not a url\"\n", "text/plain");
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("line 1: "), std::string::npos);
  r = m_.Get("/api/v1/feeds/" + id + "/content", a_key);
  EXPECT_EQ(r.raw, "# id,dateadded,url\n\"1\",\"2026-12-01\",\"http://files.example/x.sh\"\n");

  // Names, formats, bodies and the shared flag are checked.
  EXPECT_EQ(Upload(a_key, "name=urlhaus&format=domains", "a.example\n").status, 409);
  EXPECT_EQ(Upload(a_key, "name=Bad%20Name&format=domains", "a.example\n").status, 400);
  EXPECT_EQ(Upload(a_key, "name=x&format=yaml", "a.example\n").status, 400);
  EXPECT_EQ(Upload(a_key, "name=x", "a.example\n").status, 400);
  EXPECT_EQ(Upload(a_key, "name=x&format=domains", "").status, 400);
  r = Upload(a_key, "name=x&format=domains&shared=true", "a.example\n");
  EXPECT_EQ(r.status, 403) << r.raw;
  EXPECT_EQ(r.body["error"]["field"], "shared");
  EXPECT_EQ(Upload(m_.NewKey(a_key, "auditor"), "name=x&format=domains", "a.example\n").status,
            403);
  EXPECT_EQ(m_.Get("/api/v1/feeds", a_key).body["items"].size(), 1u);

  // Replace (a new format too) and delete.
  r = m_.Do("PUT", "/api/v1/feeds/" + id + "?format=domains", a_key, "a.example\nb.example\n",
            "text/plain");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["file"], "urlhaus.domains");
  EXPECT_EQ(r.body["entries"], 2);
  r = m_.Get("/api/v1/feeds/" + id, a_key);
  EXPECT_EQ(r.body["format"], "domains");
  EXPECT_EQ(r.body["size"], 20);
  EXPECT_EQ(m_.Delete("/api/v1/feeds/" + id, a_key).status, 204);
  EXPECT_EQ(m_.Get("/api/v1/feeds/" + id, a_key).status, 404);
  (void)a;
}

TEST_F(Feeds, EachTenantsAgentsGetItsOwnSignedBundleAndThePrimarysSharedFeeds) {
  auto [a, a_key] = m_.NewTenant("tenant-a");
  auto [b, b_key] = m_.NewTenant("tenant-b");
  auto [a_agent, a_cred] = m_.NewAgent(a_key, "a-host");
  auto [b_agent, b_cred] = m_.NewAgent(b_key, "b-host");
  // No feed anywhere: no feeds bundle offered.
  EXPECT_EQ(Offered(a_cred), 0);

  Reply r = Upload(a_key, "name=blocked&format=domains", "blocked.example\n");
  ASSERT_EQ(r.status, 201) << r.raw;
  const std::string a_feed = r.body["id"];
  EXPECT_EQ(Offered(a_cred), 1);
  EXPECT_EQ(Offered(a_cred), 1);  // unchanged: no new version
  EXPECT_EQ(Offered(b_cred), 0);  // B has none
  auto files = Files(a_cred, 1);
  EXPECT_EQ(files, (std::map<std::string, std::string>{{"blocked.domains", "blocked.example\n"}}));
  // B's agent can reach neither A's manifest nor A's file by its hash.
  EXPECT_EQ(
      m_.Post("/agent/v1/updates/manifest", b_cred, {{"kind", "feeds"}, {"version", 1}}).status,
      404);
  const std::string sha = DigestHex(Sha256::Of("blocked.example\n"));
  EXPECT_EQ(m_.Post("/agent/v1/updates/file", b_cred, {{"kind", "feeds"}, {"sha256", sha}}).status,
            404);

  // The primary tenant shares a feed with every tenant; a tenant's own feed of the same name wins.
  r = Upload(m_.primary_key(), "name=drop&format=spamhaus_drop&shared=true",
             "203.0.113.0/24 ; SBL1\n");
  ASSERT_EQ(r.status, 201) << r.raw;
  r = Upload(m_.primary_key(), "name=blocked&format=domains&shared=true", "primary.example\n");
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(Offered(a_cred), 2);
  EXPECT_EQ(Files(a_cred, 2),
            (std::map<std::string, std::string>{{"blocked.domains", "blocked.example\n"},
                                                {"drop.drop", "203.0.113.0/24 ; SBL1\n"}}));
  EXPECT_EQ(Offered(b_cred), 1);
  EXPECT_EQ(Files(b_cred, 1),
            (std::map<std::string, std::string>{{"blocked.domains", "primary.example\n"},
                                                {"drop.drop", "203.0.113.0/24 ; SBL1\n"}}));
  // B does not see the primary's feeds in its own list.
  EXPECT_EQ(m_.Get("/api/v1/feeds", b_key).body["items"].size(), 0u);

  // A replaced feed makes a new version; a deleted one leaves it.
  r = m_.Do("PUT", "/api/v1/feeds/" + a_feed, a_key, "other.example\n", "text/plain");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(Offered(a_cred), 3);
  EXPECT_EQ(Files(a_cred, 3).at("blocked.domains"), "other.example\n");
  ASSERT_EQ(m_.Delete("/api/v1/feeds/" + a_feed, a_key).status, 204);
  EXPECT_EQ(Offered(a_cred), 4);
  EXPECT_EQ(Files(a_cred, 4).at("blocked.domains"), "primary.example\n");
  // The global repository never takes a "feeds" bundle.
  r = m_.Do("PUT", "/api/v1/updates/feeds/files/x.domains", m_.primary_key(), "a.example\n",
            "application/octet-stream");
  EXPECT_EQ(r.status, 400) << r.raw;
  (void)a;
  (void)b;
  (void)a_agent;
  (void)b_agent;
}

}  // namespace
}  // namespace ward::test

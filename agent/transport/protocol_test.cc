#include "agent/transport/protocol.h"

#include <gtest/gtest.h>

#include "agent/transport/gzip.h"
#include "agent/transport/https_client.h"

namespace ward::agent::transport {
namespace {

TEST(Protocol, ParsesAnActivationReplyWithPolicy) {
  auto r = ParseActivateReply(
      R"({"agent_id":"a1","credential":"wac_a1_s","tenant_id":"t","heartbeat_interval_s":30,
          "policy":{"id":"p","version":3,"document":{"integrity":{"paths":[]}}}})");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->agent_id, "a1");
  EXPECT_EQ(r->heartbeat_interval_s, 30);
  ASSERT_TRUE(r->policy.has_value());
  EXPECT_EQ(r->policy->version, 3);
  EXPECT_TRUE(r->policy->document.contains("integrity"));
}

TEST(Protocol, NamesTheFieldThatIsWrong) {
  auto missing = ParseActivateReply(R"({"agent_id":"a1"})");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("credential: missing"), std::string::npos);
  auto bad_interval = ParseHeartbeatReply(R"({"heartbeat_interval_s":0})");
  ASSERT_FALSE(bad_interval.has_value());
  EXPECT_NE(bad_interval.error().message().find("heartbeat_interval_s"), std::string::npos);
  auto bad_cmd = ParseHeartbeatReply(R"({"commands":[{"id":"c1","name":7}]})");
  ASSERT_FALSE(bad_cmd.has_value());
  EXPECT_NE(bad_cmd.error().message().find("commands[0]: name"), std::string::npos);
  auto bad_doc = ParseHeartbeatReply(R"({"policy":{"id":"p","version":2,"document":[]}})");
  ASSERT_FALSE(bad_doc.has_value());
  EXPECT_NE(bad_doc.error().message().find("document"), std::string::npos);
  EXPECT_FALSE(ParseEventsReply("not json").has_value());
  EXPECT_FALSE(ParseEventsReply("[1,2]").has_value());
}

TEST(Protocol, HeartbeatReplyTellsANullPolicyFromNoPolicy) {
  auto none = ParseHeartbeatReply(R"({"heartbeat_interval_s":60})");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_policy);
  auto null =
      ParseHeartbeatReply(R"({"policy":null,"commands":[{"id":"c","name":"policy.reload"}]})");
  ASSERT_TRUE(null.has_value());
  EXPECT_TRUE(null->has_policy);
  EXPECT_FALSE(null->policy.has_value());
  ASSERT_EQ(null->commands.size(), 1u);
  EXPECT_TRUE(null->commands[0].args.is_object());
}

TEST(Protocol, EventsReplyCountsRejections) {
  auto r = ParseEventsReply(
      R"({"accepted":498,"duplicates":2,"rejected":[{"line":7,"error":"event.id: missing"}]})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->accepted, 498);
  EXPECT_EQ(r->duplicates, 2);
  EXPECT_EQ(r->rejected, 1);
  EXPECT_EQ(r->first_rejection, "line 7: event.id: missing");
}

TEST(Protocol, ErrorTextReadsTheErrorObject) {
  EXPECT_EQ(ErrorText(401, R"({"error":{"code":"unauthenticated","message":"token revoked"}})"),
            "401 unauthenticated: token revoked");
  EXPECT_EQ(ErrorText(502, "<html>"), "502: <html>");
}

TEST(Gzip, RoundTripsAndRefusesGarbageAndBombs) {
  std::string text(100000, 'a');
  std::string z = Gzip(text);
  EXPECT_LT(z.size(), 1000u);
  EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x1f);
  auto back = Gunzip(z, 1 << 20);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, text);
  EXPECT_FALSE(Gunzip(z, 1000).has_value());
  EXPECT_FALSE(Gunzip("garbage", 1000).has_value());
  EXPECT_FALSE(Gunzip(z.substr(0, z.size() / 2), 1 << 20).has_value());
}

TEST(Urls, ParsesProxyAndManagerUrls) {
  auto p = ParseProxyUrl("http://us%40er:p%3Ass@proxy.example:8080/");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->host, "proxy.example");
  EXPECT_EQ(p->port, 8080);
  EXPECT_EQ(p->user, "us@er");
  EXPECT_EQ(p->password, "p:ss");
  auto bare = ParseProxyUrl("10.0.0.1");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->port, 3128);
  EXPECT_FALSE(ParseProxyUrl("socks5://x:1").has_value());
  EXPECT_FALSE(ParseProxyUrl("http://x:99999").has_value());
  EXPECT_FALSE(ParseProxyUrl("http://:3128").has_value());

  auto m = ParseManagerUrl("https://manager:4443");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->port, 4443);
  EXPECT_EQ(ParseManagerUrl("https://[::1]")->port, 4119);
  EXPECT_EQ(ParseManagerUrl("https://[::1]")->host, "::1");
  auto plain = ParseManagerUrl("http://manager:4119");
  ASSERT_FALSE(plain.has_value());
  EXPECT_NE(plain.error().message().find("https://"), std::string::npos);
  EXPECT_FALSE(ParseManagerUrl("https://manager:4119/api").has_value());
}

TEST(Urls, NormalizesFingerprints) {
  std::string hex(64, 'a');
  std::string colons;
  for (int i = 0; i < 32; ++i) colons += (i ? ":" : "") + std::string("AA");
  EXPECT_EQ(*NormalizeFingerprint(colons), hex);
  EXPECT_FALSE(NormalizeFingerprint("abc").has_value());
  EXPECT_FALSE(NormalizeFingerprint(std::string(64, 'g')).has_value());
}

}  // namespace
}  // namespace ward::agent::transport

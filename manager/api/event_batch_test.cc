#include "manager/api/event_batch.h"

#include <gtest/gtest.h>
#include <zlib.h>

namespace ward::manager {
namespace {

std::string Gzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const BatchOwner kOwner{"tenant-1", "agent-1", "web-01"};

std::string Line(const std::string& id, const std::string& extra = "") {
  return R"({"@timestamp":"2027-01-15T08:00:00.000Z","event":{"id":")" + id +
         R"(","module":"integrity","action":"modified","severity":3},"file":{"path":"/var/www/x"})" +
         extra + "}\n";
}

TEST(GunzipBounded, InflatesAndStopsAtTheLimit) {
  std::string text(100000, 'a');
  auto gz = Gzip(text);
  auto out = GunzipBounded(gz, 200000);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(*out, text);
  auto bomb = GunzipBounded(gz, 50000);
  ASSERT_FALSE(bomb);
  EXPECT_EQ(bomb.error().code(), StatusCode::kFailedPrecondition);
}

TEST(GunzipBounded, RefusesGarbageAndTruncatedStreams) {
  EXPECT_FALSE(GunzipBounded("not gzip at all", 1000));
  auto gz = Gzip(std::string(1000, 'b'));
  EXPECT_FALSE(GunzipBounded(gz.substr(0, gz.size() / 2), 10000));
  EXPECT_FALSE(GunzipBounded("", 1000));
}

TEST(ParseEventBatch, AcceptsValidLinesAndNamesTheBadOnes) {
  std::string body =
      Line("0193-0001") + "not json\n" +
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"module":"x"}})"
      "\n" +
      "\n" + Line("0193-0002") + Line("0193-0001") +
      R"({"@timestamp":"yesterday","event":{"id":"a","module":"x"}})"
      "\n" +
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"b","module":"x","severity":9}})";
  ParsedBatch b = ParseEventBatch(body, kOwner);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.duplicates_in_batch, 1);
  ASSERT_EQ(b.rejected.size(), 4u);
  EXPECT_EQ(b.rejected[0].line, 2);
  EXPECT_EQ(b.rejected[0].error, "not JSON");
  EXPECT_EQ(b.rejected[1].line, 3);
  EXPECT_EQ(b.rejected[1].error, "event.id: missing");
  EXPECT_EQ(b.rejected[2].line, 7);
  EXPECT_NE(b.rejected[2].error.find("@timestamp"), std::string::npos);
  EXPECT_NE(b.rejected[3].error.find("event.severity"), std::string::npos);
  const StoredEvent& e = b.events[0];
  EXPECT_EQ(e.module, "integrity");
  EXPECT_EQ(e.action, "modified");
  EXPECT_EQ(e.severity, 3);
  EXPECT_EQ(e.path, "/var/www/x");
  EXPECT_EQ(e.tenant_id, "tenant-1");
}

TEST(ParseEventBatch, TakesTheAgentFromTheCredentialNotTheBody) {
  ParsedBatch b =
      ParseEventBatch(Line("0193-0009", R"(,"agent":{"id":"someone-else","name":"evil"})"), kOwner);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].agent_id, "agent-1");
  EXPECT_EQ(b.events[0].doc["agent"]["id"], "agent-1");
  EXPECT_EQ(b.events[0].doc["agent"]["name"], "web-01");
  b = ParseEventBatch(Line("0193-000a", R"(,"agent":"string")"), kOwner);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].doc["agent"]["id"], "agent-1");
}

TEST(ParseEventBatch, JoinsRuleIdAndNameForTextSearch) {
  ParsedBatch b = ParseEventBatch(
      Line("0193-000b", R"(,"rule":{"id":"942100","name":"SQL injection"})"), kOwner);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].rule, "942100 SQL injection");
}

TEST(ParseEventBatch, KeepsNulBytesOutOfTheSearchColumns) {
  ParsedBatch b = ParseEventBatch(
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a1","module":"integrity"},"file":{"path":"/x\u0000y"}})"
      "\n"
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a2","module":"int\u0000egrity"}})",
      kOwner);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].path, "/xy");
  EXPECT_EQ(b.events[0].doc["file"]["path"].get<std::string>(), std::string("/x\0y", 4));
  ASSERT_EQ(b.rejected.size(), 1u);
  EXPECT_EQ(b.rejected[0].line, 2);
}

}  // namespace
}  // namespace ward::manager

#include "manager/api/event_batch.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <string_view>
#include <vector>

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
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"0193-000b","module":"ips"},)"
      R"("url":{"original":"/q?id=1"},"rule":{"id":"942100","name":"SQL injection"}})",
      kOwner);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].rule, "942100 SQL injection");
  EXPECT_EQ(b.events[0].path, "/q?id=1");
}

// The columns come from the event's module's declared fields (agent/modules/*/schema.cc):
// integrity declares file.path only, so a rule in its event is not indexed; ips declares
// url.original and rule.*, so its file.path is not.
TEST(ParseEventBatch, EachModuleIndexesTheFieldsItDeclares) {
  ParsedBatch b = ParseEventBatch(
      Line("0193-000c", R"(,"rule":{"id":"1","name":"n"})") +
          R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"0193-000d","module":"ips"},)"
          R"("file":{"path":"/not/this"},"rule":{"name":"only name"}})",
      kOwner);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].path, "/var/www/x");
  EXPECT_EQ(b.events[0].rule, "");
  EXPECT_EQ(b.events[1].path, "");
  EXPECT_EQ(b.events[1].rule, "only name");
}

Status AcceptAnySection(const agent::PolicySection&, const ConfigNode&) { return Status::Ok(); }
bool AlwaysEnabled(const agent::PolicySection&) { return true; }

// A module the manager does not know declares its key fields, at any depth: its events are
// indexed by them. A module no schema names gets every declared field.
TEST(EventIndex, ANewModulesDeclaredFieldsFillTheSearchColumns) {
  static constexpr std::string_view kLogFields[] = {"log.file.path", "rule.description"};
  static constexpr std::string_view kDnsFields[] = {"dns.question.name"};
  const agent::ModuleSchema schemas[] = {
      {"loginspect", &AcceptAnySection, &AlwaysEnabled, {}, kLogFields},
      {"dnsguard", &AcceptAnySection, &AlwaysEnabled, {}, kDnsFields}};
  EventIndex index(schemas);
  const std::string head = R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":")";
  ParsedBatch b = ParseEventBatch(
      head +
          R"(l1","module":"loginspect"},"log":{"file":{"path":"/var/log/auth.log"}},)"
          R"("rule":{"description":"ssh brute force"},"dns":{"question":{"name":"x.org"}}})"
          "\n" +
          head +
          R"(d1","module":"dnsguard"},"dns":{"question":{"name":"evil.example"}}})"
          "\n" +
          head +
          R"(o1","module":"other"},"dns":{"question":{"name":"other.example"}}})"
          "\n" +
          head + R"(i1","module":"integrity"},"file":{"path":"/etc/passwd"}})",
      kOwner, index);
  ASSERT_EQ(b.events.size(), 4u);
  EXPECT_EQ(b.events[0].path, "/var/log/auth.log");
  EXPECT_EQ(b.events[0].rule, "ssh brute force");
  EXPECT_EQ(b.events[1].path, "evil.example");
  EXPECT_EQ(b.events[2].path, "other.example") << "a module no schema names: every field";
  EXPECT_EQ(b.events[3].path, "") << "integrity is not among these schemas";
}

// Deep fields follow the parsed document's rules too: the last of duplicate keys wins at every
// level, and a field under an array is not read.
TEST(EventIndex, StreamingReaderAgreesWithTheParsedDocumentOnDeepFields) {
  static constexpr std::string_view kFields[] = {"log.file.path", "rule.a.b.c"};
  const agent::ModuleSchema schemas[] = {{"m", &AcceptAnySection, &AlwaysEnabled, {}, kFields}};
  EventIndex index(schemas);
  const std::string head =
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"x","module":"m"},)";
  const std::vector<std::string> lines = {
      head + R"("log":{"file":{"path":"/a"}}})",
      head + R"("log":{"file":{"path":"/a"},"file":{"size":1}}})",
      head + R"("log":{"file":{"path":"/a"}},"log":{"level":"x"}})",
      head + R"("log":{"file":{"path":"/a","path":"/b"}}})",
      head + R"("log":{"file":[{"path":"/a"}]}})",
      head + R"("log":[{"file":{"path":"/a"}}]})",
      head + R"("log":{"file":{"path":{"deeper":"/a"}}}})",
      head + R"("rule":{"a":{"b":{"c":"deep"}}},"log":{"file":{"path":7}}})",
      head + R"("rule":{"a":{"b":{"c":"deep"},"b":null}}})",
      head + R"("x":{"log":{"file":{"path":"/a"}}}})",
  };
  for (const auto& line : lines) {
    SCOPED_TRACE(line);
    ParsedBatch b = ParseEventBatch(line, kOwner, index);
    auto want = ToStoredEvent(nlohmann::json::parse(line), kOwner, index);
    ASSERT_TRUE(want.has_value()) << want.error().ToString();
    ASSERT_EQ(b.events.size(), 1u) << (b.rejected.empty() ? "" : b.rejected[0].error);
    EXPECT_EQ(b.events[0].path, want->path);
    EXPECT_EQ(b.events[0].rule, want->rule);
  }
  ParsedBatch b = ParseEventBatch(lines[0] + "\n" + lines[1] + "\n" + lines[3], kOwner, index);
  ASSERT_EQ(b.events.size(), 1u) << "the same id: one event";
  EXPECT_EQ(b.events[0].path, "/a");
  b = ParseEventBatch(lines[3], kOwner, index);
  EXPECT_EQ(b.events[0].path, "/b");
}

TEST(ParseEventBatch, KeepsNulBytesOutOfTheSearchColumns) {
  ParsedBatch b = ParseEventBatch(
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a1","module":"integrity"},"file":{"path":"/x\u0000y"}})"
      "\n"
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a2","module":"int\u0000egrity"}})",
      kOwner);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].path, "/xy");
  EXPECT_EQ(nlohmann::json::parse(b.events[0].doc_text)["file"]["path"].get<std::string>(),
            std::string("/x\0y", 4));
  ASSERT_EQ(b.rejected.size(), 1u);
  EXPECT_EQ(b.rejected[0].line, 2);
}

// The streaming reader must decide exactly as the parsed-document path (ToStoredEvent) does, on
// the lines that trip up field extraction: duplicate keys, wrong types, fields in arrays.
TEST(ParseEventBatch, StreamingReaderAgreesWithTheParsedDocument) {
  const std::vector<std::string> lines = {
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a1","module":"m"}})",
      R"({"event":{"id":"a2","module":"m"},"@timestamp":"2027-01-15T08:00:00Z","event":5})",
      R"({"event":{"id":"a3"},"event":{"module":"m"},"@timestamp":"2027-01-15T08:00:00Z"})",
      R"({"event":{"id":"a4","id":"b4","module":"m","module":"n"},"@timestamp":"2027-01-15T08:00:00Z"})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","@timestamp":null,"event":{"id":"a5","module":"m"}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":["a6"],"module":"m"}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a7","module":{"x":"m"}}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a8","module":"m","severity":4.0}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a9","module":"m","severity":"4"}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a10","module":"m","severity":18446744073709551615}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a11","module":"m","severity":-1}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a12","module":"m","severity":4,"action":null}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a13","module":"m","action":7}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a14","module":"m"},"url":{"original":"/q?x=1"}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a15","module":"m"},"file":{"path":""},"url":{"original":"/u"}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a16","module":"m"},"rule":{"name":"only name"}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a17","module":"m"},"rule":{"id":"1","name":"n"},"rule":{"id":"2"}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","x":{"event":{"id":"a18","module":"m"}}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":[{"id":"a19","module":"m"}]})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a20","module":"m","deep":{"id":"zz","module":""}}})",
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"a21","module":"m"},"file":{"path":"tab\there \"q\" \\ \u00e9"}})",
      R"({"@timestamp":12,"event":{"id":"a22","module":"m"}})",
  };
  for (const auto& line : lines) {
    SCOPED_TRACE(line);
    ParsedBatch b = ParseEventBatch(line, kOwner);
    auto want = ToStoredEvent(nlohmann::json::parse(line), kOwner);
    if (!want) {
      ASSERT_EQ(b.rejected.size(), 1u);
      EXPECT_EQ(b.rejected[0].error, want.error().message());
      continue;
    }
    ASSERT_EQ(b.events.size(), 1u) << (b.rejected.empty() ? "" : b.rejected[0].error);
    const StoredEvent& got = b.events[0];
    EXPECT_EQ(got.id, want->id);
    EXPECT_EQ(got.module, want->module);
    EXPECT_EQ(got.action, want->action);
    EXPECT_EQ(got.severity, want->severity);
    EXPECT_EQ(got.path, want->path);
    EXPECT_EQ(got.rule, want->rule);
    EXPECT_EQ(got.timestamp, want->timestamp);
    EXPECT_EQ(got.agent_id, "agent-1");
    ASSERT_FALSE(got.doc_text.empty());
    EXPECT_EQ(nlohmann::json::parse(got.doc_text), want->doc);
    EXPECT_EQ(got.doc_text.substr(0, line.size() - 1), line.substr(0, line.size() - 1))
        << "the agent's bytes are kept";
  }
}

TEST(ParseEventBatch, RefusesNonObjectsAndDeepNesting) {
  std::string deep =
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"d1","module":"m"},"x":)";
  deep += std::string(70, '[') + std::string(70, ']') + "}";
  std::string fine =
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"d2","module":"m"},"x":)";
  fine += std::string(50, '[') + std::string(50, ']') + "}";
  std::string nul_tail = fine;
  nul_tail.replace(nul_tail.find("d2"), 2, "d3");
  nul_tail += std::string("\0\0junk", 6);
  ParsedBatch b = ParseEventBatch(
      "[1,2]\n\"s\"\n" + deep + "\n" + fine + "\n{\"a\":1} x\n" + nul_tail + "\n", kOwner);
  ASSERT_EQ(b.rejected.size(), 5u);
  EXPECT_EQ(b.rejected[4].error, "not JSON") << "a NUL byte does not end a line early";
  EXPECT_EQ(b.rejected[0].error, "expected a JSON object");
  EXPECT_EQ(b.rejected[1].error, "expected a JSON object");
  EXPECT_EQ(b.rejected[2].error, "nested deeper than 64 levels");
  EXPECT_EQ(b.rejected[3].error, "not JSON");
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].id, "d2");
}

TEST(ParseEventBatch, NamesInvalidUtf8AndKeepsValidMultibyteText) {
  std::string bad =
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"u1","module":"m"},"file":{"path":"/x)";
  bad += "\xff\xfe\"}}";
  std::string overlong =
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"u2","module":"m"},"m":")";
  overlong += "\xc0\xaf\"}";
  std::string good =
      R"({"@timestamp":"2027-01-15T08:00:00Z","event":{"id":"u3","module":"m"},"file":{"path":"/é✓🙂"}})";
  ParsedBatch b = ParseEventBatch(bad + "\n" + overlong + "\n" + good + "\n", kOwner);
  ASSERT_EQ(b.rejected.size(), 2u);
  EXPECT_EQ(b.rejected[0].error, "not valid UTF-8");
  EXPECT_EQ(b.rejected[1].error, "not valid UTF-8");
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].path, "/é✓🙂");
}

}  // namespace
}  // namespace ward::manager

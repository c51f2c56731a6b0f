// seclang_equality_test: the same transactions through libmodsecurity 3.0.9 (ModSecurityEngine)
// and Ward's evaluator (WardWafEngine), both behind the WAF seam with the same generated
// configuration; per transaction the matched rule ids (in order), the anomaly scores and the
// intervention must be equal. Inputs: every stage of the CRS 3.3 regression tests at PL1 (prevent,
// interventions compared) and PL4 (detect). Differences must be listed with a reason in
// testdata/seclang-equality/known_differences.txt, whose floors the equal counts must reach: the
// figures can only get better.
#include "agent/modules/ips/seclang/equality.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <strings.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "agent/modules/ips/seclang/test_vectors.h"
#include "agent/modules/ips/seclang/ward_waf.h"
#include "agent/modules/ips/waf.h"
#include "testing/temp_dir.h"

namespace ward::seclang::equality {
namespace {

using agent::ips::IpsConfig;
using agent::ips::Mode;
using agent::ips::WafEngineFor;
using agent::ips::WafEngineKind;

const std::string kOracles = WARD_SECLANG_ORACLES;
const std::string kDir = WARD_SECLANG_EQUALITY;

struct Known {
  std::map<std::string, size_t> floors;              // "PL1" -> equal cases at least
  std::map<std::string, std::set<std::string>> ids;  // "PL1" -> test ids that may differ
};

Known ReadKnown() {
  Known k;
  std::ifstream in(kDir + "/known_differences.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string a, b, c;
    ls >> a >> b >> c;
    if (a == "floor") {
      k.floors[b] = std::stoul(c);
    } else if (!a.empty() && !b.empty()) {
      k.ids[a].insert(b);
    }
  }
  return k;
}

struct Result {
  size_t total = 0;
  size_t equal = 0;
  std::vector<std::pair<std::string, std::string>> differences;
};

Result RunSuite(const std::string& label, Mode mode, int pl, const std::string& setup,
                const std::vector<HttpCase>& cases,
                const agent::ips::WafEngine& ward_engine = WafEngineFor(WafEngineKind::kWard)) {
  IpsConfig config;
  config.mode = mode;
  config.crs.paranoia_level = pl;
  config.crs.setup_files = {kDir + "/" + setup};
  auto modsec = WafEngineFor(WafEngineKind::kLibModSecurity).Load(config, nullptr);
  EXPECT_TRUE(modsec.has_value()) << modsec.error().ToString();
  auto ward = ward_engine.Load(config, nullptr);
  EXPECT_TRUE(ward.has_value()) << ward.error().ToString();
  Result r;
  if (!modsec.has_value() || !ward.has_value()) return r;
  for (const auto& c : cases) {
    Outcome a = Run(**modsec, c);
    Outcome b = Run(**ward, c);
    ++r.total;
    std::string diff = Compare(a, b);
    if (diff.empty()) {
      ++r.equal;
    } else {
      std::string ct = "-";
      for (const auto& [k, v] : c.head.headers) {
        if (k.size() == 12 && strncasecmp(k.c_str(), "content-type", 12) == 0) ct = v;
      }
      r.differences.emplace_back(c.id, "[" + ct + "] " + diff);
    }
  }
  std::printf("[%s] %zu of %zu transactions equal (%.2f%%)\n", label.c_str(), r.equal, r.total,
              r.total == 0 ? 0.0 : 100.0 * static_cast<double>(r.equal) / r.total);
  return r;
}

void Check(const std::string& label, const Result& r, const Known& known) {
  auto floor = known.floors.find(label);
  ASSERT_NE(floor, known.floors.end()) << "no floor for " << label;
  EXPECT_GE(r.equal, floor->second) << label << ": fewer equal transactions than recorded";
  const auto& listed = known.ids.count(label) ? known.ids.at(label) : std::set<std::string>();
  std::set<std::string> differing;
  for (const auto& [id, diff] : r.differences) {
    differing.insert(id);
    if (!listed.count(id)) {
      ADD_FAILURE() << label << " " << id << ": not a known difference: " << diff;
    }
  }
  size_t fixed = 0;
  for (const auto& id : listed) fixed += differing.count(id) ? 0 : 1;
  if (fixed > 0) std::printf("[%s] %zu listed differences are now equal\n", label.c_str(), fixed);
  if (const char* dump = std::getenv("WARD_EQUALITY_DUMP")) {
    std::ofstream out(std::string(dump) + "." + label, std::ios::trunc);
    for (const auto& [id, diff] : r.differences) out << id << "\t" << diff << "\n";
  }
}

class CrsEquality : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_ = new CrsCases(LoadCrsCases(kOracles + "/crs-3.3-tests"));
    std::printf("CRS 3.3 cases: %zu transactions, %zu requests no HTTP parser accepts\n",
                suite_->cases.size(), suite_->unparsed.size());
  }
  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
  }
  static CrsCases* suite_;
};
CrsCases* CrsEquality::suite_ = nullptr;

TEST_F(CrsEquality, LoadsTheWholeSuite) {
  EXPECT_GT(suite_->cases.size(), 2300u);
  EXPECT_LT(suite_->unparsed.size(), 40u);
}

TEST_F(CrsEquality, Pl1Prevent) {
  Result r = RunSuite("PL1", Mode::kPrevent, 1, "crs-tests-pl1-prevent.conf", suite_->cases);
  Check("PL1", r, ReadKnown());
}

// Every optimisation of the evaluator switched off (EvalOptions).
EvalOptions WithoutOptimisations() {
  EvalOptions off;
  off.transformation_cache = false;
  off.skip_empty_variables = false;
  off.lazy_matched_vars = false;
  off.regex_prefilter = false;
  off.memoise_xml = false;
  return off;
}

// The @rx prefilter on every value, however short, of every variable CRS's regexes read most
// (by default only request bodies of 4 KB and more are prefiltered, which few test cases have):
// a prefilter that ever ruled out a regex PCRE2 matches would change a verdict here.
EvalOptions PrefilterEverywhere() {
  EvalOptions on;
  on.regex_prefilter_min_bytes = 0;
  on.regex_prefilter_variables = {
      "REQUEST_BODY",     "ARGS",         "ARGS_NAMES", "REQUEST_HEADERS", "REQUEST_COOKIES",
      "REQUEST_FILENAME", "REQUEST_LINE", "XML"};
  return on;
}

// The same at PL1 with every optimisation of the evaluator switched off: no verdict changes.
TEST_F(CrsEquality, Pl1PreventWithoutOptimisations) {
  const agent::ips::WardWafEngine plain(WithoutOptimisations());
  Result r = RunSuite("PL1", Mode::kPrevent, 1, "crs-tests-pl1-prevent.conf", suite_->cases, plain);
  Check("PL1", r, ReadKnown());
}

TEST_F(CrsEquality, Pl1PreventWithPrefilterOnEveryValue) {
  const agent::ips::WardWafEngine everywhere(PrefilterEverywhere());
  Result r =
      RunSuite("PL1", Mode::kPrevent, 1, "crs-tests-pl1-prevent.conf", suite_->cases, everywhere);
  Check("PL1", r, ReadKnown());
}

TEST_F(CrsEquality, Pl4Detect) {
  Result r = RunSuite("PL4", Mode::kDetect, 4, "crs-tests-pl4.conf", suite_->cases);
  Check("PL4", r, ReadKnown());
}

TEST_F(CrsEquality, Pl4DetectWithoutOptimisations) {
  const agent::ips::WardWafEngine plain(WithoutOptimisations());
  Result r = RunSuite("PL4", Mode::kDetect, 4, "crs-tests-pl4.conf", suite_->cases, plain);
  Check("PL4", r, ReadKnown());
}

TEST_F(CrsEquality, Pl4DetectWithPrefilterOnEveryValue) {
  const agent::ips::WardWafEngine everywhere(PrefilterEverywhere());
  Result r = RunSuite("PL4", Mode::kDetect, 4, "crs-tests-pl4.conf", suite_->cases, everywhere);
  Check("PL4", r, ReadKnown());
}

// A log line's match ("Matched ... against variable `X' (Value: ...) ... [data ...]"), without
// what differs by engine on purpose: the client prefix, unique_id and ref.
std::vector<std::string> Matches(const Outcome& o) {
  std::vector<std::string> out;
  for (const auto& l : o.lines) {
    const size_t from = l.find("ModSecurity: ");
    const size_t to = l.find(" [hostname ");
    out.push_back(l.substr(from == std::string::npos ? 0 : from,
                           to == std::string::npos ? std::string::npos : to - from));
  }
  return out;
}

// Requests the equality fuzzer (fuzz/fuzz_seclang_equality.cc) found differing, kept in
// testdata/seclang-equality/*.req: each through both engines with the fuzzer's configuration
// (Debian's CRS as installed, prevent mode) at PL1 and PL4, and equal now — including the log
// lines, which show the value each match saw last (MATCHED_VAR).
TEST(FuzzFoundEquality, EqualAtPl1AndPl4) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(kDir)) {
    if (e.path().extension() == ".req") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  for (int pl : {1, 4}) {
    IpsConfig config;
    config.mode = Mode::kPrevent;
    config.crs.paranoia_level = pl;
    auto modsec = WafEngineFor(WafEngineKind::kLibModSecurity).Load(config, nullptr);
    ASSERT_TRUE(modsec.has_value()) << modsec.error().ToString();
    auto ward = WafEngineFor(WafEngineKind::kWard).Load(config, nullptr);
    ASSERT_TRUE(ward.has_value()) << ward.error().ToString();
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      auto c = ParseRequest(bytes);
      ASSERT_TRUE(c.has_value()) << f;
      Outcome a = equality::Run(**modsec, *c);
      Outcome b = equality::Run(**ward, *c);
      EXPECT_EQ(Compare(a, b), "") << f.filename() << " at PL" << pl;
      EXPECT_EQ(Matches(a), Matches(b)) << f.filename() << " at PL" << pl;
      if (pl == 4) {
        EXPECT_FALSE(a.ids.empty()) << f.filename() << ": the request matches nothing";
      }
    }
  }
}

// The order in which both engines visit a collection's values (which decides MATCHED_VAR, the
// last capture and a rule's log line): ARGS_NAMES, ARGS, REQUEST_HEADERS and TX:/regex/ gathered
// value by value with setvar and shown in a log line. 3.0.9 creates its collections with a
// reserve (11 buckets; TX 1,009), so keys whose hashes share a bucket at 13 but not at 11 buckets
// ("a" and "n", " 1" and a 36-byte name) come in another order than in a fresh container; 40
// arguments make the collection grow through several rehashes.
TEST(CollectionOrder, ValuesAreVisitedInLibmodsecurityOrder) {
  const ward::test::TempDir dir;
  const auto f = dir.path() / "order.conf";
  std::ofstream(f) << "SecRule ARGS_NAMES \"@rx .\" \"id:10,phase:2,pass,nolog,t:none,"
                      "setvar:'tx.order_names=%{tx.order_names}|%{MATCHED_VAR}'\"\n"
                      "SecRule ARGS \"@rx .\" \"id:11,phase:2,pass,nolog,t:none,"
                      "setvar:'tx.order_values=%{tx.order_values}|%{MATCHED_VAR}'\"\n"
                      "SecRule REQUEST_HEADERS \"@rx .\" \"id:12,phase:2,pass,nolog,t:none,"
                      "setvar:'tx.order_headers=%{tx.order_headers}|%{MATCHED_VAR_NAME}'\"\n"
                      "SecRule ARGS_NAMES \"@rx .\" \"id:13,phase:2,pass,nolog,t:none,"
                      "setvar:'tx.%{MATCHED_VAR}=1'\"\n"
                      "SecRule TX:/^[a-z0-9]+$/ \"@rx .\" \"id:14,phase:2,pass,nolog,t:none,"
                      "setvar:'tx.order_tx=%{tx.order_tx}|%{MATCHED_VAR_NAME}'\"\n"
                      "SecAction \"id:20,phase:2,pass,log,msg:'order',logdata:'%{tx.order_names} / "
                      "%{tx.order_values} / %{tx.order_headers} / %{tx.order_tx}'\"\n";
  IpsConfig config;
  config.mode = Mode::kPrevent;
  config.crs.enabled = false;
  config.custom_rules = {f.string()};
  auto modsec = WafEngineFor(WafEngineKind::kLibModSecurity).Load(config, nullptr);
  ASSERT_TRUE(modsec.has_value()) << modsec.error().ToString();
  auto ward = WafEngineFor(WafEngineKind::kWard).Load(config, nullptr);
  ASSERT_TRUE(ward.has_value()) << ward.error().ToString();
  std::string many = "/?";
  for (int i = 0; i < 40; ++i) many += (i ? "&" : "") + fmt::format("k{}x{}=v{}", i, i * 7, i);
  const std::string uris[] = {
      "/?a=1&n=2",
      "/?a=1&+1=1&n=2",
      "/?a=1&+1=1&bbbbbbbbbbbbbbg=2",
      "/?a=1&+1=1&bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbc=2",
      "/?a=1%27+o&+1=1--&\x01\x0d"
      "b9<script>aa/lert([id \"91)</~cript>",
      many,
  };
  for (const auto& uri : uris) {
    HttpCase c;
    c.head.method = "GET";
    c.head.uri = uri;
    c.head.version = "1.1";
    c.head.headers = {{"Host", "localhost"}, {"n", "1"}, {"a", "2"}, {"X-Long-Header-Name", "3"}};
    const Outcome a = equality::Run(**modsec, c);
    const Outcome b = equality::Run(**ward, c);
    auto data = [](const Outcome& o) {
      std::vector<std::string> out;
      for (const auto& l : o.lines) {
        const size_t p = l.find("[data ");
        if (p != std::string::npos) out.push_back(l.substr(p, l.find("\"] [", p) - p));
      }
      return out;
    };
    ASSERT_EQ(data(a).size(), 1u) << uri;
    EXPECT_EQ(data(a), data(b)) << uri;
    EXPECT_EQ(Compare(a, b), "") << uri;
  }
}

TEST(RequestParser, SplitsHeadAndBody) {
  auto c = ParseRequest("POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcdef");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->head.method, "POST");
  EXPECT_EQ(c->head.uri, "/a?b=c");
  EXPECT_EQ(c->head.version, "1.1");
  ASSERT_EQ(c->head.headers.size(), 2u);
  EXPECT_EQ(c->head.headers[1].second, "3");
  EXPECT_EQ(c->body, "abc");
  auto chunked = ParseRequest(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(chunked.has_value());
  EXPECT_EQ(chunked->body, "abcde");
  EXPECT_FALSE(ParseRequest("GET\r\n\r\n").has_value());
  EXPECT_FALSE(ParseRequest("GET / HTTP/1.1\r\nno colon\r\n\r\n").has_value());
}

// libmodsecurity's own regression cases (testdata/oracles/modsecurity-3.0.9-regression): each
// case's rules as a custom rule file (no CRS), its request and response through both engines in
// prevent mode. Cases one engine does not load are counted, not compared (the rule loading is
// compared by seclang_crs_test).
void RunRegression(const agent::ips::WafEngine& ward_engine) {
  const ward::test::TempDir dir;
  Result r;
  int not_loaded = 0;
  for (const auto& reg : test::LoadRegressionTests()) {
    if (!reg.enabled) continue;
    const nlohmann::json& t = reg.test;
    const std::string id = reg.file_stem + "#" + std::to_string(reg.index);
    const std::filesystem::path f =
        dir.path() / (reg.file_stem + "_" + std::to_string(reg.index) + ".conf");
    std::ofstream(f) << reg.rules;
    IpsConfig config;
    config.mode = Mode::kPrevent;
    config.crs.enabled = false;
    config.custom_rules = {f.string()};
    auto modsec = WafEngineFor(WafEngineKind::kLibModSecurity).Load(config, nullptr);
    auto ward = ward_engine.Load(config, nullptr);
    if (!modsec.has_value() || !ward.has_value()) {
      ++not_loaded;
      continue;
    }
    HttpCase c;
    c.id = id;
    const auto& req = t.value("request", nlohmann::json::object());
    auto text_of = [&](const char* key, const char* def) {
      if (!req.contains(key)) return std::string(def);
      return req[key].is_string() ? req[key].get<std::string>() : req[key].dump();
    };
    c.head.method = text_of("method", "GET");
    c.head.uri = text_of("uri", "/");
    c.head.version = text_of("http_version", "1.1");
    if (req.contains("headers") && req["headers"].is_object()) {
      for (const auto& [k, v] : req["headers"].items()) {
        c.head.headers.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
    if (req.contains("body") && req["body"].is_array()) {
      for (const auto& line : req["body"]) {
        if (line.is_string()) c.body += line.get<std::string>() + "\n";
      }
    }
    if (t.contains("response") && t["response"].is_object()) {
      const auto& resp = t["response"];
      agent::ips::ResponseHead head;
      head.status = 200;
      if (resp.contains("headers") && resp["headers"].is_object()) {
        for (const auto& [k, v] : resp["headers"].items()) {
          head.headers.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
      if (resp.contains("body") && resp["body"].is_array()) {
        for (const auto& line : resp["body"]) {
          if (line.is_string()) c.response_body += line.get<std::string>() + "\n";
        }
      }
      c.response = head;
    }
    Outcome a = equality::Run(**modsec, c);
    Outcome b = equality::Run(**ward, c);
    ++r.total;
    std::string diff = Compare(a, b);
    if (diff.empty()) {
      ++r.equal;
    } else {
      r.differences.emplace_back(id, diff);
    }
  }
  std::printf("[REG] %zu of %zu cases equal (%.2f%%), %d not loaded by one engine\n", r.equal,
              r.total, r.total == 0 ? 0.0 : 100.0 * static_cast<double>(r.equal) / r.total,
              not_loaded);
  EXPECT_GT(r.total, 400u);
  Check("REG", r, ReadKnown());
}

TEST(RegressionEquality, SameOutcomeAsLibmodsecurity) {
  RunRegression(WafEngineFor(WafEngineKind::kWard));
}

TEST(RegressionEquality, SameOutcomeWithoutOptimisations) {
  RunRegression(agent::ips::WardWafEngine(WithoutOptimisations()));
}

TEST(RegressionEquality, SameOutcomeWithPrefilterOnEveryValue) {
  RunRegression(agent::ips::WardWafEngine(PrefilterEverywhere()));
}

}  // namespace
}  // namespace ward::seclang::equality

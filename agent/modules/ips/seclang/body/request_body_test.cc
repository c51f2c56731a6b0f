#include "agent/modules/ips/seclang/body/request_body.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "agent/modules/ips/seclang/body/body_cases.h"
#include "agent/modules/ips/seclang/body/body_oracle.h"

namespace ward::seclang::body {
namespace {

using test::BodyCase;
using test::Observed;

struct Tally {
  int cases = 0;
  int equal = 0;
  int unterminated_quote = 0;  // a documented deliberate difference (quote or XML expansion)
  size_t args = 0;
  size_t files = 0;
  size_t errors = 0;
};

// Runs every case through libmodsecurity 3.0.9 and Ward; every observation must be equal.
Tally Compare(const std::vector<BodyCase>& cases) {
  BodyProcessor proc;
  BodyResult result;
  Tally t;
  for (const auto& c : cases) {
    const Observed m = test::RunModsec(c);
    const Observed w = test::RunWard(c, &proc, &result);
    ++t.cases;
    const std::string diff = test::Diff(m, w);
    if (diff.empty() && m == w) {
      ++t.equal;
    } else if (result.multipart_unterminated_quote || result.xml_amplification) {
      ++t.unterminated_quote;
    } else {
      ADD_FAILURE() << c.label << "\nbody: " << testing::PrintToString(c.body.substr(0, 600))
                    << "\ncontent-type: "
                    << testing::PrintToString(c.content_type.value_or("<none>")) << "\n"
                    << diff;
    }
    t.args += m.args.size();
    t.files += m.files.size();
    if (m.scalars.count("REQBODY_ERROR") != 0 && m.scalars.at("REQBODY_ERROR") == "1") ++t.errors;
  }
  std::printf(
      "%d cases, %d equal, %d differ only by a documented deliberate difference; "
      "libmodsecurity gave %zu arguments, %zu files, %zu bodies with REQBODY_ERROR=1\n",
      t.cases, t.equal, t.unterminated_quote, t.args, t.files, t.errors);
  return t;
}

TEST(RequestBody, EqualsLibmodsecurityOnItsRegressionCases) {
  const auto cases = test::RegressionCases();
  ASSERT_GE(cases.size(), 50u);
  const Tally t = Compare(cases);
  EXPECT_EQ(t.equal, t.cases);
}

TEST(RequestBody, EqualsLibmodsecurityOnCrsBodies) {
  const auto cases = test::CrsCases();
  ASSERT_GE(cases.size(), 1000u);
  const Tally t = Compare(cases);
  EXPECT_EQ(t.equal, t.cases);
}

TEST(RequestBody, EqualsLibmodsecurityOnGeneratedHostileBodies) {
  const auto cases = test::GeneratedCases(6000, 20261207);
  const Tally t = Compare(cases);
  EXPECT_EQ(t.equal + t.unterminated_quote, t.cases);
}

// Each case is compared with libmodsecurity too, and the result asserted as documented.
BodyCase Multipart(std::string body, std::string ct = "multipart/form-data; boundary=b") {
  BodyCase c;
  c.label = "unit";
  c.kind = BodyProcessorKind::kMultipart;
  c.content_type = std::move(ct);
  c.body = std::move(body);
  return c;
}
BodyCase Json(std::string body) {
  BodyCase c;
  c.label = "unit";
  c.kind = BodyProcessorKind::kJson;
  c.content_type = "application/json";
  c.body = std::move(body);
  return c;
}
BodyCase Xml(std::string body) {
  BodyCase c;
  c.label = "unit";
  c.kind = BodyProcessorKind::kXml;
  c.content_type = "application/xml";
  c.body = std::move(body);
  return c;
}

class RequestBodyCase : public testing::Test {
 protected:
  // Runs `c` in both; they must agree; returns Ward's view.
  Observed Run(const BodyCase& c) {
    const Observed m = test::RunModsec(c);
    const Observed w = test::RunWard(c, &proc_, &result_);
    EXPECT_EQ(test::Diff(m, w), "");
    EXPECT_TRUE(m == w);
    return w;
  }
  BodyProcessor proc_;
  BodyResult result_;
};

TEST_F(RequestBodyCase, MultipartGivesArgsFilesAndNoFlagsForAWellFormedBody) {
  const Observed o =
      Run(Multipart("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n"
                    "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n"
                    "Content-Type: text/plain\r\n\r\n0123456789\r\n--b--\r\n"));
  EXPECT_EQ(o.args_post, (test::Pairs{{"a", "value"}}));
  EXPECT_EQ(o.files, (test::Pairs{{"f", "x.txt"}}));
  EXPECT_EQ(o.files_sizes, (test::Pairs{{"f", "10"}}));
  EXPECT_EQ(o.scalars.at("FILES_COMBINED_SIZE"), "10");
  EXPECT_EQ(o.scalars.at("MULTIPART_STRICT_ERROR"), "0");
  EXPECT_EQ(o.scalars.at("REQBODY_ERROR"), "0");
  EXPECT_EQ(o.multipart_part_headers.size(), 3u);
}

TEST_F(RequestBodyCase, MultipartDropsTheLineBreaksInsideAValueAs309Does) {
  const Observed o = Run(Multipart(
      "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nline1\r\nline2\r\n--b--\r\n"));
  EXPECT_EQ(o.args_post, (test::Pairs{{"a", "line1line2"}}));
}

TEST_F(RequestBodyCase, MultipartWithoutFinalBoundaryIsAnErrorWithoutArguments) {
  const Observed o =
      Run(Multipart("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n"));
  EXPECT_TRUE(o.args_post.empty());
  EXPECT_EQ(o.scalars.at("REQBODY_ERROR_MSG"),
            "Multipart parsing error: Multipart: Final boundary missing.");
}

TEST_F(RequestBodyCase, MultipartFlagsQuotedBoundaryLfLinesAndInvalidQuoting) {
  const Observed o = Run(Multipart("--b\nContent-Disposition: form-data; name='a'\n\nv\n--b--\n",
                                   "multipart/form-data; boundary=\"b\""));
  EXPECT_EQ(o.scalars.at("MULTIPART_BOUNDARY_QUOTED"), "1");
  EXPECT_EQ(o.scalars.at("MULTIPART_LF_LINE"), "1");
  EXPECT_EQ(o.scalars.at("MULTIPART_INVALID_QUOTING"), "1");
  EXPECT_EQ(o.scalars.at("MULTIPART_STRICT_ERROR"), "1");
}

TEST_F(RequestBodyCase, MultipartNoFilesLimitSetsReqbodyErrorButNotProcessorError) {
  BodyCase c =
      Multipart("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n0123456789\r\n--b--\r\n");
  c.settings.no_files_limit = 20;
  const Observed o = Run(c);
  EXPECT_EQ(o.scalars.at("REQBODY_ERROR"), "1");
  EXPECT_EQ(o.scalars.at("REQBODY_PROCESSOR_ERROR"), "");
  EXPECT_EQ(o.scalars.at("INBOUND_DATA_ERROR"), "1");
}

TEST_F(RequestBodyCase, JsonNamesArraysAndValuesAs309WritesThem) {
  const Observed o = Run(Json(R"({"a":{"b":[1,true,null,{"c":"x"}]},"":2.50,"d":[[7]]})"));
  EXPECT_EQ(o.args, (test::Pairs{{"json.a.b.array_0", "1"},
                                 {"json.a.b.array_1", "true"},
                                 {"json.a.b.array_2", ""},
                                 {"json.a.b.array_3.c", "x"},
                                 {"json.d.array_0.array_0", "7"},
                                 {"json.empty-key", "2.50"}}));
  EXPECT_TRUE(o.args_post.empty());  // 3.0.9 adds JSON arguments to ARGS only
}

TEST_F(RequestBodyCase, JsonDepthLimitIsAReqbodyErrorWithItsMessage) {
  BodyCase c = Json("[[[[1]]]]");
  c.settings.json_depth_limit = 3;
  const Observed o = Run(c);
  EXPECT_EQ(o.scalars.at("REQBODY_ERROR"), "1");
  EXPECT_NE(o.scalars.at("REQBODY_ERROR_MSG").find("Parsing depth limit exceeded"),
            std::string::npos);
}

TEST_F(RequestBodyCase, JsonArgumentsLimitStopsTheParseWithAnError) {
  BodyCase c = Json(R"({"a":1,"b":2,"c":3})");
  c.settings.arguments_limit = 2;
  const Observed o = Run(c);
  EXPECT_EQ(o.args.size(), 2u);
  EXPECT_EQ(o.scalars.at("REQBODY_ERROR"), "1");
}

TEST_F(RequestBodyCase, InvalidJsonAndInvalidXmlAreReqbodyErrors) {
  EXPECT_EQ(Run(Json("{\"a\":")).scalars.at("REQBODY_PROCESSOR_ERROR"), "1");
  EXPECT_EQ(Run(Json("\"\xff\"")).scalars.at("REQBODY_PROCESSOR_ERROR"), "1");
  const Observed x = Run(Xml("<a><b></a>"));
  EXPECT_EQ(x.scalars.at("REQBODY_ERROR_MSG"), "XML parsing error: XML: Failed parsing document.");
}

TEST_F(RequestBodyCase, XmlGivesElementAndAttributeTexts) {
  const Observed o = Run(Xml("<r a=\"1\"><c d=\"2\">t</c>u</r>"));
  EXPECT_EQ(o.xml_elements, (std::vector<std::string>{"tu"}));
  EXPECT_EQ(o.xml_attributes, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(o.scalars.at("REQBODY_ERROR"), "0");
}

TEST_F(RequestBodyCase, BillionLaughsAndExternalEntitiesDoNotExpand) {
  std::string doc = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY l0 \"lol\">";
  for (int i = 1; i <= 9; ++i) {
    doc += "<!ENTITY l" + std::to_string(i) + " \"";
    for (int k = 0; k < 10; ++k) doc += "&l" + std::to_string(i - 1) + ";";
    doc += "\">";
  }
  doc += "]><l>&l9;</l>";
  const Observed o = Run(Xml(doc));
  size_t total = 0;
  for (const auto& v : o.xml_elements) total += v.size();
  EXPECT_LT(total, 1000000u);
  EXPECT_EQ(o.scalars.at("REQBODY_ERROR"), "1");  // libxml2 refuses the amplification
  const Observed e =
      Run(Xml("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
              "<r>&x;</r>"));
  for (const auto& v : e.xml_elements) EXPECT_EQ(v.find("root:"), std::string::npos);
}

TEST_F(RequestBodyCase, XmlEntityAmplificationIsRefusedWhere309ExpandsIt) {
  // One 20 KB entity referenced 600 times: libxml2 accepts it, 3.0.9 gives a 12 MB XML:/*.
  std::string doc =
      "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"" + std::string(20000, 'a') + "\">]><r>";
  for (int i = 0; i < 600; ++i) doc += "&a;";
  doc += "</r>";
  const BodyCase c = Xml(doc);
  const Observed m = test::RunModsec(c);
  ASSERT_EQ(m.xml_elements.size(), 1u);
  EXPECT_EQ(m.xml_elements[0].size(), 12000000u);
  EXPECT_EQ(m.scalars.at("REQBODY_ERROR"), "0");
  const Observed w = test::RunWard(c, &proc_, &result_);
  EXPECT_TRUE(result_.xml_amplification);
  EXPECT_EQ(result_.xml(), nullptr);
  EXPECT_EQ(w.scalars.at("REQBODY_ERROR"), "1");
  EXPECT_EQ(w.scalars.at("REQBODY_ERROR_MSG"),
            "XML parsing error: XML: Failed parsing document (entity expansion over the limit).");
  // Entities within the bound stay as 3.0.9 has them.
  std::string small = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"abc\">]><r>";
  for (int i = 0; i < 100; ++i) small += "&a;";
  small += "</r>";
  const Observed o = Run(Xml(small));
  std::string expanded;
  for (int i = 0; i < 100; ++i) expanded += "abc";
  EXPECT_EQ(o.xml_elements, (std::vector<std::string>{expanded}));
}

TEST_F(RequestBodyCase, BodyLimitRejectsOrKeepsThePartialBody) {
  BodyCase c = Json(R"({"a":"0123456789"})");
  c.body_limit = 8;
  c.partial = false;
  const Observed rejected = Run(c);
  EXPECT_EQ(rejected.scalars.at("intervention"), "403");
  EXPECT_EQ(rejected.scalars.at("INBOUND_DATA_ERROR"), "1");
  c.partial = true;
  const Observed partial = Run(c);
  EXPECT_EQ(partial.scalars.at("intervention"), "");
  EXPECT_EQ(partial.scalars.at("REQBODY_ERROR"), "1");  // the cut JSON does not parse
}

TEST(RequestBody, WarmResultKeepsItsArenaAcrossBodies) {
  BodyProcessor proc;
  BodyResult result;
  BodyInput in;
  in.kind = BodyProcessorKind::kJson;
  const std::string body = R"({"a":"x","b":[1,2,3]})";
  in.body = body;
  proc.Process(in, {}, &result);
  ASSERT_EQ(result.args.size(), 4u);
  const char* first = result.args[0].name.data();
  proc.Process(in, {}, &result);
  ASSERT_EQ(result.args.size(), 4u);
  EXPECT_EQ(result.args[0].name.data(), first);  // same arena block, rewound
  EXPECT_EQ(result.args[3].name, "json.b.array_2");
}

}  // namespace
}  // namespace ward::seclang::body

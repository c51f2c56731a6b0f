#include "manager/console/assets.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace ward::manager {
namespace {

std::string Header(const StaticResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(ConsoleAssets, EveryPathButTheApiServesTheAppWithAStrictPolicy) {
  for (std::string_view path : {"/", "/events", "/computers", "/admin", "/x/y"}) {
    auto r = ServeConsole(path, "");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->content_type, "text/html; charset=utf-8");
    EXPECT_NE(r->body.find("<div id=\"app\">"), std::string_view::npos);
    const std::string csp = Header(*r, "Content-Security-Policy");
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << "no unsafe-inline, no unsafe-eval";
    EXPECT_EQ(Header(*r, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(Header(*r, "Cache-Control"), "no-cache");
    EXPECT_FALSE(Header(*r, "ETag").empty());
  }
  for (std::string_view path : {"/api/v1/agents", "/api", "/agent/v1/events", "/agent"}) {
    EXPECT_FALSE(IsConsolePath(path)) << path;
    EXPECT_FALSE(ServeConsole(path, "")) << path;
  }
  EXPECT_TRUE(IsConsolePath("/apis"));
  EXPECT_TRUE(IsConsolePath("/agents"));
}

TEST(ConsoleAssets, IndexHasNoInlineScriptAndEveryReferenceIsEmbedded) {
  auto index = ServeConsole("/", "");
  ASSERT_TRUE(index);
  const std::string html(index->body);
  // Every <script> has a src (an inline one would be refused by the policy anyway).
  std::regex script(R"(<script\b([^>]*)>)");
  int scripts = 0;
  for (std::sregex_iterator it(html.begin(), html.end(), script), end; it != end; ++it) {
    ++scripts;
    EXPECT_NE((*it)[1].str().find("src=\"/assets/"), std::string::npos) << (*it)[0];
  }
  EXPECT_EQ(scripts, 1);
  EXPECT_EQ(html.find(" on"), std::string::npos) << "no inline event handler attributes";
  std::regex ref(R"re((?:src|href)="(/assets/[^"]+)")re");
  int refs = 0;
  for (std::sregex_iterator it(html.begin(), html.end(), ref), end; it != end; ++it) {
    ++refs;
    auto a = ServeConsole((*it)[1].str(), "");
    ASSERT_TRUE(a) << (*it)[1];
    EXPECT_EQ(a->status, 200);
    EXPECT_FALSE(a->body.empty());
    EXPECT_EQ(Header(*a, "Cache-Control"), "public, max-age=31536000, immutable");
    if ((*it)[1].str().ends_with(".js")) {
      EXPECT_EQ(a->content_type, "text/javascript; charset=utf-8");
    } else if ((*it)[1].str().ends_with(".css")) {
      EXPECT_EQ(a->content_type, "text/css; charset=utf-8");
    }
  }
  EXPECT_EQ(refs, 2) << "one script, one stylesheet";
  EXPECT_FALSE(ServeConsole("/assets/missing.js", ""));
}

TEST(ConsoleAssets, MatchingETagAnswers304WithoutBody) {
  auto first = ServeConsole("/", "");
  ASSERT_TRUE(first);
  const std::string etag = Header(*first, "ETag");
  ASSERT_EQ(etag.size(), 34u);  // quoted 32 hex
  auto again = ServeConsole("/events", etag);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  EXPECT_EQ(Header(*again, "ETag"), etag);
  EXPECT_EQ(ServeConsole("/", "\"other\", W/" + etag)->status, 304);
  EXPECT_EQ(ServeConsole("/", "\"other\"")->status, 200);
}

}  // namespace
}  // namespace ward::manager

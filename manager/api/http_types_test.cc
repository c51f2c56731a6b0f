#include "manager/api/http_types.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ward::manager {
namespace {

TEST(HttpHeaders, LooksNamesUpIgnoringCaseAndKeepsRepeatedFields) {
  HttpHeaders h;
  h.Add("Authorization", "Bearer wak_x");
  h.Add("accept", "text/html");
  h.Add("Accept", "application/json");
  EXPECT_EQ(h.Value("authorization"), "Bearer wak_x");
  EXPECT_EQ(h.Value("AUTHORIZATION"), "Bearer wak_x");
  EXPECT_EQ(h.Value("Accept"), "text/html");  // the first of a repeated name
  EXPECT_FALSE(h.Get("Authorisation"));
  EXPECT_EQ(h.Value("Cookie"), "");
  EXPECT_EQ(h.size(), 3u);
  h.Set("ACCEPT", "*/*");  // replaces both
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(h.Value("accept"), "*/*");

  HttpRequest req;
  req.headers.Add("authorization", "Bearer k");
  EXPECT_EQ(req.Authorization(), "Bearer k");
}

TEST(HttpResponse, JsonIsSerialisedWithItsContentTypeAndBadUtf8Replaced) {
  HttpResponse r = JsonResponse(201, {{"name", std::string("a\xff")}, {"n", 1}});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.content_type, "application/json");
  auto parsed = nlohmann::json::parse(r.body);
  EXPECT_EQ(parsed["n"], 1);
  EXPECT_EQ(parsed["name"], "a\xef\xbf\xbd");
  EXPECT_FALSE(r.error);

  HttpResponse none = EmptyResponse();
  EXPECT_EQ(none.status, 204);
  EXPECT_TRUE(none.content_type.empty());
  EXPECT_TRUE(none.body.empty());
}

TEST(HttpResponse, ErrorCarriesTheJsonBodyAndTheErrorForTheAudit) {
  HttpResponse r = ErrorResponse(BadRequest("invalid_field", "name", "name: too long"));
  EXPECT_EQ(r.status, 400);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, "invalid_field");
  EXPECT_EQ(nlohmann::json::parse(r.body),
            nlohmann::json::parse(
                R"({"error":{"code":"invalid_field","message":"name: too long","field":"name"}})"));
  EXPECT_EQ(ErrorJson({404, "not_found", "no such agent", ""}),
            nlohmann::json::parse(R"({"code":"not_found","message":"no such agent"})"));
}

TEST(StaticAsset, EtagFollowsTheBytes) {
  StaticAsset a = MakeAsset("text/html; charset=utf-8", "<html></html>", false);
  StaticAsset b = MakeAsset("text/html; charset=utf-8", "<html></html>", false);
  StaticAsset c = MakeAsset("text/html; charset=utf-8", "<html> </html>", false);
  EXPECT_EQ(a.etag, b.etag);
  EXPECT_NE(a.etag, c.etag);
  ASSERT_EQ(a.etag.size(), 34u);
  EXPECT_EQ(a.etag.front(), '"');
  EXPECT_EQ(a.etag.back(), '"');
}

void ExpectSecurityHeaders(const HttpResponse& r) {
  auto csp = r.headers.Get("Content-Security-Policy");
  ASSERT_TRUE(csp);
  EXPECT_NE(csp->find("default-src 'self'"), std::string_view::npos);
  EXPECT_NE(csp->find("frame-ancestors 'none'"), std::string_view::npos);
  EXPECT_EQ(csp->find("unsafe-inline"), std::string_view::npos);
  EXPECT_EQ(r.headers.Value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.headers.Value("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r.headers.Value("X-Frame-Options"), "DENY");
}

TEST(StaticAsset, ServedWithValidatorCachingAndSecurityHeaders) {
  StaticAsset page = MakeAsset("text/html; charset=utf-8", "<!doctype html><p>hi", false);
  HttpRequest req;
  HttpResponse r = AssetResponse(req, page);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, "<!doctype html><p>hi");
  EXPECT_EQ(r.headers.Value("ETag"), page.etag);
  EXPECT_EQ(r.headers.Value("Cache-Control"), "no-cache");
  ExpectSecurityHeaders(r);

  StaticAsset js = MakeAsset("text/javascript; charset=utf-8", "let a = 1;", true);
  r = AssetResponse(req, js);
  EXPECT_EQ(r.headers.Value("Cache-Control"), "public, max-age=31536000, immutable");
}

TEST(StaticAsset, AnswersNotModifiedWhenTheClientHasTheSameBytes) {
  StaticAsset a = MakeAsset("text/css; charset=utf-8", "p{}", false);
  HttpRequest req;
  req.headers.Add("if-none-match", "\"0000\", W/" + a.etag);
  HttpResponse r = AssetResponse(req, a);
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.content_type.empty());
  EXPECT_EQ(r.headers.Value("ETag"), a.etag);
  ExpectSecurityHeaders(r);

  HttpRequest stale;
  stale.headers.Add("If-None-Match", "\"0000\"");
  EXPECT_EQ(AssetResponse(stale, a).status, 200);
  HttpRequest any;
  any.headers.Add("If-None-Match", " * ");
  EXPECT_EQ(AssetResponse(any, a).status, 304);
}

TEST(IfNoneMatch, FollowsWeakComparisonAndRefusesMalformedTags) {
  EXPECT_TRUE(IfNoneMatchMatches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\" ,\t\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\",,\"abc\"", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("\"abcd\"", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("abc", "\"abc\""));        // unquoted
  EXPECT_FALSE(IfNoneMatchMatches("\"a\"bc\"", "\"abc\""));  // quote inside
  EXPECT_FALSE(IfNoneMatchMatches("", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("\"", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("bad, \"abc\"", "\"abc\""));  // stops at the malformed one
}

TEST(ContentType, FollowsTheExtension) {
  EXPECT_EQ(ContentTypeForPath("/console/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeForPath("app.3f2a.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeForPath("a/b.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeForPath("logo.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeForPath("f.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeForPath("dir.js/readme"), "application/octet-stream");
  EXPECT_EQ(ContentTypeForPath("noext"), "application/octet-stream");
}

}  // namespace
}  // namespace ward::manager

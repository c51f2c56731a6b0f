#include "agent/modules/ips/path_prefix.h"

#include <gtest/gtest.h>

namespace ward::agent::ips {
namespace {

TEST(PathPrefix, NormalisesAsABackEndResolvesThePath) {
  struct Case {
    const char* target;
    const char* path;
  } cases[] = {
      {"/api/items?id=1", "/api/items"},
      {"/api/items#frag", "/api/items"},
      {"/api/", "/api/"},
      {"", "/"},
      {"/", "/"},
      {"//api///items", "/api/items"},
      {"/api/./items/.", "/api/items/"},
      {"/api/../admin", "/admin"},
      {"/api/..%2fadmin", "/admin"},
      {"/api/%2e%2e/admin", "/admin"},
      {"/api/%252e%252e/admin", "/admin"},  // double encoding
      {"/api/..;/admin", "/admin"},         // Tomcat path parameters
      {"/api;jsessionid=1/items", "/api/items"},
      {"/api\\..\\admin", "/admin"},  // back slashes
      {"/api/%5c..%5cadmin", "/admin"},
      {"/api/%u002e%u002e/admin", "/admin"},              // IIS %u
      {"/api/%uff0e%uff0e%uff0fadmin", "/admin"},         // full-width . . /
      {"/api/\xef\xbc\x8e\xef\xbc\x8e/admin", "/admin"},  // full-width dots, raw UTF-8
      {"/../../etc/passwd", "/etc/passwd"},               // never above the root
      {"HTTP://example.com/api/x?y", "/api/x"},           // absolute form
      {"http://example.com", "/"},
      {"/API/items", "/API/items"},  // case is kept
      {"/%E6%97%A5%E6%9C%AC/", "/\xe6\x97\xa5\xe6\x9c\xac/"},
  };
  for (const auto& c : cases) {
    auto n = NormalizeRequestPath(c.target);
    ASSERT_TRUE(n.has_value()) << c.target;
    EXPECT_EQ(*n, c.path) << c.target;
  }
  EXPECT_FALSE(NormalizeRequestPath("/api/%00/x").has_value()) << "NUL";
  EXPECT_FALSE(NormalizeRequestPath("/api/%0a").has_value()) << "control character";
  EXPECT_FALSE(NormalizeRequestPath("/api/%2525252525252e").has_value()) << "5 layers of escapes";
}

TEST(PathPrefix, CoversPathsUnderThePrefixAtASegmentBoundaryOnly) {
  EXPECT_TRUE(PathPrefixMatches("/api/items?id=1", "/api/"));
  EXPECT_TRUE(PathPrefixMatches("/api/v2/items", "/api/"));
  EXPECT_TRUE(PathPrefixMatches("/api", "/api"));
  EXPECT_TRUE(PathPrefixMatches("/api/x", "/api"));
  EXPECT_TRUE(PathPrefixMatches("//api//x", "/api"));
  EXPECT_TRUE(PathPrefixMatches("/static/../api/x", "/api/")) << "resolves into the prefix";
  EXPECT_TRUE(PathPrefixMatches("/%61pi/x", "/api/")) << "escaped letters are the same path";
  EXPECT_TRUE(PathPrefixMatches("/anything", "/"));
  EXPECT_FALSE(PathPrefixMatches("/apix", "/api"));
  EXPECT_FALSE(PathPrefixMatches("/api", "/api/"));
  EXPECT_FALSE(PathPrefixMatches("/other?x=/api/", "/api/")) << "the query is not the path";
}

// Every way of spelling a path outside the prefix that starts with the prefix's bytes: none
// may be covered (an exclusion never widens).
TEST(PathPrefix, EvasionsCannotWidenThePrefix) {
  const char* outside[] = {
      "/api/../admin?id=1",
      "/api/..%2fadmin",
      "/api/..%2Fadmin",
      "/api/%2e%2e/admin",
      "/api/%2E%2E%2Fadmin",
      "/api/%252e%252e%252fadmin",
      "/api/..;/admin",
      "/api/..;a=b/admin",
      "/api\\..\\admin",
      "/api/..%5cadmin",
      "/api/%u002e%u002e%u002fadmin",
      "/api/%uff0e%uff0e/admin",
      "/api/./../admin",
      "/api//../../admin",
      "/api/%00/../admin",
      "/api%00/x",
      "/API/x",
      "/Api/x",
      "/api.x",
  };
  for (const char* t : outside) {
    EXPECT_FALSE(PathPrefixMatches(t, "/api/")) << t;
    EXPECT_FALSE(PathPrefixMatches(t, "/api")) << t;
  }
  // An encoded slash inside the prefix is the same path, so it is covered (narrowing would let
  // an attacker's spelling escape the exclusion, which only costs a false positive).
  EXPECT_TRUE(PathPrefixMatches("/api%2fx", "/api/"));
}

TEST(PathPrefix, PrefixesMustBeCanonical) {
  EXPECT_EQ(ValidatePathPrefix("/api/"), "");
  EXPECT_EQ(ValidatePathPrefix("/api"), "");
  EXPECT_EQ(ValidatePathPrefix("/"), "");
  EXPECT_EQ(ValidatePathPrefix("/\xe6\x97\xa5\xe6\x9c\xac/"), "");
  for (const char* bad : {"", "api/", "/api//x", "/api/./x", "/api/../x", "/api/%2e", "/a\\b",
                          "/a;b", "/a?b", "/a#b", "/a b", "/a\"b", "/a,b", "/a\tb"}) {
    EXPECT_NE(ValidatePathPrefix(bad), "") << bad;
  }
  EXPECT_NE(ValidatePathPrefix("/" + std::string(1024, 'a')), "");
}

}  // namespace
}  // namespace ward::agent::ips

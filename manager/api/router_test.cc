#include "manager/api/router.h"

#include <gtest/gtest.h>

namespace ward::manager {
namespace {

TEST(Router, MatchesLiteralsBeforeParametersAndCapturesIds) {
  Router r;
  r.Add("GET", "/api/v1/events/counts", 1);
  r.Add("GET", "/api/v1/policies/{id}", 2);
  r.Add("DELETE", "/api/v1/policies/{id}", 3);
  auto m = r.Route("GET", "/api/v1/events/counts");
  EXPECT_EQ(m.id, 1);
  m = r.Route("GET", "/api/v1/policies/0193abcd");
  EXPECT_EQ(m.id, 2);
  EXPECT_EQ(m.params.at("id"), "0193abcd");
  m = r.Route("DELETE", "/api/v1/policies/x/");
  EXPECT_EQ(m.id, 3);
}

TEST(Router, Answers404ForUnknownPathsAnd405WithAllowForOtherMethods) {
  Router r;
  r.Add("GET", "/api/v1/policies/{id}", 0);
  r.Add("PATCH", "/api/v1/policies/{id}", 1);
  auto m = r.Route("POST", "/api/v1/policies/abc");
  EXPECT_EQ(m.id, -1);
  EXPECT_EQ(m.error.status, 405);
  EXPECT_EQ(m.allow, "GET, PATCH");
  m = r.Route("GET", "/api/v1/nothing");
  EXPECT_EQ(m.error.status, 404);
}

TEST(Router, RefusesDotSegmentsEmptySegmentsAndOddBytes) {
  Router r;
  r.Add("GET", "/api/v1/policies/{id}", 0);
  for (const char* p : {"/api/v1/policies/..", "/api/v1//policies/x", "/api/v1/policies/a b",
                        "/api/v1/policies/%2e", "api/v1/policies/x", ""}) {
    EXPECT_EQ(r.Route("GET", p).id, -1) << p;
  }
  EXPECT_EQ(r.Route("GET", "/api/v1/policies/" + std::string(200, 'a')).id, -1);
}

}  // namespace
}  // namespace ward::manager

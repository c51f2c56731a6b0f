#include "manager/auth/sessions.h"

#include <gtest/gtest.h>

#include "manager/auth/passwords.h"

namespace ward::manager {
namespace {

TEST(ConsoleSessionCookie, FindsTheSessionAmongOtherCookies) {
  const std::string s = NewSessionSecret();
  ASSERT_TRUE(s.starts_with("wss_"));
  EXPECT_EQ(s.size(), 4u + 43u);
  EXPECT_EQ(SessionFromCookieHeader("a=1; __Host-ward_session=" + s + "; b=2"), s);
  EXPECT_EQ(SessionFromCookieHeader("__Host-ward_session=" + s), s);
  EXPECT_FALSE(SessionFromCookieHeader(""));
  EXPECT_FALSE(SessionFromCookieHeader("ward_session=" + s)) << "only the __Host- cookie";
  EXPECT_FALSE(SessionFromCookieHeader("__Host-ward_session=wak_x")) << "not a session secret";
  EXPECT_FALSE(SessionFromCookieHeader("__Host-ward_session=wss_" + std::string(200, 'a')));
  EXPECT_NE(NewSessionSecret(), s);
}

TEST(ConsoleSessionCookie, CsrfTokenIsBoundToTheSecretAndCookieIsStrict) {
  const std::string a = NewSessionSecret(), b = NewSessionSecret();
  EXPECT_EQ(CsrfTokenFor(a), CsrfTokenFor(a));
  EXPECT_NE(CsrfTokenFor(a), CsrfTokenFor(b));
  EXPECT_EQ(CsrfTokenFor(a).size(), 64u);
  const std::string c = SessionSetCookie(a, 0);
  for (const char* attr : {"; Path=/", "; Secure", "; HttpOnly", "; SameSite=Strict"}) {
    EXPECT_NE(c.find(attr), std::string::npos) << attr;
  }
  EXPECT_EQ(c.find("Domain"), std::string::npos);
  EXPECT_NE(SessionClearCookie().find("Max-Age=0"), std::string::npos);
}

TEST(ConsolePasswords, Argon2idVerifiesOnlyTheRightPassword) {
  auto h = HashPassword("correct horse battery staple");
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_TRUE(h->starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << *h;
  EXPECT_TRUE(VerifyPassword(*h, "correct horse battery staple"));
  EXPECT_FALSE(VerifyPassword(*h, "correct horse battery stapler"));
  EXPECT_FALSE(VerifyPassword("", "x"));
  EXPECT_FALSE(VerifyPassword("$2y$10$notargon", "x"));
  auto h2 = HashPassword("correct horse battery staple");
  ASSERT_TRUE(h2);
  EXPECT_NE(*h, *h2) << "salted";
  EXPECT_FALSE(HashPassword(""));
  EXPECT_FALSE(HashPassword(std::string(1025, 'x')));
}

TEST(ConsolePasswords, GeneratedPasswordsAreLongAndDistinct) {
  const std::string p = NewPassword();
  EXPECT_EQ(p.size(), 20u);
  EXPECT_GE(p.size(), kMinPasswordLength);
  EXPECT_NE(NewPassword(), p);
}

}  // namespace
}  // namespace ward::manager

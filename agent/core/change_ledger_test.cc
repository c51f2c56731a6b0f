#include "agent/core/change_ledger.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "testing/fake_clock.h"

namespace ward::agent {
namespace {

using std::chrono::milliseconds;
using Expected = ChangeLedger::Expected;

const std::string kNoTarget;

bool ConsumeFile(ChangeLedger& l, const std::string& path, std::string_view content,
                 uint32_t mode) {
  Sha256Digest d = Sha256::Of(content);
  return l.Consume(path, true, FileType::kRegular, &d, kNoTarget, mode);
}

bool ConsumeGone(ChangeLedger& l, const std::string& path) {
  return l.Consume(path, false, FileType::kRegular, nullptr, kNoTarget, 0);
}

TEST(ChangeLedger, FileMatchesOnSha256AndModeOnce) {
  ChangeLedger l;
  l.Expect("/www/index.html", Expected::File(Sha256::Of("good"), 0644));
  EXPECT_TRUE(ConsumeFile(l, "/www/index.html", "good", 0644));
  EXPECT_FALSE(ConsumeFile(l, "/www/index.html", "good", 0644)) << "an expectation is used once";
}

TEST(ChangeLedger, UnannouncedPathIsNotExpected) {
  ChangeLedger l;
  l.Expect("/www/a", Expected::File(Sha256::Of("good"), 0644));
  EXPECT_FALSE(ConsumeFile(l, "/www/b", "good", 0644));
  EXPECT_FALSE(ConsumeGone(l, "/www/b"));
}

TEST(ChangeLedger, ContentMismatchKeepsTheExpectation) {
  ChangeLedger l;
  l.Expect("/www/index.html", Expected::File(Sha256::Of("good"), 0644));
  EXPECT_FALSE(ConsumeFile(l, "/www/index.html", "evil", 0644));
  EXPECT_FALSE(l.Consume("/www/index.html", true, FileType::kRegular, nullptr, kNoTarget, 0644))
      << "a regular file without a hash cannot match a hashed expectation";
  EXPECT_TRUE(ConsumeFile(l, "/www/index.html", "good", 0644))
      << "the mismatch must not have used up the expectation";
}

TEST(ChangeLedger, ModeMismatchKeepsTheExpectation) {
  ChangeLedger l;
  l.Expect("/www/run.sh", Expected::File(Sha256::Of("#!/bin/sh\n"), 0755));
  EXPECT_FALSE(ConsumeFile(l, "/www/run.sh", "#!/bin/sh\n", 0644));
  EXPECT_TRUE(ConsumeFile(l, "/www/run.sh", "#!/bin/sh\n", 0755));
}

TEST(ChangeLedger, ModeZeroIsNotChecked) {
  ChangeLedger l;
  l.Expect("/www/a", Expected::File(Sha256::Of("x"), 0));
  EXPECT_TRUE(ConsumeFile(l, "/www/a", "x", 0600));
}

TEST(ChangeLedger, TypeAndExistenceMustMatch) {
  ChangeLedger l;
  l.Expect("/www/a", Expected::File(Sha256::Of("x"), 0644));
  EXPECT_FALSE(ConsumeGone(l, "/www/a")) << "a deletion is not the announced file";
  EXPECT_FALSE(l.Consume("/www/a", true, FileType::kDirectory, nullptr, kNoTarget, 0644));
  EXPECT_TRUE(ConsumeFile(l, "/www/a", "x", 0644));

  l.Expect("/www/d", Expected::Directory());
  EXPECT_FALSE(ConsumeFile(l, "/www/d", "x", 0755));
  EXPECT_TRUE(l.Consume("/www/d", true, FileType::kDirectory, nullptr, kNoTarget, 0755));
}

TEST(ChangeLedger, SymlinkMatchesOnTarget) {
  ChangeLedger l;
  l.Expect("/www/current", Expected::Symlink("releases/2"));
  EXPECT_FALSE(l.Consume("/www/current", true, FileType::kSymlink, nullptr, "/etc/passwd", 0777));
  EXPECT_TRUE(l.Consume("/www/current", true, FileType::kSymlink, nullptr, "releases/2", 0777));
}

TEST(ChangeLedger, ExpectationExpiresAfterTtl) {
  test::FakeClock clock;
  ChangeLedger l(milliseconds(50), clock);
  l.Expect("/www/a", Expected::File(Sha256::Of("x"), 0644));
  l.Expect("/www/b", Expected::File(Sha256::Of("y"), 0644));
  clock.Advance(milliseconds(49));
  EXPECT_TRUE(ConsumeFile(l, "/www/b", "y", 0644)) << "still within the ttl";
  clock.Advance(milliseconds(2));
  EXPECT_FALSE(ConsumeFile(l, "/www/a", "x", 0644));
}

TEST(ChangeLedger, ZeroTtlExpiresAtOnce) {
  ChangeLedger l(milliseconds(0));
  l.Expect("/www/a", Expected::File(Sha256::Of("x"), 0644));
  l.Expect("/www/tmp", Expected::Scratch());
  EXPECT_FALSE(ConsumeFile(l, "/www/a", "x", 0644));
  EXPECT_FALSE(ConsumeGone(l, "/www/tmp"));
}

TEST(ChangeLedger, ExpectationWithinTtlIsKept) {
  ChangeLedger l(std::chrono::hours(1));
  l.Expect("/www/a", Expected::File(Sha256::Of("x"), 0644));
  l.Expect("/www/b", Expected::File(Sha256::Of("y"), 0644));  // expiry runs on every call
  EXPECT_TRUE(ConsumeFile(l, "/www/a", "x", 0644));
}

TEST(ChangeLedger, NewExpectationReplacesTheOldOne) {
  ChangeLedger l;
  l.Expect("/www/a", Expected::File(Sha256::Of("v1"), 0644));
  l.Expect("/www/a", Expected::File(Sha256::Of("v2"), 0644));
  EXPECT_FALSE(ConsumeFile(l, "/www/a", "v1", 0644));
  EXPECT_TRUE(ConsumeFile(l, "/www/a", "v2", 0644));
}

TEST(ChangeLedger, ScratchMatchesAnythingRepeatedly) {
  ChangeLedger l;
  l.Expect("/www/.a.ward-heal-1", Expected::Scratch());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(ConsumeFile(l, "/www/.a.ward-heal-1", "partial", 0600));
    EXPECT_TRUE(ConsumeFile(l, "/www/.a.ward-heal-1", "whole", 0644));
    EXPECT_TRUE(ConsumeGone(l, "/www/.a.ward-heal-1"));
    EXPECT_TRUE(l.Consume("/www/.a.ward-heal-1", true, FileType::kSymlink, nullptr, "x", 0777));
  }
}

TEST(ChangeLedger, GoneWithSubtreeMatchesDeletionsBelowIt) {
  ChangeLedger l;
  l.Expect("/www/old", Expected::Gone(true));
  EXPECT_TRUE(ConsumeGone(l, "/www/old/a.html"));
  EXPECT_TRUE(ConsumeGone(l, "/www/old/deep/b.css"));
  EXPECT_TRUE(ConsumeGone(l, "/www/old"));
  EXPECT_FALSE(ConsumeFile(l, "/www/old/new.php", "x", 0644))
      << "a creation below a removed tree is not expected";
  EXPECT_FALSE(ConsumeFile(l, "/www/old", "x", 0644));
  EXPECT_FALSE(ConsumeGone(l, "/www/older")) << "a sibling with a common prefix is not below";
  EXPECT_FALSE(ConsumeGone(l, "/www"));
}

TEST(ChangeLedger, GoneWithoutSubtreeMatchesOnlyThePathOnce) {
  ChangeLedger l;
  l.Expect("/www/dir", Expected::Gone(false));
  EXPECT_FALSE(ConsumeGone(l, "/www/dir/a"));
  EXPECT_FALSE(ConsumeFile(l, "/www/dir", "x", 0644));
  EXPECT_TRUE(ConsumeGone(l, "/www/dir"));
  EXPECT_FALSE(ConsumeGone(l, "/www/dir"));
}

TEST(ChangeLedger, MaintenanceCoversEverythingBelowTheRoot) {
  ChangeLedger l;
  EXPECT_FALSE(l.InMaintenance("/var/www/html/index.html"));
  l.SetMaintenance("/var/www/html", true);
  EXPECT_TRUE(l.InMaintenance("/var/www/html"));
  EXPECT_TRUE(l.InMaintenance("/var/www/html/index.html"));
  EXPECT_TRUE(l.InMaintenance("/var/www/html/a/b/c"));
  EXPECT_FALSE(l.InMaintenance("/var/www/html2/index.html"));
  EXPECT_FALSE(l.InMaintenance("/var/www"));

  l.SetMaintenance("/srv/api", true);
  l.SetMaintenance("/var/www/html", false);
  EXPECT_FALSE(l.InMaintenance("/var/www/html/index.html"));
  EXPECT_TRUE(l.InMaintenance("/srv/api/x"));
  l.SetMaintenance("/srv/api", false);
  EXPECT_FALSE(l.InMaintenance("/srv/api/x"));
}

TEST(ChangeLedger, ConcurrentExpectAndConsumeLoseNothing) {
  ChangeLedger l(std::chrono::hours(1));
  constexpr int kPerThread = 500;
  auto worker = [&](int t, int* matched) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string p = "/www/t" + std::to_string(t) + "/" + std::to_string(i);
      l.Expect(p, Expected::File(Sha256::Of(p), 0644));
      if (ConsumeFile(l, p, p, 0644)) ++*matched;
    }
  };
  int m1 = 0;
  int m2 = 0;
  std::thread a(worker, 1, &m1);
  std::thread b(worker, 2, &m2);
  a.join();
  b.join();
  EXPECT_EQ(m1, kPerThread);
  EXPECT_EQ(m2, kPerThread);
}

}  // namespace
}  // namespace ward::agent

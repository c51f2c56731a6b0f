#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace ward {
namespace {

TEST(Status, DefaultIsOkWithEmptyMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(Status, HelpersCarryTheirCodeAndMessage) {
  struct Case {
    Status status;
    StatusCode code;
  };
  const Case cases[] = {
      {InvalidArgument("m"), StatusCode::kInvalidArgument},
      {NotFound("m"), StatusCode::kNotFound},
      {AlreadyExists("m"), StatusCode::kAlreadyExists},
      {PermissionDenied("m"), StatusCode::kPermissionDenied},
      {Unauthenticated("m"), StatusCode::kUnauthenticated},
      {FailedPrecondition("m"), StatusCode::kFailedPrecondition},
      {Unavailable("m"), StatusCode::kUnavailable},
      {DataLoss("m"), StatusCode::kDataLoss},
      {Internal("m"), StatusCode::kInternal},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(c.status.ok()) << StatusCodeName(c.code);
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "m");
  }
}

TEST(Status, ToStringNamesTheCodeThenTheMessage) {
  EXPECT_EQ(InvalidArgument("integrity.schedule: bad").ToString(),
            "invalid argument: integrity.schedule: bad");
  EXPECT_EQ(NotFound("x").ToString(), "not found: x");
  EXPECT_EQ(PermissionDenied("y").ToString(), "permission denied: y");
}

TEST(Status, WithContextPrefixesTheMessageAndKeepsTheCode) {
  Status s = NotFound("no such file").WithContext("opening /etc/ward.yaml");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "opening /etc/ward.yaml: no such file");
  Status twice = s.WithContext("loading policy");
  EXPECT_EQ(twice.message(), "loading policy: opening /etc/ward.yaml: no such file");
}

TEST(Status, WithContextOnOkStaysOkAndEmpty) {
  Status s = Status::Ok().WithContext("anything");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(ErrnoStatus, MapsEnoentToNotFoundWithStrerror) {
  Status s = ErrnoStatus(ENOENT, "open /x");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), std::string("open /x: ") + std::strerror(ENOENT));
}

TEST(ErrnoStatus, MapsEaccesAndEpermToPermissionDenied) {
  EXPECT_EQ(ErrnoStatus(EACCES, "open").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EPERM, "open").code(), StatusCode::kPermissionDenied);
}

TEST(ErrnoStatus, MapsOtherCommonErrnosToTheirClosestCode) {
  EXPECT_EQ(ErrnoStatus(ENOTDIR, "w").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EEXIST, "w").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoStatus(EINVAL, "w").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "w").code(), StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoStatus(EIO, "w").code(), StatusCode::kDataLoss);
  EXPECT_EQ(ErrnoStatus(EXDEV, "w").code(), StatusCode::kInternal);
}

TEST(Result, HoldsAValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  EXPECT_TRUE(r.status().ok());
}

TEST(Result, HoldsAnErrorStatus) {
  Result<int> r = NotFound("gone");
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.error().message(), "gone");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(Result, ArrowAndMoveOutGiveTheHeldObject) {
  Result<std::string> r = std::string("hello");
  EXPECT_EQ(r->size(), 5u);
  r->append("!");
  EXPECT_EQ(*r, "hello!");
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "hello!");
}

TEST(Result, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.has_value());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);
}

TEST(ResultDeathTest, ConstructingFromOkStatusAborts) {
  EXPECT_DEATH(
      {
        Result<int> r(Status::Ok());
        (void)r;
      },
      "WARD_CHECK failed");
}

TEST(ResultDeathTest, ReadingTheValueOfAnErrorAborts) {
  EXPECT_DEATH(
      {
        Result<int> r = Internal("x");
        (void)r.value();
      },
      "WARD_CHECK failed");
}

// Helpers for the macro tests: each records how far it got.
Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x, bool* reached_end) {
  WARD_ASSIGN_OR_RETURN(int h, Half(x));
  WARD_ASSIGN_OR_RETURN(int q, Half(h));
  *reached_end = true;
  return q;
}

Status CheckAll(const Status& a, const Status& b, int* steps) {
  WARD_RETURN_IF_ERROR(a);
  ++*steps;
  WARD_RETURN_IF_ERROR(b);
  ++*steps;
  return Status::Ok();
}

TEST(WardAssignOrReturn, AssignsTheValueOnSuccess) {
  bool reached_end = false;
  Result<int> r = Quarter(8, &reached_end);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 2);
  EXPECT_TRUE(reached_end);
}

TEST(WardAssignOrReturn, ReturnsTheErrorAndStopsEarly) {
  bool reached_end = false;
  Result<int> r = Quarter(6, &reached_end);  // 6 -> 3 -> odd
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "odd");
  EXPECT_FALSE(reached_end);
}

TEST(WardAssignOrReturn, WorksInAFunctionReturningStatus) {
  auto f = [](int x, int* out) -> Status {
    WARD_ASSIGN_OR_RETURN(*out, Half(x));
    return Status::Ok();
  };
  int out = -1;
  EXPECT_TRUE(f(10, &out).ok());
  EXPECT_EQ(out, 5);
  out = -1;
  Status s = f(3, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out, -1);
}

TEST(WardReturnIfError, PassesOkAndReturnsTheFirstError) {
  int steps = 0;
  EXPECT_TRUE(CheckAll(Status::Ok(), Status::Ok(), &steps).ok());
  EXPECT_EQ(steps, 2);

  steps = 0;
  Status s = CheckAll(Status::Ok(), DataLoss("second"), &steps);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "second");
  EXPECT_EQ(steps, 1);

  steps = 0;
  s = CheckAll(Unavailable("first"), DataLoss("second"), &steps);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "first");
  EXPECT_EQ(steps, 0);
}

}  // namespace
}  // namespace ward

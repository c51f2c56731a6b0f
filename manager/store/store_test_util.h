// Tests only: assertions on Status and Result for the store's database tests.
#pragma once

#include <gtest/gtest.h>

#include <utility>

#include "common/status.h"

// Fails the test (and returns) with the status's text when `expr` is not ok.
#define ASSERT_OK(expr)                                     \
  do {                                                      \
    auto s_ = (expr);                                       \
    ASSERT_TRUE(s_.ok()) << #expr << ": " << s_.ToString(); \
  } while (0)

namespace ward::manager::store_test {

// The value of `r`, or (with a failure naming `what` and the error) a default one.
template <typename T>
T Ok(Result<T> r, const char* what) {
  if (!r.has_value()) {
    ADD_FAILURE() << what << ": " << r.error().ToString();
    return T{};
  }
  return std::move(r).value();
}

}  // namespace ward::manager::store_test

#define OK(expr) ::ward::manager::store_test::Ok((expr), #expr)

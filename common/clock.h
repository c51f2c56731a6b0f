// Clock: the seam through which all code reads time, so tests can use a fake one.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>

namespace ward {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

class RealClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }
};

// How long to wait in real time (on a condition variable) for `deadline` on `clock`: the time
// left, never negative and at most `tick`, so that a loop waiting on a clock that jumps (a
// FakeClock in tests) looks at it again soon.
inline std::chrono::nanoseconds WaitBudget(
    const Clock& clock, std::chrono::steady_clock::time_point deadline,
    std::chrono::nanoseconds tick = std::chrono::seconds(1)) {
  auto left = deadline - clock.SteadyNow();
  if (left < std::chrono::nanoseconds::zero()) return std::chrono::nanoseconds::zero();
  return std::min<std::chrono::nanoseconds>(left, tick);
}

// The process-wide real clock.
const Clock& SystemClock();

// "2026-11-25T20:50:51.123Z"
std::string FormatTimestamp(std::chrono::system_clock::time_point t);
// Same, from nanoseconds since the epoch.
std::string FormatTimestampNs(int64_t ns_since_epoch);

}  // namespace ward

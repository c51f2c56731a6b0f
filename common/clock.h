// Clock: the seam through which all code reads time, so tests can use a fake one.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

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

// The process-wide real clock.
const Clock& SystemClock();

// "2026-11-25T20:50:51.123Z"
std::string FormatTimestamp(std::chrono::system_clock::time_point t);
// Same, from nanoseconds since the epoch.
std::string FormatTimestampNs(int64_t ns_since_epoch);

}  // namespace ward

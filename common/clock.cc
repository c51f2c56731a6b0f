#include "common/clock.h"

#include <fmt/format.h>

#include <ctime>

namespace ward {

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

std::string FormatTimestampNs(int64_t ns) {
  int64_t secs = ns / 1'000'000'000;
  int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --secs;
  }
  time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem / 1'000'000);
}

std::string FormatTimestamp(std::chrono::system_clock::time_point t) {
  return FormatTimestampNs(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace ward

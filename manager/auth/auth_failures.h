// AuthFailureThrottle: failed authentications per source address. Each address may fail
// `per_minute` times in a burst, refilled at per_minute / 60 a second (a token bucket); past that,
// every request from the address is answered 429 with Retry-After until the bucket refills, so a
// key or credential cannot be guessed faster than that. It also counts failures and throttled
// tries per address for the audit log, which gets one row per address per interval
// (TakeSummaries), and it logs the first failure of an address in each interval and the moment
// an address becomes throttled — never one line per failure.
// Addresses are keys chosen by the caller (the server passes IPv6 addresses as their /64).
// In memory, per manager node; entries idle for 10 minutes are dropped.
// Thread-safety: safe from many threads (one mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"

namespace ward::manager {

struct AuthFailureSummary {
  std::string address;
  int64_t failures = 0;   // 401s answered in the interval
  int64_t throttled = 0;  // 429s answered in the interval because of earlier failures
  std::chrono::system_clock::time_point first;  // first of either in the interval
  std::chrono::system_clock::time_point last;   // last of either in the interval
};

class AuthFailureThrottle {
 public:
  // per_minute <= 0: failures are counted and logged but never throttled.
  AuthFailureThrottle(int per_minute, const Clock& clock)
      : per_minute_(per_minute), clock_(clock) {}

  // 0 when `address` may try to authenticate; else the whole seconds to wait (>= 1), and the
  // try is counted as throttled.
  int Check(const std::string& address);
  // Records one failed authentication from `address`.
  void RecordFailure(const std::string& address);
  // The counts since the previous call, one entry per address that failed or was throttled, and
  // starts a new interval.
  std::vector<AuthFailureSummary> TakeSummaries();

 private:
  struct Entry {
    double tokens = 0;
    std::chrono::steady_clock::time_point updated;
    AuthFailureSummary window;  // failures == throttled == 0: nothing in this interval
    bool throttled_logged = false;
  };
  void Refill(Entry& e, std::chrono::steady_clock::time_point now) const;
  void Prune(std::chrono::steady_clock::time_point now);

  const int per_minute_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::chrono::steady_clock::time_point last_prune_{};
};

}  // namespace ward::manager

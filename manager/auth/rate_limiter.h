// RateLimiter: token buckets per key (e.g. per API key and per tenant), refilled continuously at
// `per_minute` / 60 tokens a second up to `per_minute`. In memory, per manager node: with N nodes
// behind a load balancer a client gets up to N times the limit (documented in docs/manager.md).
// Thread-safety: safe from many threads (one mutex; buckets idle for 10 minutes are pruned).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace ward::manager {

class RateLimiter {
 public:
  RateLimiter(int per_minute, const Clock& clock) : per_minute_(per_minute), clock_(clock) {}

  // Takes one token for `key`: 0 when allowed, else the whole seconds to wait (Retry-After, >= 1).
  int Take(const std::string& key);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point updated;
  };
  const int per_minute_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::chrono::steady_clock::time_point last_prune_{};
};

}  // namespace ward::manager

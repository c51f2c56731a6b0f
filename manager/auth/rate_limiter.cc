#include "manager/auth/rate_limiter.h"

#include <cmath>

namespace ward::manager {

int RateLimiter::Take(const std::string& key) {
  if (per_minute_ <= 0) return 0;  // unlimited
  auto now = clock_.SteadyNow();
  std::lock_guard lock(mu_);
  if (now - last_prune_ > std::chrono::minutes(10)) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      it = now - it->second.updated > std::chrono::minutes(10) ? buckets_.erase(it) : ++it;
    }
    last_prune_ = now;
  }
  const double rate = per_minute_ / 60.0;  // tokens per second
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{static_cast<double>(per_minute_), now});
  Bucket& b = it->second;
  if (!inserted) {
    double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min<double>(per_minute_, b.tokens + elapsed * rate);
    b.updated = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / rate)));
}

}  // namespace ward::manager

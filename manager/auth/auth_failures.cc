#include "manager/auth/auth_failures.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"

namespace ward::manager {

void AuthFailureThrottle::Refill(Entry& e, std::chrono::steady_clock::time_point now) const {
  if (per_minute_ <= 0) return;
  const double elapsed = std::chrono::duration<double>(now - e.updated).count();
  e.tokens = std::min<double>(per_minute_, e.tokens + elapsed * per_minute_ / 60.0);
  e.updated = now;
}

void AuthFailureThrottle::Prune(std::chrono::steady_clock::time_point now) {
  if (now - last_prune_ < std::chrono::minutes(1)) return;
  last_prune_ = now;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const bool idle = now - it->second.updated > std::chrono::minutes(10);
    const bool empty = it->second.window.failures == 0 && it->second.window.throttled == 0;
    it = idle && empty ? entries_.erase(it) : ++it;
  }
}

int AuthFailureThrottle::Check(const std::string& address) {
  if (per_minute_ <= 0) return 0;
  const auto now = clock_.SteadyNow();
  std::lock_guard lock(mu_);
  auto it = entries_.find(address);
  if (it == entries_.end()) return 0;
  Entry& e = it->second;
  Refill(e, now);
  if (e.tokens >= 1.0) {
    e.throttled_logged = false;
    return 0;
  }
  const auto wall = clock_.Now();
  if (e.window.failures == 0 && e.window.throttled == 0) {
    e.window.address = address;
    e.window.first = wall;
  }
  ++e.window.throttled;
  e.window.last = wall;
  return std::max(1, static_cast<int>(std::ceil((1.0 - e.tokens) * 60.0 / per_minute_)));
}

void AuthFailureThrottle::RecordFailure(const std::string& address) {
  const auto now = clock_.SteadyNow();
  const auto wall = clock_.Now();
  std::lock_guard lock(mu_);
  Prune(now);
  auto [it, inserted] = entries_.try_emplace(address);
  Entry& e = it->second;
  if (inserted) {
    e.tokens = per_minute_;
    e.updated = now;
  }
  Refill(e, now);
  if (e.window.failures == 0 && e.window.throttled == 0) {
    e.window.address = address;
    e.window.first = wall;
    spdlog::warn(
        "authentication failed from {} (further failures from it are summarised "
        "in the audit log)",
        address);
  }
  ++e.window.failures;
  e.window.last = wall;
  if (per_minute_ > 0) {
    e.tokens = std::max(0.0, e.tokens - 1.0);
    if (e.tokens < 1.0 && !e.throttled_logged) {
      e.throttled_logged = true;
      spdlog::warn("authentication from {} throttled: more than {} failures a minute", address,
                   per_minute_);
    }
  }
}

std::vector<AuthFailureSummary> AuthFailureThrottle::TakeSummaries() {
  std::vector<AuthFailureSummary> out;
  std::lock_guard lock(mu_);
  for (auto& [address, e] : entries_) {
    if (e.window.failures == 0 && e.window.throttled == 0) continue;
    out.push_back(std::move(e.window));
    e.window = AuthFailureSummary{};
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.address < b.address; });
  return out;
}

}  // namespace ward::manager

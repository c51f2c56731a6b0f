#include "common/service_notify.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>

namespace ward {
namespace {

void Send(const std::string& state) {
  int rc = sd_notify(/*unset_environment=*/0, state.c_str());
  if (rc < 0) spdlog::debug("sd_notify({}): error {}", state, rc);
}

// STATUS= takes one line.
std::string OneLine(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

}  // namespace

void NotifyReady(std::string_view status) {
  Send(status.empty() ? std::string("READY=1")
                      : fmt::format("READY=1\nSTATUS={}", OneLine(status)));
}

void NotifyStopping() { Send("STOPPING=1"); }

void NotifyStatus(std::string_view status) { Send(fmt::format("STATUS={}", OneLine(status))); }

void NotifyWatchdog() { Send("WATCHDOG=1"); }

void NotifyWatchdogTrigger() { Send("WATCHDOG=trigger"); }

std::optional<std::chrono::milliseconds> WatchdogPingInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) <= 0 || usec == 0) return std::nullopt;
  auto half = std::chrono::milliseconds(usec / 2000);
  return std::max(half, std::chrono::milliseconds(1));
}

WatchdogGate::WatchdogGate(std::vector<HealthProbe> probes, std::function<void()> ping)
    : probes_(std::move(probes)), ping_(std::move(ping)) {}

bool WatchdogGate::Tick() {
  std::vector<std::string> failing;
  for (const auto& p : probes_) {
    if (!p.healthy()) failing.push_back(p.name);
  }
  for (const auto& name : failing) {
    if (std::find(failing_.begin(), failing_.end(), name) == failing_.end()) {
      spdlog::error("watchdog: {} is not healthy; the watchdog is not pinged", name);
    }
  }
  for (const auto& name : failing_) {
    if (std::find(failing.begin(), failing.end(), name) == failing.end()) {
      spdlog::info("watchdog: {} is healthy again", name);
    }
  }
  failing_ = std::move(failing);
  if (!failing_.empty()) return false;
  ping_();
  return true;
}

bool StallDetector::Healthy(uint64_t pending, uint64_t done) {
  bool stalled = seen_ && last_pending_ > 0 && pending > 0 && done == last_done_;
  seen_ = true;
  last_pending_ = pending;
  last_done_ = done;
  return !stalled;
}

}  // namespace ward

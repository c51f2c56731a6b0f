// Telling the service manager how a daemon is doing: systemd's notification protocol
// (sd_notify(3), through libsystemd) for Type=notify units — readiness, stopping, a status line,
// and the watchdog keep-alive (WatchdogSec=). Without $NOTIFY_SOCKET (started by hand, or by a
// service manager that does not listen) every call does nothing, so daemons call them
// unconditionally. docs/packaging.md, "Readiness and the watchdog".
// Thread-safety: every function and a const WatchdogGate may be used from any thread; Tick() from
// one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ward {

// READY=1 (and STATUS=status when not empty): start-up is complete.
void NotifyReady(std::string_view status = "");
// STOPPING=1: shutdown has begun (systemd stops expecting watchdog pings).
void NotifyStopping();
// STATUS=status: the line `systemctl status` shows.
void NotifyStatus(std::string_view status);
// WATCHDOG=1: the service is healthy. Call only when it is (WatchdogGate decides).
void NotifyWatchdog();
// WATCHDOG=trigger: the service knows it is unhealthy; systemd acts as on a missed ping.
void NotifyWatchdogTrigger();

// How often to ping: half of the unit's WatchdogSec ($WATCHDOG_USEC, for this process when
// $WATCHDOG_PID is set), at least 1 ms; nullopt when no watchdog is asked for.
std::optional<std::chrono::milliseconds> WatchdogPingInterval();

// A named health check of a daemon's component, run from the daemon's main loop.
struct HealthProbe {
  std::string name;
  std::function<bool()> healthy;  // must return quickly; never blocks on the component itself
};

// WatchdogGate: the one place a daemon's main loop pings the watchdog. Tick() runs every probe
// and pings only when all pass, so a hung component (or a hung main loop, which stops ticking)
// makes systemd restart the service. It logs when a probe starts or stops failing, naming it.
class WatchdogGate {
 public:
  // ping: what a healthy tick does (NotifyWatchdog by default; tests record instead).
  explicit WatchdogGate(std::vector<HealthProbe> probes,
                        std::function<void()> ping = &NotifyWatchdog);
  // Returns whether it pinged (every probe passed).
  bool Tick();
  // The probes failing at the last Tick(), by name.
  const std::vector<std::string>& failing() const { return failing_; }

 private:
  std::vector<HealthProbe> probes_;
  std::function<void()> ping_;
  std::vector<std::string> failing_;
};

// StallDetector: a probe for a worker with a queue. Unhealthy when, at two consecutive checks,
// work was waiting both times and the count of work done had not moved: the worker is stuck (a
// worker that is merely busy finishes something between checks; an idle one has nothing waiting).
class StallDetector {
 public:
  // pending: items waiting now; done: a count of items finished, never decreasing.
  bool Healthy(uint64_t pending, uint64_t done);

 private:
  bool seen_ = false;
  uint64_t last_pending_ = 0;
  uint64_t last_done_ = 0;
};

}  // namespace ward

#include "agent/modules/integrity/integrity_module.h"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "agent/core/health.h"
#include "agent/core/policy.h"
#include "agent/core/watch/watcher.h"
#include "agent/modules/integrity/config.h"
#include "agent/modules/integrity/engine.h"
#include "agent/modules/integrity/events.h"
#include "common/log.h"

namespace ward::agent::integrity {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;
using watch::Notice;
constexpr auto kMaxCoalesce = std::chrono::seconds(1);
constexpr auto kPollInterval = std::chrono::seconds(5);
constexpr size_t kMaxPending = 100'000;
constexpr auto kBatchGrace = std::chrono::milliseconds(10);
constexpr std::chrono::milliseconds kStartupRetryMin = std::chrono::seconds(5);
constexpr std::chrono::milliseconds kStartupRetryMax = std::chrono::minutes(5);

class IntegrityModule final : public Module, public HealthReporter {
 public:
  explicit IntegrityModule(const ModuleContext& ctx) : ctx_(ctx) {}

  std::string_view Name() const override { return "integrity"; }

  // files watched (entries of the last full check), the real-time backend, the queue of paths
  // waiting to be compared, directories polled because they could not be watched.
  ModuleHealth Health() const override {
    std::lock_guard lock(mu_);
    ModuleHealth h;
    h.counters = {{"files_watched", health_.records}, {"realtime_backend", health_.backend},
                  {"queue_depth", pending_.size()},   {"polled_directories", polled_.size()},
                  {"checks", health_.checks},         {"changes", health_.changes}};
    if (!health_.error.empty()) h.Fail(health_.error);
    if (health_.realtime_wanted && health_.backend == "off") {
      h.Degrade("real-time monitoring is unavailable; only scheduled checks run");
    }
    if (!polled_.empty()) {
      h.Degrade(fmt::format("{} directories could not be watched and are polled every {} s",
                            polled_.size(), kPollInterval.count()));
    }
    if (!health_.check_error.empty()) h.Degrade("last check failed: " + health_.check_error);
    if (IntegrityHealth t = TamperHealth(); t.degraded) h.Degrade(t.reason);
    return h;
  }

  // Tamper evidence (issue #13): degraded while a baseline that existed was lost or unreadable
  // and has not been re-recorded, or while the start-up is being retried. Any thread.
  IntegrityHealth TamperHealth() const {
    std::lock_guard lock(tamper_mu_);
    return tamper_;
  }

  Status Configure(const PolicySection& section, const ConfigNode& /*document*/) override {
    WARD_ASSIGN_OR_RETURN(IntegrityConfig c, ParseIntegrityConfig(section));
    std::lock_guard lock(mu_);
    next_config_ = std::move(c);
    cv_.notify_all();
    return Status::Ok();
  }

  void Run(std::stop_token stop) override {
    while (!stop.stop_requested()) {
      IntegrityConfig config;
      {
        std::lock_guard lock(mu_);
        if (!next_config_) return;
        config = std::move(*next_config_);
        next_config_.reset();
        pending_.clear();
        rescan_all_ = false;
      }
      RunWith(std::move(config), stop);
    }
  }

 private:
  struct Pending {
    bool subtree = false;
    SteadyTime first;
    SteadyTime due;
  };

  void OnNotice(const Notice& n, std::chrono::milliseconds settle) {
    std::lock_guard lock(mu_);
    auto now = ctx_.clock.SteadyNow();
    switch (n.kind) {
      case Notice::Kind::kRescanAll:
        rescan_all_ = true;
        rescan_reason_ = n.message;
        break;
      case Notice::Kind::kWarning:
        warnings_.push_back(n);
        if (!n.path.empty()) polled_.insert(n.path);
        break;
      case Notice::Kind::kPath:
      case Notice::Kind::kSubtree: {
        if (pending_.size() >= kMaxPending) {
          rescan_all_ = true;
          rescan_reason_ = "too many pending changes";
          pending_.clear();
          break;
        }
        auto [it, inserted] = pending_.try_emplace(n.path);
        Pending& p = it->second;
        if (inserted) p.first = now;
        p.subtree = p.subtree || n.kind == Notice::Kind::kSubtree;
        p.due = std::min<SteadyTime>(now + settle, p.first + kMaxCoalesce);
        break;
      }
    }
    woken_ = true;  // the loop recomputes when to wake
    cv_.notify_all();
  }

  std::unique_ptr<watch::Watcher> MakeWatcher(const IntegrityConfig& config,
                                              const WatchedRoots& roots) {
    if (config.backend != RealtimeBackend::kInotify) {
      auto w = watch::CreateFanotifyWatcher(roots.filter());
      if (w) return std::move(*w);
      if (config.backend == RealtimeBackend::kFanotify) {
        Emit(StatusEvent(ctx_.clock, "realtime_unavailable", Severity::kHigh,
                         fmt::format("fanotify is not available ({}); real-time monitoring is off, "
                                     "scheduled checks continue",
                                     w.error().message())));
        return nullptr;
      }
      spdlog::info("integrity: fanotify unavailable ({}), using inotify", w.error().message());
    }
    auto w = watch::CreateInotifyWatcher(roots.filter(), ctx_.clock);
    if (w) return std::move(*w);
    Emit(StatusEvent(
        ctx_.clock, "realtime_unavailable", Severity::kHigh,
        fmt::format("no real-time backend ({}); scheduled checks continue", w.error().message())));
    return nullptr;
  }

  void Emit(Event e) { ctx_.events.Emit(std::move(e)); }

  void NoteHealth(const IntegrityEngine& engine) {
    std::lock_guard lock(tamper_mu_);
    tamper_ = engine.health();
  }

  void RunWith(IntegrityConfig config, std::stop_token stop) {
    auto engine_or =
        IntegrityEngine::Open(config, ctx_.fs, ctx_.clock, ctx_.state_dir, ctx_.ledger);
    {
      std::lock_guard lock(mu_);
      health_ = {};
      health_.realtime_wanted = config.realtime;
      if (!engine_or) health_.error = engine_or.error().message();
    }
    // A state database that cannot be opened (a full disk, an I/O error) is tried again, backing
    // off from 5 s to 5 min, instead of leaving the module idle until the next policy.
    for (auto retry = kStartupRetryMin; !engine_or; retry = std::min(retry * 2, kStartupRetryMax)) {
      spdlog::error("integrity: {}", engine_or.error().ToString());
      Emit(StatusEvent(ctx_.clock, "module_error", Severity::kHigh, engine_or.error().message()));
      if (!WaitToRetry(stop, retry, engine_or.error().message())) return;
      engine_or = IntegrityEngine::Open(config, ctx_.fs, ctx_.clock, ctx_.state_dir, ctx_.ledger);
    }
    IntegrityEngine& engine = **engine_or;
    {
      std::lock_guard lock(mu_);
      health_.error.clear();
    }

    // The watcher starts before the first comparison, so nothing changed meanwhile is missed.
    std::unique_ptr<watch::Watcher> watcher;
    std::jthread watch_thread;
    if (config.realtime) {
      watcher = MakeWatcher(config, engine.filter());
      if (watcher) {
        spdlog::info("integrity: real-time monitoring with {}", watcher->Name());
        auto settle = config.settle;
        watch_thread = std::jthread([this, w = watcher.get(), settle](std::stop_token st) {
          w->Run(st, [this, settle](Notice n) { OnNotice(n, settle); });
        });
      }
    }

    {
      std::lock_guard lock(mu_);
      health_.backend = watcher ? std::string(watcher->Name()) : "off";
    }
    auto check = [&](std::string_view how) {
      auto stats = engine.FullCheck(ctx_.events, how, /*update=*/true);
      {
        std::lock_guard lock(mu_);
        ++health_.checks;
        health_.check_error = stats ? "" : stats.error().message();
        if (stats) {
          health_.records = stats->records;
          health_.changes += stats->changes;
        }
      }
      if (!stats) {
        spdlog::error("integrity: {} check failed: {}", how, stats.error().ToString());
        Emit(StatusEvent(ctx_.clock, "check_failed", Severity::kHigh, stats.error().message()));
      } else {
        spdlog::info("integrity: {} check: {} entries, {} change(s)", how, stats->records,
                     stats->changes);
      }
      NoteHealth(engine);
      return stats.has_value();
    };
    // A start-up check that fails (a full disk, an unwritable state dir) is tried again, backing
    // off from 5 s to 5 min, instead of leaving the module idle until the next policy.
    for (auto retry = kStartupRetryMin; !check("startup");
         retry = std::min(retry * 2, kStartupRetryMax)) {
      if (!WaitToRetry(stop, retry, "the start-up check failed")) return;
    }
    // The schedule counts from here, before "started" is announced (a test, or anything reacting
    // to that event, may move the clock as soon as it sees it).
    auto now = ctx_.clock.SteadyNow();
    std::optional<SteadyTime> next_schedule;
    if (config.schedule.count() > 0) next_schedule = now + config.schedule;
    SteadyTime next_poll = now + kPollInterval;

    Emit(StatusEvent(ctx_.clock, "started", Severity::kInfo,
                     fmt::format("integrity monitoring started: {} path(s), real-time {}, "
                                 "schedule {}",
                                 config.paths.size(), watcher ? watcher->Name() : "off",
                                 config.schedule.count() == 0
                                     ? std::string("off")
                                     : fmt::format("{}s", config.schedule.count() / 1000))));

    std::unique_lock lock(mu_);
    while (!stop.stop_requested() && !next_config_) {
      SteadyTime wake = now + std::chrono::seconds(1);
      for (const auto& [p, pend] : pending_) wake = std::min(wake, pend.due);
      if (next_schedule) wake = std::min(wake, *next_schedule);
      if (!polled_.empty()) wake = std::min(wake, next_poll);
      cv_.wait_for(lock, stop, WaitBudget(ctx_.clock, wake), [&] {
        return woken_ || next_config_.has_value() || rescan_all_ || !warnings_.empty() ||
               std::any_of(pending_.begin(), pending_.end(),
                           [&](const auto& kv) { return kv.second.due <= ctx_.clock.SteadyNow(); });
      });
      if (stop.stop_requested() || next_config_) break;
      woken_ = false;
      now = ctx_.clock.SteadyNow();

      std::vector<Notice> warnings = std::move(warnings_);
      warnings_.clear();
      bool rescan = rescan_all_;
      std::string reason = rescan_reason_;
      rescan_all_ = false;
      std::vector<std::pair<std::string, bool>> due;
      for (auto it = pending_.begin(); it != pending_.end();) {
        // Paths due within a few ms are taken together, so that the two halves of a rename
        // (noticed microseconds apart) are compared in one batch and pair into one event.
        if (rescan || it->second.due <= now + kBatchGrace) {
          if (!rescan) due.emplace_back(it->first, it->second.subtree);
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
      bool poll = !polled_.empty() && now >= next_poll;
      std::vector<std::string> polled(polled_.begin(), polled_.end());
      lock.unlock();

      for (const auto& w : warnings) {
        spdlog::warn("integrity: {}", w.message);
        Event e = StatusEvent(ctx_.clock, "watch_degraded", Severity::kMedium, w.message);
        if (!w.path.empty()) e.SetBytes("file.path", w.path);
        Emit(std::move(e));
      }
      if (rescan) {
        spdlog::warn("integrity: notifications lost ({}); rescanning", reason);
        Emit(StatusEvent(ctx_.clock, "notifications_lost", Severity::kMedium,
                         fmt::format("real-time notifications were lost ({}); every watched path "
                                     "is being rescanned so no change goes unreported",
                                     reason)));
        check("rescan");
      } else if (!due.empty()) {
        auto stats = engine.ProcessPaths(due, ctx_.events, "realtime");
        if (!stats) {
          spdlog::error("integrity: {}", stats.error().ToString());
          Emit(StatusEvent(ctx_.clock, "check_failed", Severity::kHigh, stats.error().message()));
        }
        NoteHealth(engine);
      }
      if (poll) {
        std::vector<std::pair<std::string, bool>> subtrees;
        for (const auto& p : polled) subtrees.emplace_back(p, true);
        (void)engine.ProcessPaths(subtrees, ctx_.events, "rescan");
        next_poll = ctx_.clock.SteadyNow() + kPollInterval;
      }
      if (next_schedule && ctx_.clock.SteadyNow() >= *next_schedule) {
        const SteadyTime due = *next_schedule;
        check("scheduled");
        // The next one is a period after this one was due, not after it finished (a long check
        // does not drift the schedule); one that fell more than a period behind starts afresh.
        const SteadyTime after = ctx_.clock.SteadyNow();
        next_schedule = due + config.schedule;
        if (*next_schedule + config.schedule <= after) next_schedule = after + config.schedule;
      }
      lock.lock();
      now = ctx_.clock.SteadyNow();
    }
    lock.unlock();
    if (watch_thread.joinable()) {
      watch_thread.request_stop();
      watch_thread.join();
    }
    std::lock_guard relock(mu_);
    polled_.clear();
    warnings_.clear();
  }

  // Degraded while waiting; false when the module is stopped or reconfigured meanwhile.
  bool WaitToRetry(std::stop_token stop, std::chrono::milliseconds retry, std::string why) {
    {
      std::lock_guard lock(tamper_mu_);
      tamper_ = {true, fmt::format("{}; retrying in {} s", why, retry.count() / 1000)};
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, retry, [&] { return next_config_.has_value(); });
    return !stop.stop_requested() && !next_config_;
  }

  void WaitForReconfigure(std::stop_token stop) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, stop, [&] { return next_config_.has_value(); });
  }

  struct HealthFacts {
    bool realtime_wanted = false;
    std::string backend = "off";
    uint64_t records = 0;
    uint64_t checks = 0;
    uint64_t changes = 0;
    std::string error;        // the engine could not be opened
    std::string check_error;  // the last full check failed
  };

  ModuleContext ctx_;
  mutable std::mutex mu_;
  mutable std::mutex tamper_mu_;
  IntegrityHealth tamper_;
  std::condition_variable_any cv_;
  std::optional<IntegrityConfig> next_config_;
  HealthFacts health_;
  std::map<std::string, Pending> pending_;
  bool rescan_all_ = false;
  bool woken_ = false;
  std::string rescan_reason_;
  std::vector<Notice> warnings_;
  std::set<std::string> polled_;
};

}  // namespace

namespace {

// `integrity.check`: the engine's full check of the policy's paths against the baseline,
// read-only (like `ward-agent integrity check`); one event per change, detected_by "command".
Result<nlohmann::json> CheckCommand(const CommandContext& ctx, const nlohmann::json& /*args*/) {
  const ConfigNode* section = ctx.policy.Section("integrity");
  if (section == nullptr) return FailedPrecondition("the policy has no integrity section");
  WARD_ASSIGN_OR_RETURN(auto config, ParseIntegrityConfig(*section));
  WARD_ASSIGN_OR_RETURN(auto engine,
                        IntegrityEngine::Open(std::move(config), ctx.fs, ctx.clock, ctx.state_dir));
  WARD_ASSIGN_OR_RETURN(auto stats, engine->FullCheck(ctx.events, "command", /*update=*/false));
  return nlohmann::json{
      {"records", stats.records}, {"changes", stats.changes}, {"warnings", stats.warnings}};
}

}  // namespace

std::span<const CommandHandler> Handlers() {
  static constexpr CommandHandler kHandlers[] = {{"integrity.check", &CheckCommand}};
  return kHandlers;
}

std::unique_ptr<Module> Create(const ModuleContext& ctx) {
  return std::make_unique<IntegrityModule>(ctx);
}

}  // namespace ward::agent::integrity

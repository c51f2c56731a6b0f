#include "agent/modules/autoheal/autoheal_module.h"

#include <fmt/format.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>

#include "agent/core/health.h"
#include "agent/core/watch/path_filter.h"
#include "agent/modules/autoheal/config.h"
#include "agent/modules/autoheal/healer.h"
#include "agent/modules/integrity/config.h"
#include "common/log.h"
#include "common/text.h"

namespace ward::agent::autoheal {
namespace {

class AutohealModule final : public Module, public HealthReporter {
 public:
  explicit AutohealModule(const ModuleContext& ctx) : ctx_(ctx) {}

  std::string_view Name() const override { return "autoheal"; }

  // Roots, how many are locked (maintenance), files restored, the queue of changes to look at.
  ModuleHealth Health() const override {
    std::lock_guard lock(mu_);
    ModuleHealth h;
    uint64_t locked = 0;
    uint64_t restored = 0;
    for (const auto& r : roots_) {
      locked += r.locked ? 1 : 0;
      restored += r.restored;
      if (!r.error.empty()) h.Degrade(r.root + ": " + r.error);
    }
    h.counters = {{"roots", roots_.size()},
                  {"locked_roots", locked},
                  {"restored", restored},
                  {"queue_depth", queue_.size()}};
    return h;
  }

  Status Configure(const PolicySection& section, const ConfigNode& document) override {
    WARD_ASSIGN_OR_RETURN(AutohealSettings s, ParseAutohealSettings(section, document));
    std::lock_guard lock(mu_);
    next_ = std::move(s);
    cv_.notify_all();
    return Status::Ok();
  }

  void Run(std::stop_token stop) override {
    int sub = -1;
    if (ctx_.bus != nullptr) {
      sub = ctx_.bus->Subscribe([this](const Event& e) { OnEvent(e); });
    }
    while (!stop.stop_requested()) {
      AutohealSettings s;
      {
        std::lock_guard lock(mu_);
        if (!next_) break;
        s = std::move(*next_);
        next_.reset();
      }
      RunWith(std::move(s), stop);
    }
    if (sub >= 0) ctx_.bus->Unsubscribe(sub);
  }

 private:
  void OnEvent(const Event& e) {
    if (e.Module() != "integrity") return;
    std::string type = e.GetString("event.type");
    if (type != "creation" && type != "change" && type != "deletion") return;
    auto path_of = [&](std::string_view field) {
      std::string b64 = e.GetString(std::string(field) + "_base64");
      if (!b64.empty()) {
        if (auto raw = Base64Decode(b64)) return *raw;
      }
      return e.GetString(field);
    };
    int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(ctx_.clock.Now().time_since_epoch())
            .count();
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      // Too much at once (mass tampering): compare whole roots instead of path by path.
      queue_.clear();
      reconcile_all_ = true;
      cv_.notify_all();
      return;
    }
    std::string p = path_of("file.path");
    if (!p.empty()) queue_.push_back({std::move(p), now});
    std::string prev = path_of("integrity.previous_path");
    if (!prev.empty()) queue_.push_back({std::move(prev), now});
    cv_.notify_all();
  }

  void RunWith(AutohealSettings s, std::stop_token stop) {
    watch::PathFilter filter(integrity::WatchRoots(s.integrity.paths));
    std::vector<std::unique_ptr<Healer>> healers;
    for (const auto& r : s.config.roots) {
      healers.push_back(std::make_unique<Healer>(
          r, &filter, ctx_.ledger, ctx_.events, ctx_.clock, ctx_.fs, ctx_.state_dir,
          s.config.persistent_threshold, s.config.persistent_window));
      Status st = healers.back()->Start();
      if (!st.ok()) {
        spdlog::error("autoheal: {}: {} (retrying)", r.path, st.ToString());
      } else {
        spdlog::info("autoheal: {} follows {} {} ({})", r.path, r.repository, r.ref,
                     healers.back()->status().commit.substr(0, 12));
      }
    }
    auto next_poll = ctx_.clock.SteadyNow() + s.config.poll_interval;
    std::unique_lock lock(mu_);
    roots_.clear();
    for (const auto& h : healers) roots_.push_back(h->status());
    while (!stop.stop_requested() && !next_) {
      cv_.wait_for(lock, stop, WaitBudget(ctx_.clock, next_poll),
                   [&] { return !queue_.empty() || reconcile_all_ || next_.has_value(); });
      if (stop.stop_requested() || next_) break;
      std::deque<Change> work;
      work.swap(queue_);
      bool reconcile = reconcile_all_;
      reconcile_all_ = false;
      lock.unlock();
      if (reconcile) {
        for (auto& h : healers) {
          if (!h->status().locked) (void)h->Reconcile();
        }
      }
      std::set<std::string> seen;
      for (const auto& [path, observed_ns] : work) {
        if (!seen.insert(path).second) continue;
        for (auto& h : healers) {
          if (watch::IsUnder(path, h->root().path)) h->OnChange(path, observed_ns);
        }
      }
      for (auto& h : healers) h->FlushStatus();
      {
        std::lock_guard hl(mu_);
        roots_.clear();
        for (const auto& h : healers) roots_.push_back(h->status());
      }
      if (ctx_.clock.SteadyNow() >= next_poll) {
        for (auto& h : healers) h->Poll();
        next_poll = ctx_.clock.SteadyNow() + s.config.poll_interval;
      }
      lock.lock();
    }
  }

  ModuleContext ctx_;
  mutable std::mutex mu_;
  std::vector<HealerStatus> roots_;  // each healer's status as of its last flush, for Health()
  std::condition_variable_any cv_;
  std::optional<AutohealSettings> next_;
  struct Change {
    std::string path;
    int64_t observed_ns;
  };
  std::deque<Change> queue_;
  bool reconcile_all_ = false;
  static constexpr size_t kMaxQueued = 100'000;
};

}  // namespace

std::unique_ptr<Module> Create(const ModuleContext& ctx) {
  return std::make_unique<AutohealModule>(ctx);
}

}  // namespace ward::agent::autoheal

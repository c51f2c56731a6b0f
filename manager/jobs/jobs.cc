#include "manager/jobs/jobs.h"

#include <fmt/format.h>
#include <unistd.h>

#include "common/event.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/text.h"
#include "manager/alerting/rules.h"
#include "manager/api/views.h"
#include "manager/reports/schedules.h"
#include "manager/services/agent_upgrades.h"

namespace ward::manager {

Result<RetentionReport> RunRetention(Store& store, const Clock& clock, int batch) {
  WARD_ASSIGN_OR_RETURN(auto tenants, store.ListTenants());
  RetentionReport report;
  const TimePoint now = clock.Now();
  for (const auto& t : tenants) {
    ++report.tenants;
    TimePoint cutoff = now - std::chrono::days(t.settings.event_retention_days);
    for (;;) {
      WARD_ASSIGN_OR_RETURN(int64_t n, store.DeleteEventsBefore(t.id, cutoff, batch));
      report.deleted += n;
      if (n < batch) break;
      std::this_thread::yield();  // let ingestion transactions in between batches
    }
  }
  return report;
}

Result<int> RunOfflineMarking(Store& store, const Clock& clock) {
  const TimePoint now = clock.Now();
  WARD_ASSIGN_OR_RETURN(auto agents, store.MarkOffline(now));
  for (const auto& a : agents) {
    StoredEvent e = ManagerAgentEvent(a, "agent_offline", 2, now);
    // The built-in default "agent offline" (and any rule of the tenant) raises its alert and
    // queues its notifications with the event (issue 19, docs/alerts.md).
    std::vector<AlertSignal> signals;
    auto rules = store.ListAlertRules(a.tenant_id);
    auto channels = store.ListAlertChannels(a.tenant_id);
    if (rules && channels) {
      signals = alerting::SignalsFor(
          {e}, a.hostname, alerting::CompileTenantRules(*rules, *channels),
          [now] { return NewEventId(now); }, now);
    }
    auto r = store.InsertEventsWithAlerts({e}, signals, std::chrono::hours(1));
    if (!r) {
      spdlog::error("agent_offline event for {} not stored: {}", a.id, r.error().ToString());
    }
    spdlog::info("agent {} ({}) of tenant {} is offline", a.id, a.hostname, a.tenant_id);
  }
  return static_cast<int>(agents.size());
}

Result<int> RunInactiveAgentCleanup(Store& store, const Clock& clock) {
  WARD_ASSIGN_OR_RETURN(auto tenants, store.ListTenants());
  int removed = 0;
  const TimePoint now = clock.Now();
  for (const auto& t : tenants) {
    if (t.settings.inactive_agent_cleanup_days <= 0) continue;
    const TimePoint cutoff = now - std::chrono::days(t.settings.inactive_agent_cleanup_days);
    // The candidates first (for their events), then one transaction deletes whichever are still
    // offline and old; an agent that came back in between is kept and gets no event.
    AgentFilter offline;
    offline.online = false;
    WARD_ASSIGN_OR_RETURN(auto candidates, store.ListAgents(t.id, offline));
    std::erase_if(candidates,
                  [&](const Agent& a) { return a.last_seen.value_or(a.created_at) >= cutoff; });
    WARD_ASSIGN_OR_RETURN(int n, store.DeleteInactiveAgents(t.id, cutoff));
    removed += n;
    for (const auto& a : candidates) {
      auto still = store.GetAgent(t.id, a.id);
      if (still || still.error().code() != StatusCode::kNotFound) continue;
      StoredEvent e = ManagerAgentEvent(a, "agent_removed", 1, now);
      e.doc["ward"]["lifecycle"] = {{"reason", "inactive"},
                                    {"cleanup_days", t.settings.inactive_agent_cleanup_days}};
      auto r = store.InsertEvents({e});
      if (!r) {
        spdlog::error("agent_removed event for {} not stored: {}", a.id, r.error().ToString());
      }
      spdlog::info("agent {} ({}) of tenant {} removed: not seen for {} day(s)", a.id, a.hostname,
                   t.id, t.settings.inactive_agent_cleanup_days);
    }
  }
  return removed;
}

std::string MakeNodeId() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  uint8_t r[4];
  WARD_CHECK(RandomBytes(r).ok());
  return fmt::format("{}:{}:{}", host, ::getpid(), ToHex(r));
}

JobRunner::JobRunner(Store& store, const Clock& clock, JobOptions options, std::string node_id)
    : store_(store), clock_(clock), options_(options), node_id_(std::move(node_id)) {}

JobRunner::~JobRunner() { Stop(); }

void JobRunner::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      RunOnce();
      lock.lock();
      cv_.wait_for(lock, options_.tick, [this] { return stop_; });
    }
  });
}

void JobRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (const auto& [name, held] : held_) {
    if (!held) continue;
    Status s = store_.ReleaseLease(name, node_id_);
    if (!s.ok()) spdlog::warn("releasing lease {}: {}", name, s.ToString());
  }
  held_.clear();
}

bool JobRunner::Lease(const std::string& name) {
  auto got = store_.TryAcquireLease(name, node_id_, clock_.Now(), options_.lease_ttl);
  if (!got) {
    spdlog::warn("job {}: lease: {}", name, got.error().ToString());
    return false;
  }
  bool& held = held_[name];
  if (*got && !held) spdlog::info("job {}: node {} holds the lease", name, node_id_);
  if (!*got && held) spdlog::info("job {}: node {} lost the lease", name, node_id_);
  held = *got;
  return *got;
}

void JobRunner::RunOnce() {
  const auto now = clock_.SteadyNow();
  if (Lease("offline")) {
    auto n = RunOfflineMarking(store_, clock_);
    if (!n) spdlog::warn("job offline: {}", n.error().ToString());
    spdlog::debug("job offline ran on {}: {} marked", node_id_, n ? *n : -1);
  }
  if (Lease("retention") &&
      (!ran_retention_ || now - last_retention_ >= options_.retention_every)) {
    auto r = RunRetention(store_, clock_, options_.retention_batch);
    if (r) {
      spdlog::info("job retention ran on {}: {} events deleted over {} tenants", node_id_,
                   r->deleted, r->tenants);
      ran_retention_ = true;
      last_retention_ = now;
    } else {
      spdlog::warn("job retention: {}", r.error().ToString());
    }
  }
  if (Lease("cleanup") && (!ran_cleanup_ || now - last_cleanup_ >= options_.cleanup_every)) {
    auto r = RunInactiveAgentCleanup(store_, clock_);
    if (r) {
      spdlog::info("job cleanup ran on {}: {} inactive agents removed", node_id_, *r);
      const TimePoint wall = clock_.Now();
      auto sessions = store_.DeleteExpiredSessions(wall, wall - options_.session_idle);
      if (!sessions) spdlog::warn("job cleanup: sessions: {}", sessions.error().ToString());
      ran_cleanup_ = true;
      last_cleanup_ = now;
    } else {
      spdlog::warn("job cleanup: {}", r.error().ToString());
    }
  }
  // Scheduled reports (docs/reports.md): every tick, due schedules only.
  if (Lease("reports")) {
    auto r = reports::RunReportSchedules(store_, clock_, options_.report_mailer);
    if (!r) {
      spdlog::warn("job reports: {}", r.error().ToString());
    } else if (r->made > 0 || r->failed > 0) {
      spdlog::info("job reports ran on {}: {} made, {} failed", node_id_, r->made, r->failed);
    }
  }
  // Agent upgrade rollouts (docs/updates.md "Agent upgrades"): agents that never came back.
  if (Lease("upgrades")) {
    auto r = RunUpgradeRollouts(store_, clock_);
    if (!r) spdlog::warn("job upgrades: {}", r.error().ToString());
  }
}

}  // namespace ward::manager

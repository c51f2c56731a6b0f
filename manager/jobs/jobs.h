// Background jobs: retention, offline marking, inactive-agent cleanup. Each is a plain function
// over the store and a clock (testable with a FakeClock), and JobRunner runs them periodically,
// each under a lease in the database (Store::TryAcquireLease) so that with several manager nodes
// on one database only one node runs a given job at a time.
// Thread-safety: the functions are safe to call concurrently (the store is); JobRunner owns one
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "manager/store/store.h"

namespace ward::manager::reports {
class ReportMailer;
}

namespace ward::manager {

struct RetentionReport {
  int tenants = 0;
  int64_t deleted = 0;
};
// Deletes, for every tenant, events older than its event_retention_days, `batch` rows per
// transaction so ingestion is never blocked for long. Retention read at each run: a changed
// setting takes effect on the next run.
Result<RetentionReport> RunRetention(Store& store, const Clock& clock, int batch = 5000);

// Marks agents offline after 3 heartbeat intervals of silence and stores an agent_offline event
// (event.module manager, severity 2) in each one's tenant. Returns how many were marked.
Result<int> RunOfflineMarking(Store& store, const Clock& clock);

// Removes offline agents of each tenant not seen for inactive_agent_cleanup_days (0 = never):
// their credential stops working (the agent is deactivated), their queued commands go, and an
// agent_removed event (event.module manager, severity 1, ward.lifecycle.reason "inactive") is
// stored in the tenant for each. Their events stay until retention. Returns how many.
Result<int> RunInactiveAgentCleanup(Store& store, const Clock& clock);

struct JobOptions {
  std::chrono::seconds tick{15};               // how often each job is tried
  std::chrono::seconds retention_every{3600};  // retention runs at most this often per node
  std::chrono::seconds cleanup_every{3600};
  std::chrono::seconds lease_ttl{60};  // a dead node's lease expires after this
  int retention_batch = 5000;
  // The cleanup job also deletes console sessions past their end or idle longer than this.
  std::chrono::seconds session_idle{30 * 60};
  // Scheduled reports (manager/reports/schedules.h) are mailed through this when set; not
  // owned, outlives the runner.
  reports::ReportMailer* report_mailer = nullptr;
};

class JobRunner {
 public:
  // `node_id` names this process in leases and logs ("host:pid:random").
  JobRunner(Store& store, const Clock& clock, JobOptions options, std::string node_id);
  ~JobRunner();

  void Start();
  void Stop();  // releases the leases this node holds; idempotent

  // One round: for each job, take or renew its lease and run it when due. Public for tests.
  void RunOnce();

  const std::string& node_id() const { return node_id_; }

 private:
  bool Lease(const std::string& name);

  Store& store_;
  const Clock& clock_;
  JobOptions options_;
  std::string node_id_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::chrono::steady_clock::time_point last_retention_{};
  std::chrono::steady_clock::time_point last_cleanup_{};
  bool ran_retention_ = false;
  bool ran_cleanup_ = false;
  std::map<std::string, bool> held_;
};

// "host:pid:<8 hex>" for JobRunner.
std::string MakeNodeId();

}  // namespace ward::manager

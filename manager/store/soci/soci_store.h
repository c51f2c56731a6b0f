// SociStore, the one Store implementation (manager/store/soci_store.h opens it): the class and
// the transaction runner every member uses. Its members are defined by concern under
// manager/store/soci/: one file per entity (tenants.cc, api_keys.cc, activation_tokens.cc,
// agents.cc, policies.cc, commands.cc, events.cc, audit.cc, leases.cc, schema.cc), the SQLite
// group-commit writer (sqlite_writer.cc), the PostgreSQL COPY writer (pg_copy.cc) and the event
// partitions (partitions.cc); the session pool, error classification, parameter binding and
// stored values have their own headers. Internal to manager_store.
// Thread-safety: as Store (many threads; SQLite writes serialised in-process).
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "manager/store/soci/binding.h"
#include "manager/store/soci/errors.h"
#include "manager/store/soci/session_pool.h"
#include "manager/store/soci/values.h"
#include "manager/store/soci_includes.h"
#include "manager/store/store.h"
#include "manager/store/store_url.h"

namespace ward::manager::soci_backend {

using json = nlohmann::json;

// Changes to the hourly rollups (event_rollup.cc; docs/manager-store.md, "Event rollups") of a
// set of events inserted (+1) or deleted (-1), keyed in the order rows are locked.
struct RollupDelta {
  static constexpr long long kHour = 3'600'000'000LL;
  // Rule, agent and path values longer than this are counted under '' (the readers then count
  // from the events).
  static constexpr size_t kMaxValue = 255;
  // Paths are counted for this module only: the dashboard's "top changed paths". Counting every
  // module's paths (mostly unique) added a row per event at ingest and cost ~40 % of the store's
  // ingest CPU; top paths of other modules are counted from the events.
  static constexpr std::string_view kPathModule = "integrity";
  // (tenant, hour, module, severity, action) -> n
  std::map<std::tuple<std::string, long long, std::string, int, std::string>, long long> counts;
  // (tenant, hour, field 0 rule / 1 agent / 2 path, module, value) -> n
  std::map<std::tuple<std::string, long long, int, std::string, std::string>, long long> values;
  // The columns as stored (NUL-free).
  void Add(const std::string& tenant, long long ts, const std::string& module, int severity,
           const std::string& action, const std::string& agent, const std::string& rule,
           const std::string& path, long long n);
  bool empty() const { return counts.empty() && values.empty(); }
};

// One row of `ips_matches` (ips_tuning.cc; docs/manager-store.md, "IPS matches"): one tunable
// match of an IPS detected/blocked event, or its only row (ord 0, rule_id '') when it has none.
struct IpsMatchRow {
  std::string tenant_id, event_id, agent_id;
  long long ts = 0;
  int ord = 0;
  int blocked = 0, would_block = 0;
  int n_matches = 0;      // tunable matches of the event
  int first_of_rule = 0;  // 1 on the first match of its rule in the event
  std::string rule_id, variable, client, path, url;
};

class SociStore final : public Store {
 public:
  explicit SociStore(StoreUrl url) : pool_(std::move(url)), d_(pool_.url().dialect) {}
  ~SociStore() override {
    std::lock_guard lock(sqlite_write_mu_);
    CloseSqliteWriter();
  }

  Status Ping() {
    auto lease = pool_.Acquire();
    return lease.status();
  }

  // Store: reports (issue #19, s7-reports; manager/store/soci/reports.cc)
  Status CreateReport(const StoredReport& r) override;
  Result<std::vector<StoredReport>> ListReports(
      const std::string& tenant_id, std::optional<std::pair<TimePoint, std::string>> before,
      int limit) override;
  Result<StoredReport> GetReport(const std::string& tenant_id, const std::string& id,
                                 bool with_content) override;
  Status DeleteReport(const std::string& tenant_id, const std::string& id) override;
  Status CreateReportSchedule(const ReportSchedule& s) override;
  Result<std::vector<ReportSchedule>> ListReportSchedules(const std::string& tenant_id) override;
  Result<ReportSchedule> GetReportSchedule(const std::string& tenant_id,
                                           const std::string& id) override;
  Status UpdateReportSchedule(const ReportSchedule& s) override;
  Status DeleteReportSchedule(const std::string& tenant_id, const std::string& id) override;
  Result<std::vector<ReportSchedule>> DueReportSchedules(TimePoint now, int limit) override;
  Status RecordScheduledRun(const std::string& tenant_id, const std::string& schedule_id,
                            TimePoint expected_next, TimePoint next, TimePoint ran_at,
                            const std::optional<StoredReport>& report,
                            const std::string& error) override;

  // Store
  Result<int> SchemaVersion() override;

  Status Migrate() override;

  Status CreateTenant(const Tenant& t) override;

  Status CreateTenantWithKey(const Tenant& t, const ApiKey& first_key) override;

  Result<Tenant> GetTenant(const std::string& id) override;

  Result<std::vector<Tenant>> ListTenants() override;

  Status UpdateTenant(const Tenant& t) override;

  Status DeleteTenant(const std::string& id) override;

  Status CreateApiKey(const ApiKey& k) override;

  Result<ApiKey> FindApiKeyByHash(const std::string& secret_hash) override;

  Result<ApiKey> GetApiKey(const std::string& tenant_id, const std::string& id) override;

  Result<std::vector<ApiKey>> ListApiKeys(const std::string& tenant_id) override;

  Status RevokeApiKey(const std::string& tenant_id, const std::string& id) override;

  Status CreateActivationToken(const ActivationToken& t) override;

  Result<ActivationToken> UseActivationToken(const std::string& token_hash, TimePoint now) override;

  Result<std::vector<ActivationToken>> ListActivationTokens(const std::string& tenant_id) override;

  Result<ActivationToken> GetActivationToken(const std::string& tenant_id,
                                             const std::string& id) override;

  Status RevokeActivationToken(const std::string& tenant_id, const std::string& id) override;
  Status SetActivationTokenPolicy(const std::string& tenant_id, const std::string& id,
                                  const std::optional<std::string>& policy_id) override;

  Status CreateAgent(const Agent& a) override;

  Result<Agent> FindAgentByCredentialHash(const std::string& credential_hash) override;

  Result<Agent> GetAgent(const std::string& tenant_id, const std::string& id) override;

  Result<std::vector<Agent>> ListAgents(const std::string& tenant_id,
                                        const AgentFilter& filter) override;

  Result<bool> RecordHeartbeat(const Agent& a) override;

  Status AssignPolicy(const std::string& tenant_id, const std::string& agent_id,
                      const std::optional<std::string>& policy_id) override;

  Status DeleteAgent(const std::string& tenant_id, const std::string& id) override;

  Result<std::vector<Agent>> MarkOffline(TimePoint now) override;

  Result<int> DeleteInactiveAgents(const std::string& tenant_id, TimePoint cutoff) override;

  Status CreatePolicy(const Policy& pol) override;

  Result<Policy> GetPolicy(const std::string& tenant_id, const std::string& id) override;

  Result<std::vector<Policy>> ListPolicies(const std::string& tenant_id) override;

  Result<Policy> UpdatePolicy(const std::string& tenant_id, const std::string& id,
                              const std::string& name, const nlohmann::json& document,
                              TimePoint now) override;

  Status DeletePolicy(const std::string& tenant_id, const std::string& id) override;

  Result<std::vector<PolicyVersion>> ListPolicyVersions(const std::string& tenant_id,
                                                        const std::string& policy_id) override;
  Result<PolicyVersion> GetPolicyVersion(const std::string& tenant_id, const std::string& policy_id,
                                         int version) override;

  // ip_lists.cc
  Result<std::vector<IpList>> ListIpLists(const std::string& tenant_id) override;
  Result<IpList> GetIpList(const std::string& tenant_id, const std::string& name) override;
  Result<bool> PutIpList(const IpList& list) override;
  Status DeleteIpList(const std::string& tenant_id, const std::string& name) override;

  // alerts.cc
  Result<int> RecordAlertSignals(const std::vector<AlertSignal>& signals,
                                 std::chrono::seconds window) override;
  Result<Alert> GetAlert(const std::string& tenant_id, const std::string& id) override;
  Result<std::vector<Alert>> ListAlerts(const std::string& tenant_id,
                                        const AlertFilter& filter) override;
  Result<std::vector<Alert>> TransitionAlerts(const std::string& tenant_id,
                                              const std::vector<std::string>& ids,
                                              const AlertTransition& t) override;

  Status QueueCommand(const Command& c) override;

  Result<std::vector<Command>> TakeCommands(const std::string& tenant_id,
                                            const std::string& agent_id) override;

  Status CompleteCommand(const std::string& tenant_id, const std::string& agent_id,
                         const std::string& id, bool ok, const nlohmann::json& result) override;

  Result<std::vector<Command>> ListCommands(const std::string& tenant_id,
                                            const std::string& agent_id) override;

  Result<IngestResult> InsertEvents(const std::vector<StoredEvent>& events) override;
  Result<IngestResult> InsertEventsWithAlerts(const std::vector<StoredEvent>& events,
                                              const std::vector<AlertSignal>& signals,
                                              std::chrono::seconds window) override;
  Result<std::vector<StoredEvent>> QueryEvents(const std::string& tenant_id,
                                               const EventQuery& q) override;
  Result<std::vector<EventCount>> CountEvents(const std::string& tenant_id, const EventQuery& q,
                                              std::chrono::seconds bucket) override;
  Result<std::vector<EventValueCount>> TopEventValues(const std::string& tenant_id,
                                                      const EventQuery& q, EventField field,
                                                      int limit) override;
  Result<EventSummary> SummarizeEvents(const std::string& tenant_id, const EventQuery& q) override;
  Result<int64_t> DeleteEventsBefore(const std::string& tenant_id, TimePoint cutoff,
                                     int batch) override;

  Result<int64_t> LatestEventSeq(const std::string& tenant_id) override;
  Status AppendAudit(const AuditEntry& e) override;

  Result<std::vector<AuditEntry>> QueryAudit(const std::string& tenant_id,
                                             std::optional<std::pair<TimePoint, std::string>> after,
                                             int limit) override;
  Result<std::vector<AuditEntry>> SearchAudit(const std::string& tenant_id,
                                              const AuditQuery& q) override;

  Result<bool> TryAcquireLease(const std::string& name, const std::string& holder, TimePoint now,
                               std::chrono::seconds ttl) override;

  Status ReleaseLease(const std::string& name, const std::string& holder) override;

  // alert_rules.cc (issue 19)
  Status CreateAlertRule(const AlertRule& r) override;
  Result<AlertRule> GetAlertRule(const std::string& tenant_id, const std::string& id) override;
  Result<std::vector<AlertRule>> ListAlertRules(const std::string& tenant_id) override;
  Status UpdateAlertRule(const AlertRule& r) override;
  Status DeleteAlertRule(const std::string& tenant_id, const std::string& id) override;
  Status CreateAlertChannel(const AlertChannel& c) override;
  Result<AlertChannel> GetAlertChannel(const std::string& tenant_id,
                                       const std::string& id) override;
  Result<std::vector<AlertChannel>> ListAlertChannels(const std::string& tenant_id) override;
  Status UpdateAlertChannel(const AlertChannel& c) override;
  Status DeleteAlertChannel(const std::string& tenant_id, const std::string& id) override;
  Status QueueNotification(const Notification& n) override;
  Result<std::vector<Notification>> ClaimNotifications(const std::string& holder, TimePoint now,
                                                       std::chrono::seconds lease,
                                                       int limit) override;
  Result<AlertChannel> CompleteNotification(const std::string& holder, const Notification& n,
                                            const DeliveryOutcome& outcome) override;
  Result<std::vector<Notification>> ListNotifications(const std::string& tenant_id,
                                                      const std::string& alert_id) override;
  Result<std::vector<DeliveryAttempt>> ListDeliveryAttempts(const std::string& tenant_id,
                                                            const std::string& alert_id) override;
  Result<int64_t> CountPendingNotifications() override;

  // users.cc
  Status CreateUser(const User& u) override;
  Result<User> GetUser(const std::string& tenant_id, const std::string& id) override;
  Result<User> FindUserByName(const std::string& username) override;
  Result<std::vector<User>> ListUsers(const std::string& tenant_id) override;
  Status UpdateUser(const User& u) override;
  Status DeleteUser(const std::string& tenant_id, const std::string& id) override;
  Status UseTotpStep(const std::string& tenant_id, const std::string& user_id,
                     int64_t step) override;
  Status CreateSession(const UserSession& s) override;
  Result<UserSession> FindSessionByHash(const std::string& token_hash) override;
  Status TouchSession(const std::string& id, TimePoint last_seen) override;
  Status DeleteSession(const std::string& id) override;
  Result<int64_t> DeleteExpiredSessions(TimePoint now, TimePoint idle_cutoff) override;
  // Activation rules (soci/activation_rules.cc).
  Result<nlohmann::json> GetActivationRules(const std::string& tenant_id) override;
  Status SetActivationRules(const std::string& tenant_id, const nlohmann::json& rules,
                            TimePoint now) override;

  // siem.cc (SIEM forwarders, issue 19)
  Status CreateSiemForwarder(const SiemForwarder& f) override;
  Result<SiemForwarder> GetSiemForwarder(const std::string& tenant_id,
                                         const std::string& id) override;
  Result<std::vector<SiemForwarder>> ListSiemForwarders(const std::string& tenant_id) override;
  Result<std::vector<SiemForwarder>> ListAllSiemForwarders() override;
  Status UpdateSiemForwarder(const SiemForwarder& f) override;
  Status DeleteSiemForwarder(const std::string& tenant_id, const std::string& id) override;
  Result<SiemCursor> SiemLogEnd(const std::string& tenant_id) override;
  Result<std::vector<SiemEvent>> ReadSiemEvents(const std::string& tenant_id,
                                                const SiemCursor& after, int limit) override;
  Result<int64_t> CountSiemEvents(const std::string& tenant_id, const SiemCursor& after,
                                  int64_t cap) override;
  Status BeginSiemBatch(const std::string& tenant_id, const std::string& id, const SiemCursor& from,
                        const SiemCursor& to) override;
  Status AdvanceSiemCursor(const std::string& tenant_id, const std::string& id,
                           const SiemCursor& from, const SiemCursor& to, int64_t sent,
                           int64_t skipped, int64_t resent, TimePoint at) override;
  Status AdvanceSiemCursorAndBegin(const std::string& tenant_id, const std::string& id,
                                   const SiemCursor& from, const SiemCursor& to, int64_t sent,
                                   int64_t skipped, int64_t resent, TimePoint at,
                                   const SiemCursor& next_to) override;
  Status RecordSiemError(const std::string& tenant_id, const std::string& id,
                         const std::string& error, TimePoint at) override;
  // Store: IPS tuning aggregate (issue #14, s8-console; ips_tuning.cc)
  Result<IpsTuningAggregate> AggregateIpsTuning(const std::string& tenant_id,
                                                const IpsTuningQuery& q) override;

  // agent_groups.cc (issue #18, s8-upgrade)
  Status CreateAgentGroup(const AgentGroup& g) override;
  Result<AgentGroup> GetAgentGroup(const std::string& tenant_id, const std::string& id) override;
  Result<std::vector<AgentGroup>> ListAgentGroups(const std::string& tenant_id) override;
  Result<int64_t> UpdateAgentGroup(const AgentGroup& g, bool assign_policy) override;
  Status DeleteAgentGroup(const std::string& tenant_id, const std::string& id) override;
  Status SetAgentGroup(const std::string& tenant_id, const std::string& agent_id,
                       const std::optional<std::string>& group_id, bool apply_policy,
                       TimePoint now) override;
  Result<std::optional<std::string>> AgentGroupOf(const std::string& tenant_id,
                                                  const std::string& agent_id) override;
  Result<std::map<std::string, std::string>> ListAgentGroupMembers(
      const std::string& tenant_id) override;
  // Agent upgrades (agent_upgrades.cc)
  Status PutUpgradeRollout(const UpgradeRollout& r) override;
  Result<UpgradeRollout> GetUpgradeRollout(const std::string& tenant_id, const std::string& scope,
                                           const std::string& scope_id) override;
  Result<std::vector<UpgradeRollout>> ListUpgradeRollouts(const std::string& tenant_id) override;
  Status DeleteUpgradeRollout(const std::string& tenant_id, const std::string& scope,
                              const std::string& scope_id) override;
  Status UpdateUpgradeRolloutProgress(const UpgradeRollout& r) override;
  Status PutAgentUpgradeStates(const std::string& tenant_id,
                               const std::vector<AgentUpgradeState>& states) override;
  Result<std::vector<AgentUpgradeState>> ListAgentUpgradeStates(
      const std::string& tenant_id, const std::string& scope, const std::string& scope_id) override;

  // report_mail.cc (issue #19, s9-reportmail): the report e-mail outbox
  Status RecordScheduledRunWithMails(const std::string& tenant_id, const std::string& schedule_id,
                                     TimePoint expected_next, TimePoint next, TimePoint ran_at,
                                     const std::optional<StoredReport>& report,
                                     const std::string& error,
                                     const std::vector<ReportMail>& mails) override;
  Result<std::vector<ReportMail>> ClaimReportMails(const std::string& holder, TimePoint now,
                                                   std::chrono::seconds lease, int limit) override;
  Result<ReportMail> CompleteReportMail(const std::string& holder, const ReportMail& m,
                                        const ReportMailOutcome& outcome) override;
  Result<std::vector<ReportMail>> ListReportMails(const std::string& tenant_id,
                                                  const std::string& report_id) override;
  Result<int64_t> CountPendingReportMails() override;
  static Status CheckReportMail(const ReportMail& m);
  static void InsertReportMail(soci::session& sql, const ReportMail& m);
  // egress_feeds.cc (issue #17, s9-feeds)
  Status CreateEgressFeed(const EgressFeed& f) override;
  Result<EgressFeed> GetEgressFeed(const std::string& tenant_id, const std::string& id,
                                   bool with_content) override;
  Result<std::vector<EgressFeed>> ListEgressFeeds(const std::string& tenant_id) override;
  Result<std::vector<EgressFeed>> ListSharedEgressFeeds() override;
  Status UpdateEgressFeed(const EgressFeed& f) override;
  Status DeleteEgressFeed(const std::string& tenant_id, const std::string& id) override;

 private:
  static int StateCode(CommandState s);

  std::string ForUpdate() const { return d_ == Dialect::kSqlite ? "" : " FOR UPDATE"; }
  std::string InsertIgnore() const { return d_ == Dialect::kMysql ? "INSERT IGNORE" : "INSERT"; }
  std::string OnConflictIgnore() const {
    return d_ == Dialect::kMysql ? "" : " ON CONFLICT DO NOTHING";
  }

  static Status CheckTenant(const Tenant& t);
  static Status CheckApiKey(const ApiKey& k);
  static Status InsertTenant(soci::session& sql, const Tenant& t);
  // REQUIRES: the tenant exists (in this transaction).
  static Status InsertApiKey(soci::session& sql, const ApiKey& k);

  Result<Tenant> GetTenantIn(soci::session& sql, const std::string& id, bool lock);

  Result<Agent> GetAgentIn(soci::session& sql, const std::string& tenant_id, const std::string& id,
                           bool lock);

  static void InsertPolicyVersion(soci::session& sql, const Policy& p);
  static Status CheckSignals(const std::vector<AlertSignal>& signals);
  // RecordAlertSignals' work inside the caller's write transaction (throws as SOCI does);
  // returns how many signals were counted. REQUIRES: CheckSignals(signals) passed.
  int RecordSignalsIn(soci::session& sql, const std::vector<AlertSignal>& signals,
                      std::chrono::seconds window);
  Result<Alert> GetAlertIn(soci::session& sql, const std::string& tenant_id, const std::string& id,
                           bool lock);
  // alert_rules.cc (issue 19): channels inside a transaction; the outbox rows of alerts opened
  // by RecordSignalsIn (with throttling), in its transaction.
  Result<AlertChannel> GetChannelIn(soci::session& sql, const std::string& tenant_id,
                                    const std::string& id, bool lock);
  static void InsertNotificationIn(soci::session& sql, const Notification& n);
  void QueueOpenedIn(soci::session& sql, const std::string& tenant,
                     const std::vector<std::pair<const AlertSignal*, std::string>>& opened);

  Result<Policy> GetPolicyIn(soci::session& sql, const std::string& tenant_id,
                             const std::string& id, bool lock);

  // kNotFound("no such <what>") unless `table` has row `id` in `tenant_id` (locked for update).
  Status RequireRow(soci::session& sql, std::string_view table, const std::string& tenant_id,
                    const std::string& id, std::string_view what);

  long long CurrentVersion(soci::session& sql);

  void Begin(soci::session& sql) {
    if (d_ == Dialect::kSqlite) {
      sql << "BEGIN IMMEDIATE";
    } else {
      sql.begin();
    }
  }

  // Runs f(session) on a pooled session, inside a transaction when `txn` (committed when f
  // succeeds, rolled back otherwise). A broken connection or a deadlock before commit is retried
  // on a fresh session; a failure during COMMIT is not (its outcome is unknown).
  template <typename F>
  auto Run(std::string_view what, bool txn, F&& f) -> decltype(f(std::declval<soci::session&>())) {
    using R = decltype(f(std::declval<soci::session&>()));
    for (int attempt = 0;; ++attempt) {
      std::unique_lock<std::mutex> write_lock;
      if (txn && d_ == Dialect::kSqlite) write_lock = std::unique_lock(sqlite_write_mu_);
      auto lease = pool_.Acquire();
      if (!lease.has_value()) return R(lease.error().WithContext(what));
      soci::session& sql = lease->session();
      bool committing = false;
      try {
        if (txn) Begin(sql);
        R r = f(sql);
        if (txn) {
          if (IsOk(r)) {
            committing = true;
            sql.commit();
          } else {
            sql.rollback();
          }
        }
        return r;
      } catch (const std::exception& e) {
        DbError err = Classify(d_, e, &sql);
        if (txn && !committing) {
          try {
            sql.rollback();
          } catch (...) {
            err.broken = true;
          }
        }
        if (err.broken) lease->MarkBroken();
        if (attempt < 2 && !committing && (err.broken || err.retryable)) continue;
        return R(err.status.WithContext(what));
      }
    }
  }

  template <typename F>
  Status RunStatus(std::string_view what, bool txn, F&& f) {
    return Run(what, txn, std::forward<F>(f));
  }

  Status EnsurePartitions(const std::set<long long>& days);
  // SQLite events: one writer connection, group commit (docs/manager-store.md, "Events").
  struct PendingInsert {
    const std::vector<StoredEvent>* events;
    const std::vector<long long>* ts;
    const std::vector<std::string>* docs;
    const std::vector<AlertSignal>* signals;  // recorded in the batch's savepoint
    std::chrono::seconds window;
    std::optional<Result<IngestResult>> result;
  };
  Result<IngestResult> InsertEventsSqlite(const std::vector<StoredEvent>& events,
                                          const std::vector<long long>& ts,
                                          const std::vector<std::string>& docs,
                                          const std::vector<AlertSignal>& signals,
                                          std::chrono::seconds window);
  std::vector<Result<IngestResult>> WriteSqliteGroup(const std::vector<PendingInsert*>& group);
  Status OpenSqliteWriter();
  void CloseSqliteWriter();
  // PostgreSQL events: COPY into a per-session staging table, then one INSERT ... SELECT.
  // Adds the rows it inserted to `rollup`, and the (tenant, id) of the IPS ones to `ips`.
  IngestResult InsertEventsCopy(soci::session& sql, const std::vector<StoredEvent>& events,
                                const std::vector<long long>& ts,
                                const std::vector<std::string>& docs, RollupDelta& rollup,
                                std::set<std::pair<std::string, std::string>>& ips);
  Result<int64_t> DeletePostgres(const std::string& tenant_id, long long cutoff, int batch);
  std::string EventWhere(const std::string& tenant_id, const EventQuery& q, Params& p) const;
  // event_rollup.cc: reserves ingest sequence numbers for `events` (per tenant, in tenant order:
  // the counter rows stay locked until the caller's transaction ends); returns each tenant's
  // base: event i of the batch gets base + 1 + i.
  std::map<std::string, long long> ReserveSeq(soci::session& sql,
                                              const std::vector<StoredEvent>& events);
  // event_rollup.cc: writes `d` into the rollups inside the caller's write transaction (throws as
  // SOCI does); rows whose count fell to zero are deleted.
  void ApplyRollup(soci::session& sql, const RollupDelta& d);
  // Runs `delete_stmt` (a DELETE on events or one of its partitions, in the caller's write
  // transaction) and takes the rows it deleted out of the rollups; returns how many it deleted.
  long long DeleteEventsWithRollup(soci::session& sql, const std::string& delete_stmt, Params& p);
  // ips_tuning.cc: the `ips_matches` rows of one event (none unless an IPS detected/blocked
  // event; `doc_text` is parsed when e.doc is not an object); writing them and deleting those of
  // events inside the caller's write transaction (throw as SOCI does); the migration's backfill
  // from the stored events (idempotent).
  static std::vector<IpsMatchRow> IpsMatchRowsOf(const StoredEvent& e, long long ts,
                                                 const std::string& doc_text);
  void WriteIpsMatches(soci::session& sql, const std::vector<IpsMatchRow>& rows);
  void DeleteIpsMatches(soci::session& sql,
                        const std::vector<std::pair<std::string, std::string>>& ids);
  void BackfillIpsMatches(soci::session& sql);
  // event_aggregates.cc: the aggregates counted from the events themselves.
  std::vector<EventCount> CountScan(soci::session& sql, const std::string& tenant_id,
                                    const EventQuery& q, long long bucket_us);
  std::vector<EventValueCount> TopScan(soci::session& sql, const std::string& tenant_id,
                                       const EventQuery& q, const char* col, int limit);
  EventSummary SummaryScan(soci::session& sql, const std::string& tenant_id, const EventQuery& q);
  // siem.cc: the events after `after` in commit order (column and condition per dialect).
  std::string SiemAfter(const SiemCursor& after, Params& p) const;

  SessionPool pool_;
  Dialect d_;
  std::mutex sqlite_write_mu_;  // one SQLite write transaction at a time in this process
  std::mutex group_mu_;         // guards group_queue_, group_leader_, PendingInsert::result
  std::condition_variable group_cv_;
  std::deque<PendingInsert*> group_queue_;
  bool group_leader_ = false;
  // The SQLite event writer (guarded by sqlite_write_mu_): its own connection; its statements
  // are prepared once by the connection's statement cache (statement_cache.h).
  SessionPtr sqlite_writer_;
  std::mutex partitions_mu_;
  std::set<long long> known_partitions_;
};

}  // namespace ward::manager::soci_backend

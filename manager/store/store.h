// Store: everything the manager keeps, behind one interface with one implementation per database
// family (SQLite embedded by default, PostgreSQL, MySQL/MariaDB). The manager is stateless apart
// from its store, so several `ward-manager serve` processes can share one PostgreSQL or MySQL
// database; background jobs coordinate through leases (TryAcquireLease).
//
// Every row belongs to exactly one tenant, and every call that reads or changes a tenant's
// objects takes the tenant id: a lookup with the wrong tenant finds nothing (kNotFound), which is
// how the API answers 404 across tenants. Ids are strings (UUIDv7, time-ordered).
//
// Errors: kNotFound (no such object in this tenant), kAlreadyExists (unique name taken),
// kUnavailable (the database cannot be reached; callers answer 503 and retry), kInternal.
// Every mutating call is one transaction: it happens entirely or not at all.
//
// Thread-safety: implementations are safe to call from many threads (a connection pool).
//
// Implementation (SociStore, manager/store/soci/; details in docs/manager-store.md). No
// signature here changed from the interface as first committed; CreateTenantWithKey was added
// (issue 12). Contract details it adds:
// - Open() connects once: kInvalidArgument (malformed URL, naming the part), kUnavailable (server
//   unreachable), kPermissionDenied (credentials refused). URL options: ?pool=N&connect_timeout=S.
// - Times are stored with microsecond precision. Ids and hashes are at most 64 bytes, names at
//   most 255, event.module 64; longer values, and event times outside 1970..2200, are
//   kInvalidArgument naming the field (InsertEvents: "event[i]: ...") on every backend.
// - On PostgreSQL events are partitioned by day and an event id is unique per (tenant,
//   @timestamp, id): a resent event is a duplicate; the same id with another time is not.
// - Free-text search (EventQuery::text) is a case-sensitive substring match, no wildcards.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::manager {

using TimePoint = std::chrono::system_clock::time_point;

struct TenantSettings {
  int event_retention_days = 91;  // 13 weeks
  int heartbeat_interval_s = 60;
  int inactive_agent_cleanup_days = 30;  // offline agents older than this are removed; 0 = never
};

struct Tenant {
  std::string id;
  std::string name;
  bool primary = false;  // the tenant created by `init`; its admins manage tenants
  bool disabled = false;
  TenantSettings settings;
  TimePoint created_at;
};

enum class Role { kAdmin, kOperator, kAuditor };

// "admin", "operator", "auditor" (API bodies and the stored column).
inline std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kAdmin:
      return "admin";
    case Role::kOperator:
      return "operator";
    case Role::kAuditor:
      return "auditor";
  }
  return "auditor";
}
// The inverse of RoleName; false for anything else.
inline bool ParseRole(std::string_view s, Role& out) {
  if (s == "admin") {
    out = Role::kAdmin;
  } else if (s == "operator") {
    out = Role::kOperator;
  } else if (s == "auditor") {
    out = Role::kAuditor;
  } else {
    return false;
  }
  return true;
}

struct ApiKey {
  std::string id;
  std::string tenant_id;
  std::string name;
  Role role = Role::kAuditor;
  std::string secret_hash;  // SHA-256 hex of the whole secret; the secret itself is never stored
  std::optional<TimePoint> expires_at;
  bool revoked = false;
  TimePoint created_at;
};

// A person who signs in to the console (docs/console.md). Same roles as API keys. User names are
// unique across the manager (a sign-in names no tenant).
struct User {
  std::string id;
  std::string tenant_id;
  std::string username;  // 1..128 bytes
  Role role = Role::kAuditor;
  std::string password_hash;    // libsodium crypto_pwhash_str (Argon2id, "$argon2id$...")
  std::string language = "en";  // "en" or "ja"
  TimePoint created_at;
  // Schema version 3 (console settings and second factor):
  std::string time_zone;  // IANA name ("Asia/Tokyo"); "" = the browser's own
  // TOTP (manager/auth/totp.h): the base32 secret, set at enrolment, sealed with the manager's
  // key ("sb1:…", manager/auth/secret_box.h; at most 255 bytes); `totp_enabled` once the user
  // confirmed it with a first valid code. "" = no second factor.
  std::string totp_secret;
  bool totp_enabled = false;
  int64_t totp_last_step = 0;  // the step of the last code accepted (a code works once)
};

// A signed-in browser. The cookie carries a secret; only its SHA-256 is stored.
struct UserSession {
  std::string id;
  std::string token_hash;
  std::string tenant_id;
  std::string user_id;
  TimePoint created_at;
  TimePoint last_seen;   // idle expiry counts from here
  TimePoint expires_at;  // absolute expiry
};

struct ActivationToken {
  std::string id;
  std::string tenant_id;
  std::string name;
  std::string token_hash;  // SHA-256 hex
  std::optional<std::string> policy_id;
  std::optional<TimePoint> expires_at;
  std::optional<int> max_uses;  // nullopt = unlimited
  int uses = 0;
  bool revoked = false;
  TimePoint created_at;
};

struct Agent {
  std::string id;
  std::string tenant_id;
  std::string hostname;
  std::string machine_id;
  std::string version;
  std::string credential_hash;  // SHA-256 hex
  std::optional<std::string> policy_id;
  int applied_policy_version = 0;
  bool online = false;
  std::optional<TimePoint> last_seen;
  nlohmann::json status = nlohmann::json::object();  // the last heartbeat's status object
  TimePoint created_at;
};

struct AgentFilter {
  std::optional<bool> online;
  std::optional<std::string> hostname;  // exact
  std::optional<std::string> policy_id;
};

struct Policy {
  std::string id;
  std::string tenant_id;
  std::string name;
  int version = 1;  // bumped by every update
  nlohmann::json document = nlohmann::json::object();
  TimePoint created_at;
  TimePoint updated_at;
};

// One saved version of a policy (schema version 4): CreatePolicy keeps version 1 and every
// UpdatePolicy the version it makes, in the same transaction; DeletePolicy deletes them.
struct PolicyVersion {
  std::string tenant_id;
  std::string policy_id;
  int version = 1;
  std::string name;
  nlohmann::json document = nlohmann::json::object();
  TimePoint saved_at;
};

// A tenant-wide IP list (issue 17, docs/firewall.md "IP lists"): a named list of addresses and
// CIDRs (e.g. the office ranges) that every firewall policy of the tenant can name.
struct IpList {
  std::string tenant_id;
  std::string name;  // 1..64 of [A-Za-z0-9_.-]
  std::string description;
  std::vector<std::string> entries;  // CIDRs / addresses, as written
  TimePoint updated_at;
};

// ---- Agent groups (issue #18, s8-upgrade; docs/deployment.md "Agent groups") ----------------
// A tenant's named group of agents; an agent is in at most one group. A group may carry a
// policy: an agent that joins it gets that policy, and setting the group's policy assigns it to
// every member (each in the same transaction).
struct AgentGroup {
  std::string id;
  std::string tenant_id;
  std::string name;         // 1..255 bytes, unique in the tenant
  std::string description;  // at most 1024 bytes
  std::optional<std::string> policy_id;
  int64_t members = 0;  // read-only: agents in the group (set by Get/List)
  TimePoint created_at;
  TimePoint updated_at;
};

// ---- Agent upgrades (issue #18, s9-upgrade; docs/updates.md "Agent upgrades") ---------------
// A target ward-agent version for the agents of one agent group ("group") or policy ("policy"),
// rolled out in two waves: the first `first_wave_percent` of the members (by agent id), then the
// rest once every first-wave agent is back with the target. An agent not back within
// `timeout_s` of its offer, or whose install failed, stops the rollout (`stopped_reason`).
struct UpgradeRollout {
  std::string tenant_id;
  std::string scope;     // "group" | "policy"
  std::string scope_id;  // the agent group's or the policy's id
  std::string target_version;
  int first_wave_percent = 100;  // 1..100
  int64_t timeout_s = 1800;
  TimePoint created_at;  // also the rollout's generation
  std::optional<TimePoint> second_wave_at;
  std::optional<std::string> stopped_reason;
};

// One agent's progress in the rollout of its scope (generation = the rollout's created_at).
struct AgentUpgradeState {
  std::string tenant_id;
  std::string agent_id;
  std::string scope;
  std::string scope_id;
  TimePoint generation;
  std::string target_version;
  std::string state;  // pending, downloading, installing, done, failed, timed-out
  int wave = 1;       // 1 or 2
  std::optional<TimePoint> offered_at;
  TimePoint updated_at;
  std::optional<std::string> error;
};

// Alerts (schema version 4, docs/alerts.md): severe events grouped per (source, rule_key,
// agent) while the group is not resolved and its events come within the de-duplication window.
enum class AlertState { kOpen, kAcknowledged, kResolved };

// "open", "acknowledged", "resolved".
inline std::string_view AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kOpen:
      return "open";
    case AlertState::kAcknowledged:
      return "acknowledged";
    case AlertState::kResolved:
      return "resolved";
  }
  return "open";
}
inline bool ParseAlertState(std::string_view s, AlertState& out) {
  if (s == "open") {
    out = AlertState::kOpen;
  } else if (s == "acknowledged") {
    out = AlertState::kAcknowledged;
  } else if (s == "resolved") {
    out = AlertState::kResolved;
  } else {
    return false;
  }
  return true;
}

struct Alert {
  std::string id;
  std::string tenant_id;
  std::string source = "builtin";  // what raised it: "builtin", later an alert rule's id (#19)
  std::string rule_key;            // the grouping key, e.g. "ips.blocked:942100"
  std::string agent_id;
  std::string module;
  std::string title;  // the latest event's rule name or message
  int severity = 0;   // the highest of its events
  AlertState state = AlertState::kOpen;
  int64_t count = 0;  // events grouped into it
  TimePoint first_seen;
  TimePoint last_seen;  // the newest event's @timestamp
  std::string first_event_id;
  std::string last_event_id;
  // Who acknowledged / resolved it, when and why (actor as in the audit log: "user:<id>").
  std::optional<std::string> acknowledged_by;
  std::optional<TimePoint> acknowledged_at;
  std::optional<std::string> acknowledged_reason;
  std::optional<std::string> resolved_by;
  std::optional<TimePoint> resolved_at;
  std::optional<std::string> resolved_reason;
  TimePoint updated_at;
};

// One stored event that raises (or counts into) an alert.
struct AlertSignal {
  std::string new_alert_id;  // the id of the alert this signal opens, if it opens one
  std::string tenant_id;
  std::string agent_id;
  std::string event_id;
  TimePoint timestamp;
  std::string source = "builtin";
  std::string rule_key;
  std::string module;
  std::string title;
  int severity = 0;
  // Alert rules and notifications (issue 19): the de-duplication window of this signal's rule
  // (0 = the call's window); the channels to notify when the signal opens a new alert, in the
  // same transaction (the notification outbox); the rule those notifications count against for
  // throttling (at most `throttle_max` opened-alert notifications per `throttle_period` and rule,
  // 0 = unthrottled); `noticed_at` = when the manager received it (throttling and the outbox).
  std::chrono::seconds window{0};
  std::vector<std::string> notify;
  std::string rule_id;
  int throttle_max = 0;
  std::chrono::seconds throttle_period{0};
  TimePoint noticed_at{};
};

struct AlertFilter {
  std::optional<AlertState> state;
  std::optional<std::string> agent_id;
  std::optional<std::string> module;
  std::optional<int> min_severity;
  // Keyset pagination, newest last_seen first: alerts strictly before (last_seen, id).
  std::optional<std::pair<TimePoint, std::string>> before;
  int limit = 100;
};

// A state change asked for by a person or a key.
struct AlertTransition {
  AlertState to = AlertState::kAcknowledged;
  std::string actor;   // "user:<id>", "apikey:<id>"
  std::string reason;  // may be empty
  TimePoint at;
};

enum class CommandState { kQueued, kDelivered, kCompleted, kFailed };

struct Command {
  std::string id;
  std::string tenant_id;
  std::string agent_id;
  std::string name;  // integrity.check, antimalware.scan, ...
  nlohmann::json args = nlohmann::json::object();
  CommandState state = CommandState::kQueued;
  nlohmann::json result;  // null until completed/failed
  TimePoint created_at;
};

// A stored event: the agent's JSON document plus the columns queries filter on, extracted at
// ingestion. `doc` is kept verbatim (with agent.id/agent.name set by the manager).
struct StoredEvent {
  std::string id;  // event.id
  std::string tenant_id;
  std::string agent_id;
  TimePoint timestamp;  // @timestamp
  std::string module;   // event.module
  std::string action;   // event.action
  int severity = 0;     // event.severity
  std::string path;     // file.path, else url.original ("" when none): free-text search
  std::string rule;     // rule.id / rule.name joined ("" when none): free-text search
  // The tenant's ingest sequence: set by InsertEvents (increasing in commit order), read back
  // by QueryEvents; 0 for events stored before it existed.
  int64_t seq = 0;
  nlohmann::json doc;
  // When not empty, the document exactly as it is to be stored (the JSON text of `doc`, e.g. the
  // agent's validated NDJSON line): InsertEvents stores these bytes instead of serialising `doc`
  // again. It must be one JSON object in valid UTF-8 (InsertEvents checks it has no NUL byte and
  // is not longer than 16 MiB); QueryEvents returns it parsed in `doc` and leaves this empty
  // (unless EventQuery::raw_docs).
  std::string doc_text;
};

struct EventQuery {
  std::optional<TimePoint> from;  // inclusive
  std::optional<TimePoint> to;    // exclusive
  std::optional<std::string> agent_id;
  std::optional<std::string> module;
  std::optional<int> min_severity;
  std::optional<std::string> action;
  std::optional<std::string> text;  // substring of path or rule
  // Keyset pagination: events strictly after (timestamp, id) of the cursor, ascending by
  // (timestamp, id); `descending` walks newest first and "after" means older.
  std::optional<std::pair<TimePoint, std::string>> after;
  bool descending = false;
  int limit = 100;  // callers cap it (API: 1..1000)
  // QueryEvents: return each document as stored in `doc_text` and leave `doc` null (the export
  // writes the text as it is or parses only the fields it needs).
  bool raw_docs = false;
  // CountEvents/TopEventValues/SummarizeEvents: count from the events themselves, never from
  // the hourly rollups (the same answer, slower; tests and checks compare the two).
  bool from_events = false;
  // QueryEvents: the events stored after ingest sequence number `after_seq` (arrival order, see
  // LatestEventSeq), ascending by seq; `after` and `descending` must not be set with it.
  std::optional<int64_t> after_seq;
};

struct EventCount {
  TimePoint bucket;  // start of the bucket
  std::string module;
  int severity = 0;
  int64_t count = 0;
};

// A column the dashboard ranks events by (TopEventValues).
enum class EventField { kRule, kAgent, kPath, kModule, kAction };

// One value of an EventField and how many events carry it.
struct EventValueCount {
  std::string value;
  int64_t count = 0;
};

// Totals over a query's events: all of them, heals (autoheal `restored`) and quarantines
// (antimalware `quarantine`, autoheal `unexpected_file` moved to quarantine is not counted: its
// action column is `unexpected_file`).
struct EventSummary {
  int64_t total = 0;
  int64_t heals = 0;
  int64_t quarantines = 0;
};

// --- IPS tuning aggregate (issue #14, s8-console; manager/store/soci/ips_tuning.cc) ---
// docs/manager-store.md, "IPS matches": counted by SQL over `ips_matches`, a side table with one
// row per tunable match of every IPS detected/blocked event (IpsMatch), written in the events'
// own transaction and purged with them.
struct IpsTuningQuery {
  TimePoint from;  // inclusive
  TimePoint to;    // exclusive
  // Only the events of agents assigned this policy (now); unset: every agent of the tenant.
  // Events of agents that no longer exist are not counted either way.
  std::optional<std::string> policy_id;
  // Preview of an exclusion of this rule (on `exclude_target` when not empty): per request
  // target, how many events it matches and how many it would suppress; the caller applies a
  // path prefix to those targets.
  std::optional<std::string> exclude_rule;
  std::string exclude_target;
  int top = 10;     // targets and paths per rule
  int samples = 5;  // sample events per rule
};
struct IpsTuningRule {
  std::string rule_id;
  int64_t events = 0;  // events with this rule among their matches (once per event)
  int64_t detected = 0;
  int64_t blocked = 0;
  int64_t would_block = 0;
  int64_t clients = 0;                          // distinct non-empty source.ip
  std::vector<std::string> hosts;               // host names, sorted
  std::vector<EventValueCount> targets, paths;  // top `top`, count desc then value (bytes) asc
  // The rule's first `samples` events by (@timestamp, id), whole, with the host name of each.
  std::vector<StoredEvent> samples;
  std::vector<std::string> sample_hosts;
};
struct IpsTuningPreviewRow {
  std::string url;  // url.original, else url.path
  int64_t matched = 0;
  int64_t suppressed = 0;  // every tunable match of the event is the excluded one
};
struct IpsTuningAggregate {
  int64_t events = 0;  // IPS detected + blocked events
  int64_t would_block = 0;
  std::vector<IpsTuningRule> rules;  // by rule id
  std::vector<IpsTuningPreviewRow> preview;
};

struct IngestResult {
  int accepted = 0;
  int duplicates = 0;      // ids already stored for this tenant
  int alerts_counted = 0;  // InsertEventsWithAlerts: signals counted into alerts
};

// Filters of Store::SearchAudit; every set field narrows the result.
struct AuditQuery {
  std::optional<std::string> actor;   // exact ("user:<id>", "apikey:<id>", "system")
  std::optional<std::string> method;  // exact (POST, PATCH, DELETE, ...)
  std::optional<std::string> path;    // case-sensitive substring of the path
  std::optional<int> status_min;      // inclusive
  std::optional<int> status_max;      // inclusive
  std::optional<TimePoint> from;      // inclusive
  std::optional<TimePoint> to;        // exclusive
  // Keyset pagination over (at, id) as EventQuery::after; `descending` walks newest first.
  std::optional<std::pair<TimePoint, std::string>> after;
  bool descending = false;
  int limit = 100;  // clamped to 1..10000
};

struct AuditEntry {
  std::string id;
  std::string tenant_id;
  std::string actor;   // "apikey:<id>", "agent:<id>", "system"
  std::string method;  // POST, PATCH, ...
  std::string path;    // /api/v1/policies/...
  int status = 0;      // HTTP status answered
  nlohmann::json detail = nlohmann::json::object();
  TimePoint at;
};

// ---- Reports (issue #19, s7-reports; docs/reports.md) ----------------------------------------
// A report made on demand or by a schedule, kept for download with its content (the rendered
// HTML, CSV or PDF bytes, at most 8 MiB). kind/format/language as manager/reports/report.h names
// them ("summary"/"pci_dss", "html"/"csv"/"pdf", "en"/"ja").
struct StoredReport {
  std::string id;
  std::string tenant_id;
  std::string schedule_id;  // "" when made on demand
  std::string kind;
  std::string format;
  std::string language;
  TimePoint period_from;
  TimePoint period_to;
  std::string created_by;  // the audit actor ("user:<id>", "apikey:<id>", "schedule:<id>")
  TimePoint created_at;
  int64_t size = 0;     // bytes of content (set by the store)
  std::string content;  // empty in lists (ListReports)
};

// A report made every day, week (Mondays) or month (the 1st), at 00:00 UTC, over the period
// that just ended; kept, and e-mailed to `recipients` when the manager can send mail.
struct ReportSchedule {
  std::string id;
  std::string tenant_id;
  std::string name;       // 1..255 bytes, unique in the tenant
  std::string frequency;  // "daily", "weekly", "monthly"
  std::string kind;
  std::string format;
  std::string language;
  std::vector<std::string> recipients;  // e-mail addresses (may be empty)
  bool enabled = true;
  TimePoint next_run_at;  // the end of the next period
  std::optional<TimePoint> last_run_at;
  std::string last_report_id;  // "" before the first run
  std::string last_error;      // "" when the last run worked
  TimePoint created_at;
};

// SIEM forwarders (issue 19, docs/siem.md): per tenant, each a syslog receiver fed every event
// of the tenant in the order they were stored, from a durable cursor.

// A position in one tenant's event log, in the order events were committed: every event after
// it is still to be forwarded: the event's ingest sequence number (events.seq, per tenant in
// commit order) and id; {0, ""} is the beginning. Opaque to callers.
struct SiemCursor {
  int64_t pos = 0;
  std::string id;
  bool operator==(const SiemCursor&) const = default;
};

struct SiemForwarder {
  std::string id;
  std::string tenant_id;
  std::string name;               // unique per tenant, 1..255 bytes
  std::string transport = "tcp";  // udp, tcp, tls
  std::string host;
  int port = 514;
  std::string format = "cef";  // cef, leef, json
  int facility = 16;           // syslog facility 0..23 (16 = local0)
  int min_severity = 0;        // events below are skipped (the cursor still moves past them)
  bool enabled = true;
  std::string ca_pem;       // TLS: receiver's CA certificates (PEM); "" = the system's
  std::string server_name;  // TLS: name checked in the certificate; "" = host
  bool tls_verify = true;
  TimePoint created_at;
  TimePoint updated_at;
  // Progress (written by the forwarding job, read-only through the API):
  SiemCursor cursor;
  // The end of the batch being sent when the cursor last moved, or {0,""}: set before a batch is
  // sent, cleared when the cursor passes it. Set when a sender starts means the events between
  // cursor and in_flight may already have arrived once (a crash or broken connection): they are
  // sent again and counted in `resent`.
  SiemCursor in_flight;
  int64_t sent = 0;     // events delivered (acknowledged by the receiver's TCP stack; UDP: sent)
  int64_t skipped = 0;  // events below min_severity
  int64_t resent = 0;   // events sent again after an interruption (possible duplicates)
  std::optional<TimePoint> last_sent_at;
  std::string last_error;  // "" after a success
  std::optional<TimePoint> last_error_at;
};

// One event with its position.
struct SiemEvent {
  SiemCursor at;
  StoredEvent event;  // doc_text set, doc null
};

// ---- Alert rules, notification channels and the notification outbox (issue 19, s7-alerts) ----
// docs/alerts.md. The rule's and channel's documents are validated by manager/alerting/ before
// they reach the store; the store keeps them as JSON.

// A tenant's alert rule: a filter over stored events, a de-duplication window, throttling and
// the channels it notifies. Built-in defaults have ids "builtin.<name>": a stored row with such
// an id overrides the default (enabled, channels, window, throttle).
struct AlertRule {
  std::string id;
  std::string tenant_id;
  std::string name;  // 1..255 bytes
  bool enabled = true;
  nlohmann::json spec = nlohmann::json::object();  // filter, window_s, throttle, channels
  TimePoint created_at;
  TimePoint updated_at;
};

// Where notifications go: "webhook", "email" or "syslog", with its kind's settings (secrets
// sealed). Failure counters are kept by the outbox (CompleteNotification).
struct AlertChannel {
  std::string id;
  std::string tenant_id;
  std::string name;  // 1..255 bytes, unique per tenant
  std::string kind;
  bool enabled = true;
  nlohmann::json config = nlohmann::json::object();
  int consecutive_failures = 0;
  std::optional<TimePoint> failing_since;  // first failure of the current run of failures
  TimePoint created_at;
  TimePoint updated_at;
};

enum class NotificationState { kPending, kSent, kFailed, kThrottled };

// "pending", "sent", "failed", "throttled".
inline std::string_view NotificationStateName(NotificationState s) {
  switch (s) {
    case NotificationState::kPending:
      return "pending";
    case NotificationState::kSent:
      return "sent";
    case NotificationState::kFailed:
      return "failed";
    case NotificationState::kThrottled:
      return "throttled";
  }
  return "pending";
}

// One row of the outbox: an alert to be told to one channel. Written in the transaction that
// opened the alert; claimed by one node at a time (claimed_by until claim_until), retried until
// sent or given up.
struct Notification {
  std::string id;
  std::string tenant_id;
  std::string alert_id;
  std::string channel_id;
  std::string rule_id;
  NotificationState state = NotificationState::kPending;
  int attempts = 0;
  TimePoint created_at;
  TimePoint next_attempt_at;
  std::optional<TimePoint> sent_at;
  std::string last_error;
};

// One delivery attempt (the alert's delivery log).
struct DeliveryAttempt {
  std::string id;
  std::string tenant_id;
  std::string notification_id;
  std::string alert_id;
  std::string channel_id;
  int attempt = 0;  // 1, 2, ...
  TimePoint at;
  bool ok = false;
  int64_t duration_ms = 0;
  std::string detail;  // "HTTP 200", "connect: Connection refused", ...
};

// What a delivery attempt came to (CompleteNotification).
struct DeliveryOutcome {
  DeliveryAttempt attempt;
  // When !attempt.ok: the next try, or nullopt to give up (state failed).
  std::optional<TimePoint> retry_at;
};

// ---- Report e-mail outbox (issue #19, s9-reportmail; docs/reports.md "Delivery by e-mail") ----
// One message of a scheduled report to the recipients of one language, composed when the run is
// recorded and queued in the same transaction (RecordScheduledRunWithMails); claimed by one node
// at a time (a lease that expires when the node dies), retried with back-off until sent or given
// up. `message` is the whole MIME message (Message-ID "<report id>.<language>@ward").
enum class ReportMailState { kPending = 0, kSent = 1, kFailed = 2 };

inline std::string_view ReportMailStateName(ReportMailState s) {
  switch (s) {
    case ReportMailState::kPending:
      return "pending";
    case ReportMailState::kSent:
      return "sent";
    case ReportMailState::kFailed:
      return "failed";
  }
  return "pending";
}

struct ReportMail {
  std::string id;
  std::string tenant_id;
  std::string schedule_id;
  std::string report_id;
  std::string language;                 // "en", "ja"
  std::string mail_from;                // the envelope sender
  std::vector<std::string> recipients;  // the envelope recipients
  std::string message;                  // empty in lists (ListReportMails)
  ReportMailState state = ReportMailState::kPending;
  int attempts = 0;
  TimePoint created_at;
  TimePoint next_attempt_at;
  std::optional<TimePoint> last_attempt_at;
  std::optional<TimePoint> sent_at;
  std::string last_error;  // the last failed attempt's answer ("" after a success)
};

// What a report mail's delivery attempt came to (CompleteReportMail).
struct ReportMailOutcome {
  TimePoint at;
  bool ok = false;
  std::string detail;  // "250", "SMTP 535: Login denied", "Couldn't connect to server", ...
  // When !ok: the next try, or nullopt to give up (state failed).
  std::optional<TimePoint> retry_at;
};

// ---- Egress reputation feeds (issue #17, s9-feeds; schema: VEgressFeeds) ---------------------
// A tenant's feed file (docs/egress.md "Managed feeds"), distributed to its agents in the
// tenant's "feeds" update bundle as <name>.<extension of format>. A shared feed (only the primary
// tenant sets it) goes to every tenant's agents as well.
struct EgressFeed {
  std::string id;
  std::string tenant_id;
  std::string name;    // 1..64 of [a-z0-9_-], unique in the tenant
  std::string format;  // hosts | domains | urlhaus_csv | spamhaus_drop | custom
  bool shared = false;
  std::string sha256;   // of content
  int64_t size = 0;     // bytes of content
  int64_t entries = 0;  // names + URL prefixes + CIDRs read from it
  std::string content;  // only from GetEgressFeed(..., true), and for writes
  TimePoint created_at;
  TimePoint updated_at;
};

class Store {
 public:
  virtual ~Store() = default;

  // Opens "sqlite:PATH", "postgresql://user:pass@host:port/db" or
  // "mysql://user:pass@host:port/db" (MariaDB counts as MySQL). Does not create or upgrade the
  // schema.
  static Result<std::unique_ptr<Store>> Open(const std::string& url);

  // Schema: versioned migrations, applied in order inside transactions; idempotent.
  virtual Result<int> SchemaVersion() = 0;  // 0 = empty database
  virtual Status Migrate() = 0;             // to the newest version this build knows

  // Tenants.
  virtual Status CreateTenant(const Tenant& t) = 0;
  // Creates the tenant and its first API key in one transaction: both are stored or neither
  // (a taken tenant name or key hash is kAlreadyExists and leaves nothing behind).
  // REQUIRES: first_key.tenant_id == t.id (else kInvalidArgument).
  virtual Status CreateTenantWithKey(const Tenant& t, const ApiKey& first_key) = 0;
  virtual Result<Tenant> GetTenant(const std::string& id) = 0;
  virtual Result<std::vector<Tenant>> ListTenants() = 0;
  virtual Status UpdateTenant(const Tenant& t) = 0;  // name, disabled, settings
  // Deletes the tenant and every row that belongs to it.
  virtual Status DeleteTenant(const std::string& id) = 0;

  // API keys. FindApiKeyByHash looks across tenants (authentication) and returns revoked and
  // expired keys too; the caller decides.
  virtual Status CreateApiKey(const ApiKey& k) = 0;
  virtual Result<ApiKey> FindApiKeyByHash(const std::string& secret_hash) = 0;
  virtual Result<ApiKey> GetApiKey(const std::string& tenant_id, const std::string& id) = 0;
  virtual Result<std::vector<ApiKey>> ListApiKeys(const std::string& tenant_id) = 0;
  virtual Status RevokeApiKey(const std::string& tenant_id, const std::string& id) = 0;

  // Activation tokens. UseActivationToken atomically checks (not revoked, not expired at `now`,
  // uses < max_uses) and counts one use; kUnauthenticated when the token cannot be used.
  virtual Status CreateActivationToken(const ActivationToken& t) = 0;
  virtual Result<ActivationToken> UseActivationToken(const std::string& token_hash,
                                                     TimePoint now) = 0;
  virtual Result<std::vector<ActivationToken>> ListActivationTokens(
      const std::string& tenant_id) = 0;
  virtual Result<ActivationToken> GetActivationToken(const std::string& tenant_id,
                                                     const std::string& id) = 0;
  virtual Status RevokeActivationToken(const std::string& tenant_id, const std::string& id) = 0;
  // Sets (or with nullopt clears) the policy agents activated with the token get; the token and
  // the policy must both be `tenant_id`'s (kNotFound names which is missing). Revoked tokens too.
  virtual Status SetActivationTokenPolicy(const std::string& tenant_id, const std::string& id,
                                          const std::optional<std::string>& policy_id) = 0;

  // Agents.
  virtual Status CreateAgent(const Agent& a) = 0;
  virtual Result<Agent> FindAgentByCredentialHash(const std::string& credential_hash) = 0;
  virtual Result<Agent> GetAgent(const std::string& tenant_id, const std::string& id) = 0;
  virtual Result<std::vector<Agent>> ListAgents(const std::string& tenant_id,
                                                const AgentFilter& filter) = 0;
  // Heartbeat: last_seen, online, version, hostname, status, applied_policy_version. Returns
  // whether the agent was offline before (so the caller can raise agent_online).
  virtual Result<bool> RecordHeartbeat(const Agent& a) = 0;
  virtual Status AssignPolicy(const std::string& tenant_id, const std::string& agent_id,
                              const std::optional<std::string>& policy_id) = 0;
  virtual Status DeleteAgent(const std::string& tenant_id, const std::string& id) = 0;
  // Marks offline every online agent (all tenants) whose last_seen is older than 3 x its
  // tenant's heartbeat_interval_s at `now`; returns them (so the caller can raise agent_offline).
  virtual Result<std::vector<Agent>> MarkOffline(TimePoint now) = 0;
  // Deletes offline agents of `tenant_id` last seen before `cutoff`; returns how many.
  virtual Result<int> DeleteInactiveAgents(const std::string& tenant_id, TimePoint cutoff) = 0;

  // Policies.
  virtual Status CreatePolicy(const Policy& p) = 0;
  virtual Result<Policy> GetPolicy(const std::string& tenant_id, const std::string& id) = 0;
  virtual Result<std::vector<Policy>> ListPolicies(const std::string& tenant_id) = 0;
  // Replaces name and document and bumps version; returns the stored policy.
  virtual Result<Policy> UpdatePolicy(const std::string& tenant_id, const std::string& id,
                                      const std::string& name, const nlohmann::json& document,
                                      TimePoint now) = 0;
  // kFailedPrecondition while agents or activation tokens still use it.
  virtual Status DeletePolicy(const std::string& tenant_id, const std::string& id) = 0;

  // Saved versions of a policy, oldest first; kNotFound when the policy is not in the tenant.
  virtual Result<std::vector<PolicyVersion>> ListPolicyVersions(const std::string& tenant_id,
                                                                const std::string& policy_id) = 0;
  virtual Result<PolicyVersion> GetPolicyVersion(const std::string& tenant_id,
                                                 const std::string& policy_id, int version) = 0;

  // ---- tenant-wide IP lists (issue 17) ----
  // By name.
  virtual Result<std::vector<IpList>> ListIpLists(const std::string& tenant_id) = 0;
  virtual Result<IpList> GetIpList(const std::string& tenant_id, const std::string& name) = 0;
  // Creates or replaces the list; returns true when it was created.
  virtual Result<bool> PutIpList(const IpList& list) = 0;
  // kNotFound when there is no such list.
  virtual Status DeleteIpList(const std::string& tenant_id, const std::string& name) = 0;

  // Commands queued for agents.
  virtual Status QueueCommand(const Command& c) = 0;
  // Queued commands of the agent, marked delivered in the same transaction.
  virtual Result<std::vector<Command>> TakeCommands(const std::string& tenant_id,
                                                    const std::string& agent_id) = 0;
  virtual Status CompleteCommand(const std::string& tenant_id, const std::string& agent_id,
                                 const std::string& id, bool ok, const nlohmann::json& result) = 0;
  virtual Result<std::vector<Command>> ListCommands(const std::string& tenant_id,
                                                    const std::string& agent_id) = 0;

  // Events. InsertEvents stores a batch in one transaction; an id already stored for the tenant
  // is counted as a duplicate and not stored again.
  virtual Result<IngestResult> InsertEvents(const std::vector<StoredEvent>& events) = 0;
  // InsertEvents and RecordAlertSignals(signals, window) in one transaction: the events and the
  // alerts they raise are stored together or not at all, so an answered batch has lost no alert
  // and a resent one counts nothing twice. Invalid signals are kInvalidArgument and store
  // nothing. (ingestion, docs/alerts.md "When it happens")
  virtual Result<IngestResult> InsertEventsWithAlerts(const std::vector<StoredEvent>& events,
                                                      const std::vector<AlertSignal>& signals,
                                                      std::chrono::seconds window) = 0;
  virtual Result<std::vector<StoredEvent>> QueryEvents(const std::string& tenant_id,
                                                       const EventQuery& q) = 0;
  // Counts per (bucket, module, severity) over the query's filters (after/limit ignored).
  virtual Result<std::vector<EventCount>> CountEvents(const std::string& tenant_id,
                                                      const EventQuery& q,
                                                      std::chrono::seconds bucket) = 0;
  // The `limit` (1..1000) most frequent non-empty values of `field` among the events matching
  // the query's filters (after/descending/limit ignored), most frequent first, ties by value.
  // Counts every matching event (a GROUP BY in the database), not a sample. kInvalidArgument
  // for a limit outside 1..1000.
  virtual Result<std::vector<EventValueCount>> TopEventValues(const std::string& tenant_id,
                                                              const EventQuery& q, EventField field,
                                                              int limit) = 0;
  // Totals of the events matching the query's filters (after/descending/limit ignored).
  virtual Result<EventSummary> SummarizeEvents(const std::string& tenant_id,
                                               const EventQuery& q) = 0;
  // Deletes up to `batch` events of the tenant older than `cutoff`; returns how many. Called in
  // a loop by the retention job so ingestion is never blocked for long. (PostgreSQL drops whole
  // partitions where it can.)
  virtual Result<int64_t> DeleteEventsBefore(const std::string& tenant_id, TimePoint cutoff,
                                             int batch) = 0;

  // Console live tail (issue 14): the tenant's latest ingest sequence number (0 when it has
  // no events yet). Every event with a seq up to it is committed and visible, so a reader that
  // takes it and then asks for after_seq = it misses no event stored later, whatever its
  // @timestamp. (docs/manager-store.md, "Ingest sequence")
  virtual Result<int64_t> LatestEventSeq(const std::string& tenant_id) = 0;

  // Audit log.
  virtual Status AppendAudit(const AuditEntry& e) = 0;
  virtual Result<std::vector<AuditEntry>> QueryAudit(
      const std::string& tenant_id, std::optional<std::pair<TimePoint, std::string>> after,
      int limit) = 0;
  // The audit log of one tenant narrowed by `q` (console filters, GET /api/v1/audit).
  virtual Result<std::vector<AuditEntry>> SearchAudit(const std::string& tenant_id,
                                                      const AuditQuery& q) = 0;

  // Leases for background jobs across manager nodes: true when `holder` now holds `name` until
  // now + ttl (it was free, expired, or already held by `holder`).
  virtual Result<bool> TryAcquireLease(const std::string& name, const std::string& holder,
                                       TimePoint now, std::chrono::seconds ttl) = 0;
  virtual Status ReleaseLease(const std::string& name, const std::string& holder) = 0;

  // Alerts (schema version 4). RecordAlertSignals, in one transaction: a signal whose event is
  // already linked to an alert of its tenant is skipped (a resent batch counts nothing twice);
  // otherwise it counts into the newest unresolved alert of its (tenant, source, rule_key,
  // agent) whose last_seen is at most `window` before the event, or opens a new alert. Returns
  // how many signals were counted.
  virtual Result<int> RecordAlertSignals(const std::vector<AlertSignal>& signals,
                                         std::chrono::seconds window) = 0;
  virtual Result<Alert> GetAlert(const std::string& tenant_id, const std::string& id) = 0;
  virtual Result<std::vector<Alert>> ListAlerts(const std::string& tenant_id,
                                                const AlertFilter& filter) = 0;
  // Moves every alert of `ids` to t.to in one transaction (all or none): open → acknowledged,
  // open/acknowledged → resolved, acknowledged/resolved → open (reopen, clearing who/when/why
  // of the later states). An alert already in t.to is left as it is. kNotFound naming the id
  // for an alert not in the tenant; kFailedPrecondition for acknowledging a resolved alert.
  virtual Result<std::vector<Alert>> TransitionAlerts(const std::string& tenant_id,
                                                      const std::vector<std::string>& ids,
                                                      const AlertTransition& t) = 0;

  // Console users (schema version 2). CreateUser: a taken user name is kAlreadyExists (across
  // tenants). DeleteUser also ends the user's sessions.
  virtual Status CreateUser(const User& u) = 0;
  virtual Result<User> GetUser(const std::string& tenant_id, const std::string& id) = 0;
  virtual Result<User> FindUserByName(const std::string& username) = 0;
  virtual Result<std::vector<User>> ListUsers(const std::string& tenant_id) = 0;
  // role, password_hash, language, time_zone, totp_secret, totp_enabled (not totp_last_step)
  virtual Status UpdateUser(const User& u) = 0;
  virtual Status DeleteUser(const std::string& tenant_id, const std::string& id) = 0;
  // Records that the user's TOTP code of `step` was accepted, atomically and only if `step` is
  // later than the last one recorded: kFailedPrecondition when it is not (the code, or an older
  // one, was already used: a replay), kNotFound without such a user. Safe across manager nodes.
  virtual Status UseTotpStep(const std::string& tenant_id, const std::string& user_id,
                             int64_t step) = 0;

  // Activation rules (issue #18, docs/deployment.md): the tenant's ordered list as the JSON array
  // the API checked (manager/services/activation_rules.h); [] when none was set.
  virtual Result<nlohmann::json> GetActivationRules(const std::string& tenant_id) = 0;
  // Replaces the whole list in one transaction. kNotFound without such a tenant.
  virtual Status SetActivationRules(const std::string& tenant_id, const nlohmann::json& rules,
                                    TimePoint now) = 0;

  // Console sessions.
  virtual Status CreateSession(const UserSession& s) = 0;
  virtual Result<UserSession> FindSessionByHash(const std::string& token_hash) = 0;
  virtual Status TouchSession(const std::string& id, TimePoint last_seen) = 0;
  virtual Status DeleteSession(const std::string& id) = 0;
  // Sessions past their absolute expiry or idle since before `idle_cutoff` are deleted.
  virtual Result<int64_t> DeleteExpiredSessions(TimePoint now, TimePoint idle_cutoff) = 0;
  // SIEM forwarders (issue 19, docs/siem.md). Create: kAlreadyExists for a taken name in the
  // tenant; the forwarder's cursor is stored as given (see SiemLogEnd). Update changes the
  // configuration (name .. tls_verify), never the progress.
  virtual Status CreateSiemForwarder(const SiemForwarder& f) = 0;
  virtual Result<SiemForwarder> GetSiemForwarder(const std::string& tenant_id,
                                                 const std::string& id) = 0;
  virtual Result<std::vector<SiemForwarder>> ListSiemForwarders(const std::string& tenant_id) = 0;
  // Every tenant's (the forwarding job).
  virtual Result<std::vector<SiemForwarder>> ListAllSiemForwarders() = 0;
  virtual Status UpdateSiemForwarder(const SiemForwarder& f) = 0;
  virtual Status DeleteSiemForwarder(const std::string& tenant_id, const std::string& id) = 0;
  // The position after the tenant's newest committed event (a forwarder starting "now").
  virtual Result<SiemCursor> SiemLogEnd(const std::string& tenant_id) = 0;
  // Up to `limit` events of the tenant after `after`, in commit order; each event exactly once
  // across calls that pass the previous call's last position. Events of transactions still
  // running are not returned until every earlier one is visible (MySQL/MariaDB: a locking read,
  // and events are held back until they are 1 s old, docs/siem.md).
  virtual Result<std::vector<SiemEvent>> ReadSiemEvents(const std::string& tenant_id,
                                                        const SiemCursor& after, int limit) = 0;
  // Events of the tenant after `after` (the backlog), counting at most `cap`.
  virtual Result<int64_t> CountSiemEvents(const std::string& tenant_id, const SiemCursor& after,
                                          int64_t cap) = 0;
  // Sets in_flight = `to` if the forwarder's cursor is still `from`; kFailedPrecondition
  // otherwise (another node moved it: this one lost its lease).
  virtual Status BeginSiemBatch(const std::string& tenant_id, const std::string& id,
                                const SiemCursor& from, const SiemCursor& to) = 0;
  // Moves the cursor from `from` to `to` (compare-and-set, kFailedPrecondition when it is no
  // longer `from`), adds the counts, clears in_flight and last_error, sets last_sent_at = at.
  virtual Status AdvanceSiemCursor(const std::string& tenant_id, const std::string& id,
                                   const SiemCursor& from, const SiemCursor& to, int64_t sent,
                                   int64_t skipped, int64_t resent, TimePoint at) = 0;
  // AdvanceSiemCursor and then BeginSiemBatch(to, next_to) in one write transaction (the
  // forwarder read its next batch already): in_flight = `next_to` instead of cleared.
  virtual Status AdvanceSiemCursorAndBegin(const std::string& tenant_id, const std::string& id,
                                           const SiemCursor& from, const SiemCursor& to,
                                           int64_t sent, int64_t skipped, int64_t resent,
                                           TimePoint at, const SiemCursor& next_to) = 0;
  // Records why forwarding failed (cut to 1024 bytes); the cursor stays.
  virtual Status RecordSiemError(const std::string& tenant_id, const std::string& id,
                                 const std::string& error, TimePoint at) = 0;

  // ---- Alert rules, channels, notification outbox (issue 19, s7-alerts; schema: VAlertRules) --
  // Rules: kAlreadyExists for a taken id; kNotFound across tenants. Update replaces name,
  // enabled and spec (and updated_at). Deleting a channel a rule names is allowed (the rule
  // skips it).
  virtual Status CreateAlertRule(const AlertRule& r) = 0;
  virtual Result<AlertRule> GetAlertRule(const std::string& tenant_id, const std::string& id) = 0;
  virtual Result<std::vector<AlertRule>> ListAlertRules(const std::string& tenant_id) = 0;
  virtual Status UpdateAlertRule(const AlertRule& r) = 0;
  virtual Status DeleteAlertRule(const std::string& tenant_id, const std::string& id) = 0;
  // Channels: a taken name in the tenant is kAlreadyExists. Update replaces name, enabled and
  // config. Delete also deletes its pending notifications (the log stays).
  virtual Status CreateAlertChannel(const AlertChannel& c) = 0;
  virtual Result<AlertChannel> GetAlertChannel(const std::string& tenant_id,
                                               const std::string& id) = 0;
  virtual Result<std::vector<AlertChannel>> ListAlertChannels(const std::string& tenant_id) = 0;
  virtual Status UpdateAlertChannel(const AlertChannel& c) = 0;
  virtual Status DeleteAlertChannel(const std::string& tenant_id, const std::string& id) = 0;
  // Queues a notification of `alert_id` to `channel_id` (a test message, a re-send); both must
  // be the tenant's (kNotFound names which).
  virtual Status QueueNotification(const Notification& n) = 0;
  // Claims up to `limit` pending notifications due at `now` (any tenant) that no node holds (or
  // whose holder's claim expired: a node that died mid-delivery), for `holder` until now +
  // lease, oldest due first. Several nodes may claim at once; each row goes to one of them.
  virtual Result<std::vector<Notification>> ClaimNotifications(const std::string& holder,
                                                               TimePoint now,
                                                               std::chrono::seconds lease,
                                                               int limit) = 0;
  // Records one attempt in the delivery log and settles the notification (sent, retry at, or
  // failed), and the channel's failure run (reset on success, +1 otherwise), in one
  // transaction. Only while `holder` still holds the claim (else kFailedPrecondition and nothing
  // is recorded: another node took it over). kNotFound when the channel was deleted meanwhile.
  // Returns the channel after the change.
  virtual Result<AlertChannel> CompleteNotification(const std::string& holder,
                                                    const Notification& n,
                                                    const DeliveryOutcome& outcome) = 0;
  // An alert's notifications and delivery attempts (oldest first); kNotFound for another
  // tenant's alert.
  virtual Result<std::vector<Notification>> ListNotifications(const std::string& tenant_id,
                                                              const std::string& alert_id) = 0;
  virtual Result<std::vector<DeliveryAttempt>> ListDeliveryAttempts(
      const std::string& tenant_id, const std::string& alert_id) = 0;
  // Pending notifications of all tenants (the outbox's backlog; metrics and tests).
  virtual Result<int64_t> CountPendingNotifications() = 0;

  // ---- Reports (issue #19, s7-reports; docs/reports.md) ----
  // CreateReport stores the report with its content (kInvalidArgument over 8 MiB).
  virtual Status CreateReport(const StoredReport& r) = 0;
  // The tenant's reports, newest first, without their content; keyset pagination as alerts.
  virtual Result<std::vector<StoredReport>> ListReports(
      const std::string& tenant_id, std::optional<std::pair<TimePoint, std::string>> before,
      int limit) = 0;
  // One report, with its content when `with_content`.
  virtual Result<StoredReport> GetReport(const std::string& tenant_id, const std::string& id,
                                         bool with_content) = 0;
  virtual Status DeleteReport(const std::string& tenant_id, const std::string& id) = 0;
  // Schedules: a taken name is kAlreadyExists. UpdateReportSchedule replaces every field but
  // id, tenant_id and created_at.
  virtual Status CreateReportSchedule(const ReportSchedule& s) = 0;
  virtual Result<std::vector<ReportSchedule>> ListReportSchedules(const std::string& tenant_id) = 0;
  virtual Result<ReportSchedule> GetReportSchedule(const std::string& tenant_id,
                                                   const std::string& id) = 0;
  virtual Status UpdateReportSchedule(const ReportSchedule& s) = 0;
  virtual Status DeleteReportSchedule(const std::string& tenant_id, const std::string& id) = 0;
  // Enabled schedules of every tenant whose next_run_at is at or before `now`, oldest first.
  virtual Result<std::vector<ReportSchedule>> DueReportSchedules(TimePoint now, int limit) = 0;
  // A scheduled run's outcome, in one transaction and only while the schedule's next_run_at is
  // still `expected_next` (another node did not record this run first; else
  // kFailedPrecondition and nothing is stored): stores `report` when it is set, and moves the
  // schedule to `next`, last_run_at = `ran_at`, last_report_id, last_error = `error`.
  virtual Status RecordScheduledRun(const std::string& tenant_id, const std::string& schedule_id,
                                    TimePoint expected_next, TimePoint next, TimePoint ran_at,
                                    const std::optional<StoredReport>& report,
                                    const std::string& error) = 0;
  // --- IPS tuning aggregate (issue #14, s8-console; manager/store/soci/ips_tuning.cc) ---
  // The IPS tuning view's counts over [q.from, q.to) (IpsTuningQuery), several GROUP BYs over
  // `ips_matches`. kNotFound never: an unknown policy simply has no agents.
  virtual Result<IpsTuningAggregate> AggregateIpsTuning(const std::string& tenant_id,
                                                        const IpsTuningQuery& q) = 0;

  // ---- Agent groups (issue #18, s8-upgrade; schema: VAgentGroups) ----
  // kAlreadyExists for a name taken in the tenant; kNotFound naming what ("policy", "agent
  // group", "agent") for an object not in the tenant. kInvalidArgument for over-long fields.
  virtual Status CreateAgentGroup(const AgentGroup& g) = 0;
  virtual Result<AgentGroup> GetAgentGroup(const std::string& tenant_id, const std::string& id) = 0;
  // The tenant's groups by name, with their member counts.
  virtual Result<std::vector<AgentGroup>> ListAgentGroups(const std::string& tenant_id) = 0;
  // Replaces name, description, policy_id and updated_at. With `assign_policy` and a policy set,
  // every member's policy becomes it in the same transaction (an agent whose policy was changed
  // on its own since keeps it otherwise); returns how many members' policy changed.
  virtual Result<int64_t> UpdateAgentGroup(const AgentGroup& g, bool assign_policy) = 0;
  // Deletes the group; its members leave it and keep their policy. kFailedPrecondition is never
  // returned (activation rules naming a deleted group skip it with a warning).
  virtual Status DeleteAgentGroup(const std::string& tenant_id, const std::string& id) = 0;
  // Moves the agent into `group_id` (out of any other group), or with nullopt out of its group.
  // With `apply_policy` and a group that has a policy, the agent's policy becomes the group's in
  // the same transaction. Both must be the tenant's (kNotFound names which).
  virtual Status SetAgentGroup(const std::string& tenant_id, const std::string& agent_id,
                               const std::optional<std::string>& group_id, bool apply_policy,
                               TimePoint now) = 0;
  // The group of one agent (nullopt: none); kNotFound when the agent is not the tenant's.
  virtual Result<std::optional<std::string>> AgentGroupOf(const std::string& tenant_id,
                                                          const std::string& agent_id) = 0;
  // agent id -> group id for every agent of the tenant that is in a group.
  virtual Result<std::map<std::string, std::string>> ListAgentGroupMembers(
      const std::string& tenant_id) = 0;

  // ---- Report e-mail outbox (issue #19, s9-reportmail; manager/store/soci/report_mail.cc) ----
  // RecordScheduledRun that also queues `mails` (each pending, due at its next_attempt_at) in
  // the same transaction: the run and its mails are recorded together or not at all, and a
  // second node recording the same run (kFailedPrecondition) queues nothing.
  virtual Status RecordScheduledRunWithMails(
      const std::string& tenant_id, const std::string& schedule_id, TimePoint expected_next,
      TimePoint next, TimePoint ran_at, const std::optional<StoredReport>& report,
      const std::string& error, const std::vector<ReportMail>& mails) = 0;
  // Claims up to `limit` pending report mails due at `now` (any tenant, with their message) that
  // no node holds or whose claim expired, for `holder` until now + lease, oldest due first. Each
  // row goes to one of several nodes claiming at once.
  virtual Result<std::vector<ReportMail>> ClaimReportMails(const std::string& holder, TimePoint now,
                                                           std::chrono::seconds lease,
                                                           int limit) = 0;
  // Settles one attempt (attempts + 1; sent, retried at, or failed), only while `holder` still
  // holds the claim (else kFailedPrecondition and nothing changes). A mail given up also sets
  // its schedule's last_error to "e-mail: <detail>" while that schedule's last report is the
  // mail's. Returns the mail after the change (without its message).
  virtual Result<ReportMail> CompleteReportMail(const std::string& holder, const ReportMail& m,
                                                const ReportMailOutcome& outcome) = 0;
  // A report's mails (without their message), by language; kNotFound for another tenant's report.
  virtual Result<std::vector<ReportMail>> ListReportMails(const std::string& tenant_id,
                                                          const std::string& report_id) = 0;
  // Pending report mails of all tenants (metrics and tests).
  virtual Result<int64_t> CountPendingReportMails() = 0;
  // ---- Agent upgrades (issue #18, s9-upgrade; schema: VAgentUpgrades;
  //      manager/store/soci/agent_upgrades.cc) ----
  // Creates or replaces the rollout of (tenant, scope, scope_id). kNotFound naming the agent
  // group or policy when it is not the tenant's; kInvalidArgument for a bad scope, version or
  // percent.
  virtual Status PutUpgradeRollout(const UpgradeRollout& r) = 0;
  virtual Result<UpgradeRollout> GetUpgradeRollout(const std::string& tenant_id,
                                                   const std::string& scope,
                                                   const std::string& scope_id) = 0;
  virtual Result<std::vector<UpgradeRollout>> ListUpgradeRollouts(const std::string& tenant_id) = 0;
  virtual Status DeleteUpgradeRollout(const std::string& tenant_id, const std::string& scope,
                                      const std::string& scope_id) = 0;
  // Sets second_wave_at and stopped_reason of the rollout of that generation; kNotFound when it
  // was replaced or deleted meanwhile.
  virtual Status UpdateUpgradeRolloutProgress(const UpgradeRollout& r) = 0;
  // Creates or replaces each agent's state (one transaction).
  virtual Status PutAgentUpgradeStates(const std::string& tenant_id,
                                       const std::vector<AgentUpgradeState>& states) = 0;
  // The stored states of the agents in (tenant, scope, scope_id), any generation, by agent id.
  virtual Result<std::vector<AgentUpgradeState>> ListAgentUpgradeStates(
      const std::string& tenant_id, const std::string& scope, const std::string& scope_id) = 0;
  // ---- Egress reputation feeds (issue #17, s9-feeds; schema: VEgressFeeds;
  // store/soci/egress_feeds.cc) ----
  // kAlreadyExists for a name taken in the tenant; kNotFound for an unknown tenant;
  // kInvalidArgument for over-long fields (content: 32 MiB).
  virtual Status CreateEgressFeed(const EgressFeed& f) = 0;
  // kNotFound ("no such feed") for an id not in the tenant. Content only `with_content`.
  virtual Result<EgressFeed> GetEgressFeed(const std::string& tenant_id, const std::string& id,
                                           bool with_content) = 0;
  // The tenant's feeds by name, without content.
  virtual Result<std::vector<EgressFeed>> ListEgressFeeds(const std::string& tenant_id) = 0;
  // Every tenant's shared feeds (tenant, name), without content.
  virtual Result<std::vector<EgressFeed>> ListSharedEgressFeeds() = 0;
  // Replaces format, shared, content, sha256, size, entries and updated_at of the feed
  // (tenant_id, id); kNotFound when it is not the tenant's.
  virtual Status UpdateEgressFeed(const EgressFeed& f) = 0;
  virtual Status DeleteEgressFeed(const std::string& tenant_id, const std::string& id) = 0;
};

}  // namespace ward::manager

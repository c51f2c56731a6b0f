#include "manager/store/schema.h"

#include <fmt/format.h>

#include <tuple>

namespace ward::manager {
namespace {

// Column types per dialect. Ids and short names compare byte-wise everywhere: COLLATE "C" on
// PostgreSQL, utf8mb4_bin on MySQL, BINARY (the default) on SQLite.
std::string Render(std::string s, Dialect d) {
  auto replace = [&](const std::string& from, const std::string& to) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
      s.replace(pos, from.size(), to);
    }
  };
  switch (d) {
    case Dialect::kSqlite:
      replace("{ID}", "TEXT");
      replace("{NAME}", "TEXT");
      replace("{TEXT}", "TEXT");
      break;
    case Dialect::kPostgres:
      replace("{ID}", "TEXT COLLATE \"C\"");
      replace("{NAME}", "TEXT COLLATE \"C\"");
      replace("{TEXT}", "TEXT");
      break;
    case Dialect::kMysql:
      replace("{ID}", "VARCHAR(64)");
      replace("{NAME}", "VARCHAR(255)");
      replace("{TEXT}", "LONGTEXT");
      break;
  }
  return s;
}

struct Index {
  std::string name;
  std::string columns;
};

// CREATE TABLE (+ indexes): inline INDEX clauses on MySQL (so a table and its indexes appear
// atomically even though MySQL DDL is not transactional), CREATE INDEX IF NOT EXISTS elsewhere.
std::vector<std::string> Table(Dialect d, const std::string& name, const std::string& body,
                               const std::vector<Index>& indexes,
                               const std::string& pg_suffix = "") {
  std::vector<std::string> out;
  if (d == Dialect::kMysql) {
    std::string b = body;
    for (const auto& i : indexes) b += fmt::format(",\n  INDEX {} ({})", i.name, i.columns);
    out.push_back(Render(fmt::format("CREATE TABLE IF NOT EXISTS {} (\n  {}\n) ENGINE=InnoDB "
                                     "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                                     name, b),
                         d));
    return out;
  }
  out.push_back(Render(fmt::format("CREATE TABLE IF NOT EXISTS {} (\n  {}\n){}", name, body,
                                   d == Dialect::kPostgres ? pg_suffix : ""),
                       d));
  for (const auto& i : indexes) {
    out.push_back(fmt::format("CREATE INDEX IF NOT EXISTS {} ON {} ({})", i.name, name, i.columns));
  }
  return out;
}

void Append(std::vector<std::string>& to, std::vector<std::string> from) {
  to.insert(to.end(), from.begin(), from.end());
}

std::vector<std::string> V1(Dialect d) {
  std::vector<std::string> s;
  Append(s,
         Table(d, "tenants",
               "id {ID} NOT NULL PRIMARY KEY, name {NAME} NOT NULL, is_primary INTEGER NOT NULL, "
               "disabled INTEGER NOT NULL, retention_days INTEGER NOT NULL, heartbeat_s INTEGER "
               "NOT NULL, cleanup_days INTEGER NOT NULL, created_at BIGINT NOT NULL, "
               "CONSTRAINT uq_tenants_name UNIQUE (name)",
               {}));
  Append(s, Table(d, "api_keys",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, name {NAME} NOT NULL, "
                  "role {NAME} NOT NULL, secret_hash {ID} NOT NULL, expires_at BIGINT, revoked "
                  "INTEGER NOT NULL, created_at BIGINT NOT NULL, CONSTRAINT uq_api_keys_hash "
                  "UNIQUE (secret_hash)",
                  {{"idx_api_keys_tenant", "tenant_id, created_at"}}));
  Append(s, Table(d, "activation_tokens",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, name {NAME} NOT NULL, "
                  "token_hash {ID} NOT NULL, policy_id {ID}, expires_at BIGINT, max_uses INTEGER, "
                  "uses INTEGER NOT NULL, revoked INTEGER NOT NULL, created_at BIGINT NOT NULL, "
                  "CONSTRAINT uq_activation_tokens_hash UNIQUE (token_hash)",
                  {{"idx_activation_tokens_tenant", "tenant_id, created_at"},
                   {"idx_activation_tokens_policy", "tenant_id, policy_id"}}));
  Append(s,
         Table(d, "agents",
               "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, hostname {NAME} NOT NULL, "
               "machine_id {NAME} NOT NULL, version {NAME} NOT NULL, credential_hash {ID} NOT "
               "NULL, policy_id {ID}, status {TEXT} NOT NULL, applied_policy_version INTEGER "
               "NOT NULL, online INTEGER NOT NULL, last_seen BIGINT, created_at BIGINT NOT "
               "NULL, CONSTRAINT uq_agents_credential UNIQUE (credential_hash)",
               {{"idx_agents_tenant", "tenant_id, created_at"},
                {"idx_agents_hostname", "tenant_id, hostname"},
                {"idx_agents_policy", "tenant_id, policy_id"},
                {"idx_agents_online", "online, last_seen"}}));
  Append(s,
         Table(d, "policies",
               "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, name {NAME} NOT NULL, "
               "document {TEXT} NOT NULL, version INTEGER NOT NULL, created_at BIGINT NOT NULL, "
               "updated_at BIGINT NOT NULL, CONSTRAINT uq_policies_name UNIQUE (tenant_id, name)",
               {}));
  Append(s, Table(d, "commands",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, agent_id {ID} NOT NULL, "
                  "name {NAME} NOT NULL, args {TEXT} NOT NULL, result {TEXT}, state INTEGER NOT "
                  "NULL, created_at BIGINT NOT NULL",
                  {{"idx_commands_agent", "tenant_id, agent_id, state, created_at"}}));
  Append(s, Table(d, "audit",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, actor {NAME} NOT NULL, "
                  "method {NAME} NOT NULL, path {TEXT} NOT NULL, detail {TEXT} NOT NULL, status "
                  "INTEGER NOT NULL, at BIGINT NOT NULL",
                  {{"idx_audit_tenant", "tenant_id, at, id"}}));
  Append(s, Table(d, "leases",
                  "name {NAME} NOT NULL PRIMARY KEY, holder {NAME} NOT NULL, expires_at BIGINT NOT "
                  "NULL",
                  {}));
  // Events. The columns queries filter on are extracted at ingestion; `doc` is the verbatim JSON.
  const std::string cols =
      "tenant_id {ID} NOT NULL, id {ID} NOT NULL, agent_id {ID} NOT NULL, ts BIGINT NOT NULL, "
      "module {ID} NOT NULL, action {NAME} NOT NULL, severity INTEGER NOT NULL, path {TEXT} NOT "
      "NULL, rule {TEXT} NOT NULL, doc {TEXT} NOT NULL";
  switch (d) {
    case Dialect::kPostgres:
      // Range-partitioned by day on ts; partitions are created on demand by InsertEvents. The
      // primary key must contain the partition key, so uniqueness is (tenant_id, ts, id).
      Append(s, Table(d, "events", cols + ", PRIMARY KEY (tenant_id, ts, id)",
                      {{"idx_events_agent", "tenant_id, agent_id, module, ts, id"}},
                      " PARTITION BY RANGE (ts)"));
      break;
    case Dialect::kMysql:
      Append(s, Table(d, "events", cols + ", PRIMARY KEY (tenant_id, id)",
                      {{"idx_events_time", "tenant_id, ts, id"},
                       {"idx_events_agent", "tenant_id, agent_id, module, ts, id"}}));
      break;
    case Dialect::kSqlite:
      Append(s, Table(d, "events", cols + ", CONSTRAINT uq_events_id UNIQUE (tenant_id, id)",
                      {{"idx_events_time", "tenant_id, ts, id"},
                       {"idx_events_agent", "tenant_id, agent_id, module, ts, id"}}));
      break;
  }
  return s;
}

// Console users and their sessions (issue 14).
std::vector<std::string> V2(Dialect d) {
  std::vector<std::string> s;
  Append(s,
         Table(d, "users",
               "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, username {NAME} NOT NULL, "
               "role {NAME} NOT NULL, password_hash {NAME} NOT NULL, language {ID} NOT NULL, "
               "created_at BIGINT NOT NULL, CONSTRAINT uq_users_username UNIQUE (username)",
               {{"idx_users_tenant", "tenant_id, created_at"}}));
  Append(s, Table(d, "sessions",
                  "id {ID} NOT NULL PRIMARY KEY, token_hash {ID} NOT NULL, tenant_id {ID} NOT "
                  "NULL, user_id {ID} NOT NULL, created_at BIGINT NOT NULL, last_seen BIGINT NOT "
                  "NULL, expires_at BIGINT NOT NULL, CONSTRAINT uq_sessions_hash UNIQUE "
                  "(token_hash)",
                  {{"idx_sessions_user", "tenant_id, user_id"},
                   {"idx_sessions_expiry", "expires_at"}}));
  return s;
}

// Console users' time zone and TOTP second factor (issue 14, helper c1). SQLite adds one column
// per statement; PostgreSQL and MySQL in one statement (MySQL DDL is not transactional: one
// statement is all or nothing).
std::vector<std::string> V3(Dialect d) {
  const std::vector<std::string> columns = {
      "time_zone {NAME} NOT NULL DEFAULT ''", "totp_secret {NAME} NOT NULL DEFAULT ''",
      "totp_enabled INTEGER NOT NULL DEFAULT 0", "totp_last_step BIGINT NOT NULL DEFAULT 0"};
  std::vector<std::string> s;
  if (d == Dialect::kSqlite) {
    for (const auto& c : columns) s.push_back(Render("ALTER TABLE users ADD COLUMN " + c, d));
    return s;
  }
  std::string stmt = "ALTER TABLE users";
  for (size_t i = 0; i < columns.size(); ++i) {
    stmt += (i == 0 ? " ADD COLUMN " : ", ADD COLUMN ") + columns[i];
  }
  s.push_back(Render(stmt, d));
  return s;
}

// Policy version history and alerts (issue 14, helper c3). Every saved policy version is kept
// (the rows of policies existing before this migration become their current version); alerts
// group severe events per (source, rule_key, agent) and link each event once (docs/alerts.md).
std::vector<std::string> V4(Dialect d) {
  std::vector<std::string> s;
  Append(s, Table(d, "policy_versions",
                  "tenant_id {ID} NOT NULL, policy_id {ID} NOT NULL, version INTEGER NOT NULL, "
                  "name {NAME} NOT NULL, document {TEXT} NOT NULL, saved_at BIGINT NOT NULL, "
                  "PRIMARY KEY (tenant_id, policy_id, version)",
                  {}));
  s.push_back(
      "INSERT INTO policy_versions (tenant_id, policy_id, version, name, document, saved_at) "
      "SELECT p.tenant_id, p.id, p.version, p.name, p.document, p.updated_at FROM policies p "
      "WHERE NOT EXISTS (SELECT 1 FROM policy_versions v WHERE v.tenant_id = p.tenant_id AND "
      "v.policy_id = p.id AND v.version = p.version)");
  Append(
      s,
      Table(d, "alerts",
            "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, source {NAME} NOT NULL, "
            "rule_key {NAME} NOT NULL, agent_id {ID} NOT NULL, module {ID} NOT NULL, "
            "title {TEXT} NOT NULL, severity INTEGER NOT NULL, state INTEGER NOT NULL, "
            "event_count BIGINT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, "
            "first_event_id {ID} NOT NULL, last_event_id {ID} NOT NULL, ack_by {NAME}, "
            "ack_at BIGINT, ack_reason {TEXT}, resolved_by {NAME}, resolved_at BIGINT, "
            "resolved_reason {TEXT}, updated_at BIGINT NOT NULL",
            {{"idx_alerts_tenant", "tenant_id, last_seen, id"},
             {"idx_alerts_dedup", "tenant_id, source, rule_key, agent_id, state"}}));
  Append(s, Table(d, "alert_events",
                  "tenant_id {ID} NOT NULL, event_id {ID} NOT NULL, alert_id {ID} NOT NULL, "
                  "ts BIGINT NOT NULL, CONSTRAINT uq_alert_events UNIQUE (tenant_id, event_id)",
                  {{"idx_alert_events_alert", "tenant_id, alert_id, ts"}}));
  return s;
}

// Tenant-wide IP lists (issue 17): named address lists that firewall policies reference by name
// (docs/firewall.md "IP lists"); entries as a JSON array of CIDRs.
std::vector<std::string> VIpLists(Dialect d) {
  return Table(d, "ip_lists",
               "tenant_id {ID} NOT NULL, name {NAME} NOT NULL, description {TEXT} NOT NULL, "
               "entries {TEXT} NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, name)",
               {});
}

// Reports (issue #19, s7-reports; docs/reports.md): reports kept for download (the content as
// base64 text, LONGTEXT on MySQL) and report schedules.
std::vector<std::string> VReports(Dialect d) {
  std::vector<std::string> s;
  Append(s, Table(d, "reports",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, schedule_id {ID} NOT "
                  "NULL, kind {ID} NOT NULL, format {ID} NOT NULL, language {ID} NOT NULL, "
                  "period_from BIGINT NOT NULL, period_to BIGINT NOT NULL, created_by {NAME} NOT "
                  "NULL, created_at BIGINT NOT NULL, size BIGINT NOT NULL, content {TEXT} NOT NULL",
                  {{"idx_reports_tenant", "tenant_id, created_at, id"}}));
  Append(s, Table(d, "report_schedules",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, name {NAME} NOT NULL, "
                  "frequency {ID} NOT NULL, kind {ID} NOT NULL, format {ID} NOT NULL, language "
                  "{ID} NOT NULL, recipients {TEXT} NOT NULL, enabled INTEGER NOT NULL, "
                  "next_run_at BIGINT NOT NULL, last_run_at BIGINT, last_report_id {ID} NOT NULL, "
                  "last_error {TEXT} NOT NULL, created_at BIGINT NOT NULL, "
                  "CONSTRAINT uq_report_schedules_name UNIQUE (tenant_id, name)",
                  {{"idx_report_schedules_due", "enabled, next_run_at"}}));
  return s;
}

// Dashboard rollups and the ingest sequence (issue 14, helper c1; docs/manager-store.md,
// "Event rollups" and "Ingest sequence"). Hourly counts maintained by the store in the
// transaction that inserts (or deletes) the events, backfilled here from the events already
// stored. `event_rollup_values` holds the per-hour counts of rule (field 0, per module), agent
// (field 1, module '') and path (field 2, per module, not for 'ips' whose paths are URLs);
// a value longer than 255 bytes is counted under '' (the readers then count from the events).
std::vector<std::string> VConsoleRollup(Dialect d) {
  std::vector<std::string> s;
  Append(s, Table(d, "event_rollup",
                  "tenant_id {ID} NOT NULL, hour BIGINT NOT NULL, module {ID} NOT NULL, "
                  "severity INTEGER NOT NULL, action {NAME} NOT NULL, n BIGINT NOT NULL, "
                  "PRIMARY KEY (tenant_id, hour, module, severity, action)",
                  {}));
  Append(s, Table(d, "event_rollup_values",
                  "tenant_id {ID} NOT NULL, hour BIGINT NOT NULL, field INTEGER NOT NULL, "
                  "module {ID} NOT NULL, value {NAME} NOT NULL, n BIGINT NOT NULL, "
                  "PRIMARY KEY (tenant_id, hour, field, module, value)",
                  {}));
  // The ingest sequence: each tenant's events numbered in commit order (the counter row in
  // ingest_seq is locked by the inserting transaction until it commits). Events stored before
  // have 0.
  Append(s, Table(d, "ingest_seq", "tenant_id {ID} NOT NULL PRIMARY KEY, seq BIGINT NOT NULL", {}));
  if (d == Dialect::kMysql) {
    s.push_back(
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS seq BIGINT NOT NULL DEFAULT 0, ADD INDEX IF "
        "NOT EXISTS idx_events_seq (tenant_id, seq)");
  } else {
    s.push_back("ALTER TABLE events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0");
    s.push_back("CREATE INDEX IF NOT EXISTS idx_events_seq ON events (tenant_id, seq)");
  }
  const std::string hour =
      d == Dialect::kMysql ? "(ts DIV 3600000000) * 3600000000" : "(ts / 3600000000) * 3600000000";
  auto bytes = [&](const std::string& col) {
    switch (d) {
      case Dialect::kSqlite:
        return "length(CAST(" + col + " AS BLOB))";
      case Dialect::kPostgres:
        return "octet_length(" + col + ")";
      case Dialect::kMysql:
        return "LENGTH(" + col + ")";
    }
    return col;
  };
  // MySQL DDL is not transactional: INSERT IGNORE makes a re-run after an interruption harmless
  // (each INSERT ... SELECT is itself atomic in InnoDB).
  const std::string ins = d == Dialect::kMysql ? "INSERT IGNORE" : "INSERT";
  s.push_back(fmt::format(
      "{0} INTO event_rollup (tenant_id, hour, module, severity, action, n) SELECT tenant_id, "
      "{1}, module, severity, action, COUNT(*) FROM events GROUP BY tenant_id, {1}, module, "
      "severity, action",
      ins, hour));
  s.push_back(fmt::format(
      "{0} INTO event_rollup_values (tenant_id, hour, field, module, value, n) SELECT tenant_id, "
      "{1}, 1, '', agent_id, COUNT(*) FROM events WHERE agent_id <> '' GROUP BY tenant_id, {1}, "
      "agent_id",
      ins, hour));
  for (const auto& [field, col, where] :
       {std::tuple{0, "rule", "rule <> ''"},
        std::tuple{2, "path", "path <> '' AND module <> 'ips'"}}) {
    std::string value = fmt::format("CASE WHEN {} > 255 THEN '' ELSE {} END", bytes(col), col);
    s.push_back(fmt::format(
        "{0} INTO event_rollup_values (tenant_id, hour, field, module, value, n) SELECT "
        "tenant_id, {1}, {2}, module, {3}, COUNT(*) FROM events WHERE {4} GROUP BY tenant_id, "
        "{1}, module, {3}",
        ins, hour, field, value, where));
  }
  return s;
}

// SIEM forwarders (issue 19, helper s7-siem; docs/siem.md): the forwarders with their durable
// cursors. The cursors follow the events' ingest sequence (events.seq, VConsoleRollup: numbered
// per tenant in commit order), the same on every backend.
std::vector<std::string> VSiemForwarders(Dialect d) {
  std::vector<std::string> s;
  Append(s, Table(d, "siem_forwarders",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, name {NAME} NOT NULL, "
                  "transport {ID} NOT NULL, host {NAME} NOT NULL, port INTEGER NOT NULL, "
                  "format {ID} NOT NULL, facility INTEGER NOT NULL, min_severity INTEGER NOT "
                  "NULL, enabled INTEGER NOT NULL, ca_pem {TEXT} NOT NULL, server_name {NAME} NOT "
                  "NULL, tls_verify INTEGER NOT NULL, created_at BIGINT NOT NULL, updated_at "
                  "BIGINT NOT NULL, cursor_pos BIGINT NOT NULL, cursor_id {ID} NOT NULL, "
                  "flight_pos BIGINT NOT NULL, flight_id {ID} NOT NULL, sent BIGINT NOT NULL, "
                  "skipped BIGINT NOT NULL, resent BIGINT NOT NULL, last_sent_at BIGINT, "
                  "last_error {TEXT} NOT NULL, last_error_at BIGINT, "
                  "CONSTRAINT uq_siem_forwarders_name UNIQUE (tenant_id, name)",
                  {}));
  return s;
}

// Alert rules, notification channels, the notification outbox and the delivery log (issue 19,
// s7-alerts; docs/alerts.md). The outbox is written in the transaction that opens an alert and
// drained by the manager's notifier (claims per row, so several nodes share the work).
std::vector<std::string> VAlertRules(Dialect d) {
  std::vector<std::string> s;
  Append(s, Table(d, "alert_rules",
                  "tenant_id {ID} NOT NULL, id {ID} NOT NULL, name {NAME} NOT NULL, "
                  "enabled INTEGER NOT NULL, spec {TEXT} NOT NULL, created_at BIGINT NOT NULL, "
                  "updated_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, id)",
                  {}));
  Append(s, Table(d, "alert_channels",
                  "tenant_id {ID} NOT NULL, id {ID} NOT NULL, name {NAME} NOT NULL, "
                  "kind {ID} NOT NULL, enabled INTEGER NOT NULL, config {TEXT} NOT NULL, "
                  "failures INTEGER NOT NULL, failing_since BIGINT, created_at BIGINT NOT NULL, "
                  "updated_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, id), "
                  "CONSTRAINT uq_alert_channels_name UNIQUE (tenant_id, name)",
                  {}));
  Append(s, Table(d, "alert_notifications",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, alert_id {ID} NOT NULL, "
                  "channel_id {ID} NOT NULL, rule_id {ID} NOT NULL, state INTEGER NOT NULL, "
                  "attempts INTEGER NOT NULL, created_at BIGINT NOT NULL, "
                  "next_attempt_at BIGINT NOT NULL, sent_at BIGINT, last_error {TEXT} NOT NULL, "
                  "claimed_by {NAME}, claim_until BIGINT",
                  {{"idx_alert_notifications_due", "state, next_attempt_at"},
                   {"idx_alert_notifications_alert", "tenant_id, alert_id"},
                   {"idx_alert_notifications_rule", "tenant_id, rule_id, created_at"}}));
  Append(s, Table(d, "alert_deliveries",
                  "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, "
                  "notification_id {ID} NOT NULL, alert_id {ID} NOT NULL, "
                  "channel_id {ID} NOT NULL, attempt INTEGER NOT NULL, at BIGINT NOT NULL, "
                  "ok INTEGER NOT NULL, duration_ms BIGINT NOT NULL, detail {TEXT} NOT NULL",
                  {{"idx_alert_deliveries_alert", "tenant_id, alert_id, at"}}));
  return s;
}

// Activation rules (issue #18, docs/deployment.md): one ordered list per tenant, kept as the JSON
// document the API was given.
std::vector<std::string> VActivationRules(Dialect d) {
  return Table(d, "activation_rules",
               "tenant_id {ID} NOT NULL PRIMARY KEY, document {TEXT} NOT NULL, "
               "updated_at BIGINT NOT NULL",
               {});
}

// Path rollups for integrity only (docs/manager-store.md, "Event rollups"): the rows other
// modules' paths had are dropped; their top paths are counted from the events.
std::vector<std::string> VRollupPathsIntegrity(Dialect) {
  return {"DELETE FROM event_rollup_values WHERE field = 2 AND module <> 'integrity'"};
}

// The IPS tuning view's side table (issue #14, s8-console; docs/manager-store.md, "IPS
// matches"): one row per tunable rule match of every IPS detected/blocked event (ord 0 with
// rule_id '' for an event with none), written by the store in the events' own transaction and
// deleted with them. The rows of the events already stored are written by the store right after
// this migration, under the migration lock, while `ips_matches_backfill` has its row (the
// extraction is C++, manager/store/ips_matches.h, shared with ingestion: no JSON functions in
// three SQL dialects that could count differently).
std::vector<std::string> VIpsMatches(Dialect d) {
  std::string str = d == Dialect::kPostgres ? "TEXT COLLATE \"C\""
                    : d == Dialect::kMysql  ? "LONGTEXT"
                                            : "TEXT";
  std::string body =
      "tenant_id {ID} NOT NULL, event_id {ID} NOT NULL, ord INTEGER NOT NULL, ts BIGINT NOT "
      "NULL, agent_id {ID} NOT NULL, blocked INTEGER NOT NULL, would_block INTEGER NOT NULL, "
      "n_matches INTEGER NOT NULL, first_of_rule INTEGER NOT NULL, rule_id STR NOT NULL, "
      "variable STR NOT NULL, client STR NOT NULL, path STR NOT NULL, url STR NOT NULL, "
      "PRIMARY KEY (tenant_id, event_id, ord)";
  for (size_t pos = 0; (pos = body.find(" STR ", pos)) != std::string::npos;) {
    body.replace(pos + 1, 3, str);
    pos += str.size();
  }
  std::vector<std::string> s;
  Append(s, Table(d, "ips_matches", body, {{"idx_ips_matches_time", "tenant_id, ts"}}));
  Append(s, Table(d, "ips_matches_backfill", "pending INTEGER NOT NULL PRIMARY KEY", {}));
  s.push_back(d == Dialect::kMysql
                  ? "INSERT IGNORE INTO ips_matches_backfill (pending) VALUES (1)"
                  : "INSERT INTO ips_matches_backfill (pending) VALUES (1) ON CONFLICT DO NOTHING");
  return s;
}

// Agent groups (issue #18, s8-upgrade; docs/deployment.md "Agent groups"): a tenant's named
// groups, optionally carrying a policy, and membership keyed by the agent (at most one group each).
std::vector<std::string> VAgentGroups(Dialect d) {
  std::vector<std::string> s;
  Append(s, Table(d, "agent_groups",
                  "tenant_id {ID} NOT NULL, id {ID} NOT NULL, name {NAME} NOT NULL, "
                  "description {TEXT} NOT NULL, policy_id {ID}, created_at BIGINT NOT NULL, "
                  "updated_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, id), "
                  "CONSTRAINT uq_agent_groups_name UNIQUE (tenant_id, name)",
                  {}));
  Append(s, Table(d, "agent_group_members",
                  "tenant_id {ID} NOT NULL, agent_id {ID} NOT NULL, group_id {ID} NOT NULL, "
                  "joined_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, agent_id)",
                  {{"idx_agent_group_members_group", "tenant_id, group_id"}}));
  return s;
}

// The report e-mail outbox (issue #19, s9-reportmail; docs/reports.md "Delivery by e-mail"): one
// row per message of a scheduled report (per language), queued in the run's transaction and
// drained by the reports job: `state` 0 pending, 1 sent, 2 failed; `message` the MIME text
// (LONGTEXT on MySQL: a report's PDF is attached, up to 8 MiB before base64).
std::vector<std::string> VReportMails(Dialect d) {
  return Table(d, "report_mails",
               "id {ID} NOT NULL PRIMARY KEY, tenant_id {ID} NOT NULL, schedule_id {ID} NOT NULL, "
               "report_id {ID} NOT NULL, language {ID} NOT NULL, mail_from {TEXT} NOT NULL, "
               "recipients {TEXT} NOT NULL, message {TEXT} NOT NULL, state INTEGER NOT NULL, "
               "attempts INTEGER NOT NULL, created_at BIGINT NOT NULL, next_attempt_at BIGINT NOT "
               "NULL, last_attempt_at BIGINT, sent_at BIGINT, last_error {TEXT} NOT NULL, "
               "claimed_by {NAME}, claim_until BIGINT",
               {{"idx_report_mails_due", "state, next_attempt_at"},
                {"idx_report_mails_report", "tenant_id, report_id"}});
}

// Agent upgrades from the manager (issue #18, s9-upgrade; docs/updates.md "Agent upgrades"): a
// target agent version per agent group or policy rolled out in two waves, and each agent's
// progress in the rollout it belongs to (keyed by the agent; `generation` is the rollout's
// created_at, so a new rollout for the same scope starts every agent afresh).
std::vector<std::string> VAgentUpgrades(Dialect d) {
  std::vector<std::string> s;
  Append(s, Table(d, "agent_upgrade_rollouts",
                  "tenant_id {ID} NOT NULL, scope {ID} NOT NULL, scope_id {ID} NOT NULL, "
                  "target_version {ID} NOT NULL, first_wave_percent INTEGER NOT NULL, "
                  "timeout_s BIGINT NOT NULL, created_at BIGINT NOT NULL, second_wave_at BIGINT, "
                  "stopped_reason {TEXT}, PRIMARY KEY (tenant_id, scope, scope_id)",
                  {}));
  Append(s, Table(d, "agent_upgrade_states",
                  "tenant_id {ID} NOT NULL, agent_id {ID} NOT NULL, scope {ID} NOT NULL, "
                  "scope_id {ID} NOT NULL, generation BIGINT NOT NULL, target_version {ID} NOT "
                  "NULL, state {ID} NOT NULL, wave INTEGER NOT NULL, offered_at BIGINT, "
                  "updated_at BIGINT NOT NULL, error {TEXT}, PRIMARY KEY (tenant_id, agent_id)",
                  {{"idx_agent_upgrade_states_scope", "tenant_id, scope, scope_id"}}));
  return s;
}

// Egress reputation feeds (issue #17, s9-feeds; docs/egress.md "Managed feeds"): a tenant's feed
// files, their text in the row (at most 32 MiB each), distributed as the tenant's "feeds" bundle.
std::vector<std::string> VEgressFeeds(Dialect d) {
  std::vector<std::string> s;
  Append(s, Table(d, "egress_feeds",
                  "tenant_id {ID} NOT NULL, id {ID} NOT NULL, name {NAME} NOT NULL, "
                  "format {NAME} NOT NULL, shared INTEGER NOT NULL, sha256 {ID} NOT NULL, "
                  "size BIGINT NOT NULL, entries BIGINT NOT NULL, content {TEXT} NOT NULL, "
                  "created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "
                  "PRIMARY KEY (tenant_id, id), "
                  "CONSTRAINT uq_egress_feeds_name UNIQUE (tenant_id, name)",
                  {}));
  return s;
}

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = {
      {"tenants, api keys, activation tokens, agents, policies, commands, audit, leases, events",
       &V1},
      {"console users and sessions", &V2},
      {"console users' time zone and TOTP second factor", &V3},
      {"policy versions, alerts", &V4},
      {"tenant-wide IP lists", &VIpLists},
      {"reports and report schedules", &VReports},
      {"event rollups for the dashboard, ingest sequence", &VConsoleRollup},
      {"SIEM forwarders and the events' commit order", &VSiemForwarders},
      {"alert rules, notification channels, outbox and delivery log", &VAlertRules},
      {"activation rules", &VActivationRules},
      {"path rollups for integrity only", &VRollupPathsIntegrity},
      {"IPS matches for the tuning view", &VIpsMatches},
      {"agent groups", &VAgentGroups},
      {"report e-mail outbox", &VReportMails},
      {"agent upgrade rollouts", &VAgentUpgrades},
      {"egress reputation feeds", &VEgressFeeds},
  };
  return kMigrations;
}

std::vector<std::string> SchemaVersionTable(Dialect d) {
  return Table(d, "schema_version",
               "version INTEGER NOT NULL PRIMARY KEY, description {TEXT} NOT NULL, applied_at "
               "BIGINT NOT NULL",
               {});
}

}  // namespace ward::manager

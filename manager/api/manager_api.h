// ManagerApi: the manager's HTTP behaviour, independent of the socket: the REST API (/api/v1,
// API keys) and the agent endpoints (/agent/v1, agent credentials, docs/agent-protocol.md).
//
// Handle() authenticates, rate-limits, routes, checks the caller's role, runs the handler (one
// file per resource under manager/api/routes/, see routes/route_table.h) and appends an audit
// entry for every mutating /api/v1 call (who, what, when, result). Every object is looked up
// within the caller's tenant, so another tenant's object answers 404.
// Every handler validates its whole input before the first write, and each write is one store
// transaction: a rejected request changes nothing.
//
// Thread-safety: Handle() may be called from many threads at once (the store is thread-safe).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "agent/modules/schemas.h"
#include "common/clock.h"
#include "manager/api/event_batch.h"
#include "manager/api/http_types.h"
#include "manager/api/session_api.h"
#include "manager/auth/auth_failures.h"
#include "manager/auth/rate_limiter.h"
#include "manager/services/packages.h"
#include "manager/store/store.h"

namespace ward::manager {

class RouteTable;
class UpdateRepository;
class FeedBundles;
struct Principal;
namespace alerting {
class AlertRuleBook;
}

struct ApiOptions {
  size_t body_limit = 10 * 1000 * 1000;        // /api/v1 bodies (decompressed); over it: 400
  size_t agent_body_limit = 16 * 1024 * 1024;  // /agent/v1 bodies (decompressed); over it: 413
  int key_rate_per_minute = 500;               // per API key; 0 = unlimited
  int tenant_rate_per_minute = 1000;           // per tenant (all its keys); 0 = unlimited
  int agent_rate_per_minute = 600;             // per agent credential; 0 = unlimited
  int max_batch_events = 1000;                 // lines per /agent/v1/events upload; over it: 413
  SessionOptions sessions;                     // console sign-in (manager/api/session_api.h)
  std::string tls_fingerprint;                 // GET /api/v1/info (for install commands)
  // The modules whose declared indexed_fields make their events searchable (EventIndex).
  std::span<const agent::ModuleSchema> event_schemas = agent::ModuleSchemas();
  // Alerts (docs/alerts.md): severe events of one (rule, host) this close together count into
  // one alert.
  std::chrono::seconds alert_window{3600};
  // Update bundles (docs/updates.md): offered in heartbeat replies, served on
  // /agent/v1/updates/*, listed and uploaded on /api/v1/updates. Null: none.
  std::shared_ptr<UpdateRepository> updates;
  size_t update_upload_limit = size_t{512} << 20;  // PUT /api/v1/updates/... bodies
  // Alert rules (issue 19): how long a node keeps a tenant's rules before reading them again
  // (changes made through this node apply at once).
  std::chrono::seconds alert_rules_ttl{5};
  // Deployment (docs/deployment.md): the agent packages served on /agent/v1/packages (null: none)
  // and the certificate's public key pin for deployment scripts (curl --pinnedpubkey).
  std::shared_ptr<const PackageCatalog> packages;
  std::string tls_pubkey_pin;
};

class ManagerApi {
 public:
  ManagerApi(Store& store, const Clock& clock, ApiOptions options);
  ~ManagerApi();

  HttpResponse Handle(const HttpRequest& req);

  // For the network front (manager/api/front_checks.cc), on a request's headers before any body
  // byte is read: the answer when the body must not be read (401 for a missing, invalid, revoked
  // or expired credential; 404/405 for what no body can change; 503 when the database is away),
  // or nullopt when the body may be read (Handle() then checks everything again).
  // /agent/v1/activate carries its token in the body: always nullopt.
  std::optional<HttpResponse> CheckBeforeBody(const HttpRequest& head);
  // One audit entry per address (primary tenant, actor "address:<a>", method AUTH, detail with
  // the counts); failures to store are logged.
  void AuditAuthFailures(const std::vector<AuthFailureSummary>& summaries);

  // Body limit that applies to a request path (the server reads at most this much).
  size_t BodyLimitFor(std::string_view path) const;
  const ApiOptions& options() const { return options_; }

  // Every route as (method, pattern): for the cross-tenant walk in tests and the OpenAPI check.
  std::vector<std::pair<std::string, std::string>> Routes() const;

 private:
  HttpResponse HandleRest(const HttpRequest& req);
  // Rate limits, routing, role check, handler and audit for an authenticated caller.
  HttpResponse HandleAuthorized(const HttpRequest& req, Principal p);
  HttpResponse HandleAgent(const HttpRequest& req);
  HttpResponse Activate(const HttpRequest& req);
  // GET/HEAD /agent/v1/packages[/FILE] (no credential: the packages are the public software).
  HttpResponse ServePackages(const HttpRequest& req);
  HttpResponse Heartbeat(const HttpRequest& req, const Agent& agent, const Tenant& tenant);
  HttpResponse IngestEvents(const HttpRequest& req, const Agent& agent);
  HttpResponse UpdateCall(const HttpRequest& req, const Agent& agent);
  void Audit(const Principal& p, const HttpRequest& req, const HttpResponse& res);

  Store& store_;
  const Clock& clock_;
  ApiOptions options_;
  EventIndex event_index_;  // from options_.event_schemas, built once
  std::unique_ptr<RouteTable> rest_;
  std::unique_ptr<ConsoleSessions> sessions_;  // /api/v1/session and cookie authentication  //
                                               // /api/v1: manager/api/routes/<resource>.cc
  RateLimiter key_limiter_;
  RateLimiter tenant_limiter_;
  RateLimiter agent_limiter_;
  std::unique_ptr<alerting::AlertRuleBook> alert_rules_;  // issue 19: evaluated at ingestion
  // Issue #17 (s9-feeds): each tenant's "feeds" bundle, beside options_.updates (null without).
  std::unique_ptr<FeedBundles> feeds_;
};

}  // namespace ward::manager

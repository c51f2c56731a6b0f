// RouteTable: the /api/v1 routes, each a pattern over the Router with the role it requires and its
// handler. Each resource adds its routes from its own file under manager/api/routes/ (the Add*
// functions below); ManagerApi authenticates the caller, routes, checks the role, runs the
// handler and appends the audit entry.
//
// A handler validates its whole input before the first write, looks every object up within the
// caller's tenant (another tenant's object answers 404), and records what it did in
// Principal::audit.
//
// Thread-safety: Add() before serving; Find()/Route() are const and safe from many threads, and
// handlers may run concurrently (the store is thread-safe).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "manager/api/http_types.h"
#include "manager/api/router.h"
#include "manager/auth/secret_box.h"
#include "manager/services/packages.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace alerting {
class AlertRuleBook;
}

// The authenticated caller of one /api/v1 request.
struct Principal {
  ApiKey key;  // for a console session: id = user id, name = user name, role = the user's
  Tenant tenant;
  std::string actor;         // "apikey:<id>" or "user:<id>" (the audit entry's actor)
  std::optional<User> user;  // set for console sessions
  nlohmann::json audit = nlohmann::json::object();  // what the handler did, for the audit entry
};

// The role a route requires.
enum class Access {
  kAny,           // every role
  kWrite,         // admin or operator
  kAdmin,         // admin
  kAudit,         // admin or auditor
  kKeys,          // admin (API key management)
  kPrimaryAdmin,  // admin of the primary tenant; other tenants get 404 for /tenants/{id}
};

using RestHandler = std::function<HttpResponse(const HttpRequest&, const PathParams&, Principal&)>;

class RouteTable {
 public:
  struct Route {
    Access access;
    RestHandler handler;
  };

  // Routes are tried in the order added: add literal routes before parameter routes at the same
  // depth.
  void Add(std::string method, std::string pattern, Access access, RestHandler handler);

  Router::Match Match(std::string_view method, std::string_view path) const {
    return router_.Route(method, path);
  }
  // REQUIRES: id from a Match() of this table.
  const Route& at(int id) const { return routes_.at(static_cast<size_t>(id)); }

  // Every (method, pattern), in order.
  std::vector<std::pair<std::string, std::string>> Routes() const { return router_.Routes(); }

 private:
  Router router_;
  std::vector<Route> routes_;
};

// What handlers reach; both outlive the table.
struct RouteDeps {
  Store& store;
  const Clock& clock;
};

// One function per resource, each in manager/api/routes/<resource>.cc; ManagerApi adds them in
// this order.
void AddTenantRoutes(RouteTable& table, RouteDeps deps);           // /tenants (primary admins)
void AddSettingsRoutes(RouteTable& table, RouteDeps deps);         // /settings (own tenant)
void AddApiKeyRoutes(RouteTable& table, RouteDeps deps);           // /apikeys
void AddActivationTokenRoutes(RouteTable& table, RouteDeps deps);  // /activation-tokens
void AddAgentRoutes(RouteTable& table, RouteDeps deps);            // /agents
void AddCommandRoutes(RouteTable& table, RouteDeps deps);          // /agents/{id}/commands
void AddPolicyRoutes(RouteTable& table, RouteDeps deps);           // /policies
void AddEventRoutes(RouteTable& table, RouteDeps deps);            // /events, /events/counts
// /events/export (streamed CSV/NDJSON), /events/top, /events/summary (routes/event_export.cc).
void AddEventExportRoutes(RouteTable& table, RouteDeps deps);
void AddAuditRoutes(RouteTable& table, RouteDeps deps);      // /audit
void AddUserRoutes(RouteTable& table, RouteDeps deps);       // /users (console users)
void AddAlertRoutes(RouteTable& table, RouteDeps deps);      // /alerts (triage)
void AddIpsTuningRoutes(RouteTable& table, RouteDeps deps);  // /ips/tuning
// /blocked-addresses, /agents/{id}/blocked-addresses (active response)
void AddBlockedAddressRoutes(RouteTable& table, RouteDeps deps);
void AddIpListRoutes(RouteTable& table, RouteDeps deps);         // /ip-lists (tenant-wide IP lists)
void AddReportRoutes(RouteTable& table, RouteDeps deps);         // /reports, /report-schedules
void AddAuditRoutes(RouteTable& table, RouteDeps deps);          // /audit
void AddUserRoutes(RouteTable& table, RouteDeps deps);           // /users (console users)
void AddAlertRoutes(RouteTable& table, RouteDeps deps);          // /alerts (triage)
void AddIpsTuningRoutes(RouteTable& table, RouteDeps deps);      // /ips/tuning
void AddSiemForwarderRoutes(RouteTable& table, RouteDeps deps);  // /siem-forwarders (issue 19)
// /info: version and the TLS certificate's fingerprint (for install commands).
void AddInfoRoutes(RouteTable& table, RouteDeps deps, std::string tls_fingerprint);
// /updates: update bundles (routes/updates.cc; docs/updates.md); `repo` may be null (503).
class UpdateRepository;
void AddUpdateRoutes(RouteTable& table, RouteDeps deps, UpdateRepository* repo);

// /alert-rules, /alert-channels, /alerts/{id}/deliveries (issue 19, routes/alert_rules.cc): rule
// changes invalidate `rules`; channel secrets are sealed with `box` (may be null).
void AddAlertingRoutes(RouteTable& table, RouteDeps deps, alerting::AlertRuleBook& rules,
                       std::shared_ptr<const SecretBox> box);

// Deployment (issue #18, docs/deployment.md): what POST /api/v1/deployment-scripts needs besides
// the store. `packages` may be null (the manager was started without --packages-dir: 409).
struct DeploymentDeps {
  std::shared_ptr<const PackageCatalog> packages;
  std::string fingerprint;  // SHA-256 of the certificate (hex), pinned by ward-agent
  std::string pubkey_pin;   // sha256//<base64> of its public key, pinned by curl
};
void AddDeploymentRoutes(RouteTable& table, RouteDeps deps, DeploymentDeps deployment);
// /activation-rules: policy assignment at activation by host facts (docs/deployment.md).
void AddActivationRuleRoutes(RouteTable& table, RouteDeps deps);
// /agent-groups: named groups of agents, each with an optional policy (issue #18, s8-upgrade).
void AddAgentGroupRoutes(RouteTable& table, RouteDeps deps);
// /agent-upgrades, /agent-groups/{id}/upgrade, /policies/{id}/upgrade (issue #18, s9-upgrade).
void AddAgentUpgradeRoutes(RouteTable& table, RouteDeps deps);
// /feeds: egress reputation feeds distributed to the tenant's agents (issue #17, s9-feeds).
void AddEgressFeedRoutes(RouteTable& table, RouteDeps deps);

// ---- helpers shared by the route files ---------------------------------------------------------

// The event filters of /events, /events/counts, /events/export, /events/top and /events/summary
// (from, to, agent, module, min_severity, action, q) into `q`; the error names the parameter.
std::optional<ApiError> ReadEventFilters(const HttpRequest& req, EventQuery& q);

inline HttpResponse Err(const ApiError& e) { return ErrorResponse(e); }
inline HttpResponse Err(const Status& s) { return ErrorResponse(FromStatus(s)); }
// 404 "no such <what>".
HttpResponse NotFoundResponse(std::string_view what);
// Store lookups that fail with kNotFound name the object; other errors map as usual.
HttpResponse LookupError(const Status& s, std::string_view what);
// An optional timestamp field already checked by CheckFields (kTimestamp); null = absent.
std::optional<TimePoint> OptTime(const nlohmann::json& obj, const char* key);
// Applies a settings object ({"event_retention_days": ..., ...}) to `s`; errors name the field
// with `prefix` ("settings.").
std::optional<ApiError> ApplySettings(const nlohmann::json& obj, std::string_view prefix,
                                      TenantSettings& s);

}  // namespace ward::manager

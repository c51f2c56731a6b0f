// Creating tenants: `ward-manager init` (the schema, the primary tenant and its first admin API
// key) and POST /api/v1/tenants share CreateTenantWithAdminKey, one store transaction.
#pragma once

#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "manager/store/store.h"

namespace ward::manager {

// A tenant just created with its first admin API key.
struct NewTenant {
  Tenant tenant;
  ApiKey admin_key;          // named "initial admin", role admin, no expiry
  std::string admin_secret;  // the key's secret: shown once, stored only as its hash
};

// Creates `t` (given its name, primary flag, disabled flag and settings; the id and created_at are
// set here) with one admin API key, both in one transaction (Store::CreateTenantWithKey): a
// failure leaves neither behind. Errors are the store's (kAlreadyExists for a taken name).
Result<NewTenant> CreateTenantWithAdminKey(Store& store, const Clock& clock, Tenant t);

struct Bootstrap {
  std::string tenant_id;
  std::string api_key_id;
  std::string api_key;  // the secret: shown once, stored only as its hash
};

// Migrates the schema and creates the primary tenant with one admin key. kFailedPrecondition when
// a primary tenant exists already. Nothing is left behind when a step fails.
Result<Bootstrap> InitPrimaryTenant(Store& store, const Clock& clock, const std::string& name);

}  // namespace ward::manager

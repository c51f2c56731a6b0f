#include "manager/services/bootstrap.h"

#include <fmt/format.h>

#include "manager/auth/secrets.h"

namespace ward::manager {

Result<Bootstrap> InitPrimaryTenant(Store& store, const Clock& clock, const std::string& name) {
  WARD_RETURN_IF_ERROR(store.Migrate().WithContext("migrate"));
  WARD_ASSIGN_OR_RETURN(auto tenants, store.ListTenants());
  for (const auto& t : tenants) {
    if (t.primary) {
      return FailedPrecondition(fmt::format(
          "already initialised (primary tenant {}); create more keys through the API", t.id));
    }
  }
  const TimePoint now = clock.Now();
  Tenant t;
  t.id = NewId();
  t.name = name;
  t.primary = true;
  t.created_at = now;
  ApiKey k;
  k.id = NewId();
  k.tenant_id = t.id;
  k.name = "initial admin";
  k.role = Role::kAdmin;
  std::string secret = NewApiKeySecret();
  k.secret_hash = HashSecret(secret);
  k.created_at = now;
  WARD_RETURN_IF_ERROR(store.CreateTenant(t).WithContext("create tenant"));
  if (Status s = store.CreateApiKey(k); !s.ok()) {
    (void)store.DeleteTenant(t.id);
    return s.WithContext("create API key");
  }
  return Bootstrap{t.id, k.id, secret};
}

}  // namespace ward::manager

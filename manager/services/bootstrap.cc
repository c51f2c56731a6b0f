#include "manager/services/bootstrap.h"

#include <fmt/format.h>

#include "manager/auth/secrets.h"

namespace ward::manager {

Result<NewTenant> CreateTenantWithAdminKey(Store& store, const Clock& clock, Tenant t) {
  NewTenant out;
  t.id = NewId();
  t.created_at = clock.Now();
  out.admin_key.id = NewId();
  out.admin_key.tenant_id = t.id;
  out.admin_key.name = "initial admin";
  out.admin_key.role = Role::kAdmin;
  out.admin_secret = NewApiKeySecret();
  out.admin_key.secret_hash = HashSecret(out.admin_secret);
  out.admin_key.created_at = t.created_at;
  out.tenant = std::move(t);
  WARD_RETURN_IF_ERROR(store.CreateTenantWithKey(out.tenant, out.admin_key));
  return out;
}

Result<Bootstrap> InitPrimaryTenant(Store& store, const Clock& clock, const std::string& name) {
  WARD_RETURN_IF_ERROR(store.Migrate().WithContext("migrate"));
  WARD_ASSIGN_OR_RETURN(auto tenants, store.ListTenants());
  for (const auto& t : tenants) {
    if (t.primary) {
      return FailedPrecondition(fmt::format(
          "already initialised (primary tenant {}); create more keys through the API", t.id));
    }
  }
  Tenant t;
  t.name = name;
  t.primary = true;
  auto created = CreateTenantWithAdminKey(store, clock, std::move(t));
  if (!created) return created.error().WithContext("create tenant");
  return Bootstrap{created->tenant.id, created->admin_key.id, created->admin_secret};
}

}  // namespace ward::manager

// API keys: stored as the SHA-256 of the secret, found by it for authentication.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kApiKeyCols =
    "id, tenant_id, name, role, secret_hash, expires_at, revoked, created_at";
constexpr const char* kApiKeySig = "sssssiii";
ApiKey ApiKeyFrom(const Row& r) {
  ApiKey k;
  k.id = r.S(0);
  k.tenant_id = r.S(1);
  k.name = r.S(2);
  k.role = StoredRole(r.S(3));
  k.secret_hash = r.S(4);
  if (auto e = r.OptI(5)) k.expires_at = FromMicros(*e);
  k.revoked = r.I(6) != 0;
  k.created_at = FromMicros(r.I(7));
  return k;
}

}  // namespace

Status SociStore::CreateApiKey(const ApiKey& k) {
  WARD_RETURN_IF_ERROR(CheckApiKey(k));
  return RunStatus("create api key", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, k.tenant_id, false).status());
    return InsertApiKey(sql, k);
  });
}

Result<ApiKey> SociStore::FindApiKeyByHash(const std::string& secret_hash) {
  return Run("find api key", false, [&](soci::session& sql) -> Result<ApiKey> {
    Params p;
    std::optional<ApiKey> out;
    Select(sql,
           fmt::format("SELECT {} FROM api_keys WHERE secret_hash = {}", kApiKeyCols,
                       p.S(secret_hash)),
           p, kApiKeySig, [&](const Row& r) { out = ApiKeyFrom(r); });
    if (!out) return NotFound("no such api key");
    return *out;
  });
}

Result<ApiKey> SociStore::GetApiKey(const std::string& tenant_id, const std::string& id) {
  return Run("get api key", false, [&](soci::session& sql) -> Result<ApiKey> {
    Params p;
    std::optional<ApiKey> out;
    Select(sql,
           fmt::format("SELECT {} FROM api_keys WHERE tenant_id = {} AND id = {}", kApiKeyCols,
                       p.S(tenant_id), p.S(id)),
           p, kApiKeySig, [&](const Row& r) { out = ApiKeyFrom(r); });
    if (!out) return NotFound("no such api key");
    return *out;
  });
}

Result<std::vector<ApiKey>> SociStore::ListApiKeys(const std::string& tenant_id) {
  return Run("list api keys", false, [&](soci::session& sql) -> Result<std::vector<ApiKey>> {
    Params p;
    std::vector<ApiKey> out;
    Select(sql,
           fmt::format("SELECT {} FROM api_keys WHERE tenant_id = {} ORDER BY created_at, id",
                       kApiKeyCols, p.S(tenant_id)),
           p, kApiKeySig, [&](const Row& r) { out.push_back(ApiKeyFrom(r)); });
    return out;
  });
}

Status SociStore::RevokeApiKey(const std::string& tenant_id, const std::string& id) {
  return RunStatus("revoke api key", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "api_keys", tenant_id, id, "api key"));
    Params p;
    Exec(sql,
         fmt::format("UPDATE api_keys SET revoked = 1 WHERE tenant_id = {} AND id = {}",
                     p.S(tenant_id), p.S(id)),
         p);
    return Status::Ok();
  });
}

Status SociStore::CheckApiKey(const ApiKey& k) {
  WARD_RETURN_IF_ERROR(CheckId("api_key.id", k.id));
  WARD_RETURN_IF_ERROR(CheckLen("api_key.name", k.name, kNameMax));
  return CheckId("api_key.secret_hash", k.secret_hash);
}

// REQUIRES: the tenant exists (in this transaction).
Status SociStore::InsertApiKey(soci::session& sql, const ApiKey& k) {
  Params p;
  std::optional<long long> exp;
  if (k.expires_at) exp = Micros(*k.expires_at);
  std::string q =
      fmt::format("INSERT INTO api_keys ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {})", kApiKeyCols,
                  p.S(k.id), p.S(k.tenant_id), p.S(k.name), p.S(std::string(RoleName(k.role))),
                  p.S(k.secret_hash), p.OptI(exp), p.I(k.revoked), p.I(Micros(k.created_at)));
  Exec(sql, q, p);
  return Status::Ok();
}

}  // namespace ward::manager::soci_backend

// Activation tokens: created, used (atomically counted), listed, revoked.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kTokenCols =
    "id, tenant_id, name, token_hash, policy_id, expires_at, max_uses, uses, revoked, created_at";
constexpr const char* kTokenSig = "sssssiiiii";
ActivationToken TokenFrom(const Row& r) {
  ActivationToken t;
  t.id = r.S(0);
  t.tenant_id = r.S(1);
  t.name = r.S(2);
  t.token_hash = r.S(3);
  t.policy_id = r.OptS(4);
  if (auto e = r.OptI(5)) t.expires_at = FromMicros(*e);
  if (auto m = r.OptI(6)) t.max_uses = static_cast<int>(*m);
  t.uses = static_cast<int>(r.I(7));
  t.revoked = r.I(8) != 0;
  t.created_at = FromMicros(r.I(9));
  return t;
}

}  // namespace

Status SociStore::CreateActivationToken(const ActivationToken& t) {
  WARD_RETURN_IF_ERROR(CheckId("activation_token.id", t.id));
  WARD_RETURN_IF_ERROR(CheckLen("activation_token.name", t.name, kNameMax));
  WARD_RETURN_IF_ERROR(CheckId("activation_token.token_hash", t.token_hash));
  return RunStatus("create activation token", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, t.tenant_id, false).status());
    if (t.policy_id) {
      WARD_RETURN_IF_ERROR(RequireRow(sql, "policies", t.tenant_id, *t.policy_id, "policy"));
    }
    Params p;
    std::optional<long long> exp, max;
    if (t.expires_at) exp = Micros(*t.expires_at);
    if (t.max_uses) max = *t.max_uses;
    std::string q = fmt::format(
        "INSERT INTO activation_tokens ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        kTokenCols, p.S(t.id), p.S(t.tenant_id), p.S(t.name), p.S(t.token_hash),
        p.OptS(t.policy_id), p.OptI(exp), p.OptI(max), p.I(t.uses), p.I(t.revoked),
        p.I(Micros(t.created_at)));
    Exec(sql, q, p);
    return Status::Ok();
  });
}

Result<ActivationToken> SociStore::UseActivationToken(const std::string& token_hash,
                                                      TimePoint now) {
  return Run("use activation token", true, [&](soci::session& sql) -> Result<ActivationToken> {
    Params p;
    std::optional<ActivationToken> tok;
    Select(sql,
           fmt::format("SELECT {} FROM activation_tokens WHERE token_hash = {}{}", kTokenCols,
                       p.S(token_hash), ForUpdate()),
           p, kTokenSig, [&](const Row& r) { tok = TokenFrom(r); });
    if (!tok) return Unauthenticated("unknown activation token");
    if (tok->revoked) return Unauthenticated("activation token revoked");
    if (tok->expires_at && *tok->expires_at <= now) {
      return Unauthenticated("activation token expired");
    }
    if (tok->max_uses && tok->uses >= *tok->max_uses) {
      return Unauthenticated("activation token used up");
    }
    Params u;
    long long n = Exec(
        sql,
        fmt::format("UPDATE activation_tokens SET uses = uses + 1 WHERE id = {} AND revoked = 0 "
                    "AND (max_uses IS NULL OR uses < max_uses)",
                    u.S(tok->id)),
        u);
    if (n != 1) return Unauthenticated("activation token used up");
    tok->uses += 1;
    return *tok;
  });
}

Result<std::vector<ActivationToken>> SociStore::ListActivationTokens(const std::string& tenant_id) {
  return Run("list activation tokens", false,
             [&](soci::session& sql) -> Result<std::vector<ActivationToken>> {
               Params p;
               std::vector<ActivationToken> out;
               Select(sql,
                      fmt::format("SELECT {} FROM activation_tokens WHERE tenant_id = {} ORDER "
                                  "BY created_at, id",
                                  kTokenCols, p.S(tenant_id)),
                      p, kTokenSig, [&](const Row& r) { out.push_back(TokenFrom(r)); });
               return out;
             });
}

Result<ActivationToken> SociStore::GetActivationToken(const std::string& tenant_id,
                                                      const std::string& id) {
  return Run("get activation token", false, [&](soci::session& sql) -> Result<ActivationToken> {
    Params p;
    std::optional<ActivationToken> out;
    Select(sql,
           fmt::format("SELECT {} FROM activation_tokens WHERE tenant_id = {} AND id = {}",
                       kTokenCols, p.S(tenant_id), p.S(id)),
           p, kTokenSig, [&](const Row& r) { out = TokenFrom(r); });
    if (!out) return NotFound("no such activation token");
    return *out;
  });
}

Status SociStore::RevokeActivationToken(const std::string& tenant_id, const std::string& id) {
  return RunStatus("revoke activation token", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "activation_tokens", tenant_id, id, "activation token"));
    Params p;
    Exec(sql,
         fmt::format("UPDATE activation_tokens SET revoked = 1 WHERE tenant_id = {} AND id = {}",
                     p.S(tenant_id), p.S(id)),
         p);
    return Status::Ok();
  });
}

Status SociStore::SetActivationTokenPolicy(const std::string& tenant_id, const std::string& id,
                                           const std::optional<std::string>& policy_id) {
  return RunStatus("set activation token policy", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "activation_tokens", tenant_id, id, "activation token"));
    if (policy_id)
      WARD_RETURN_IF_ERROR(RequireRow(sql, "policies", tenant_id, *policy_id, "policy"));
    Params p;
    Exec(sql,
         fmt::format("UPDATE activation_tokens SET policy_id = {} WHERE tenant_id = {} AND id = {}",
                     p.OptS(policy_id), p.S(tenant_id), p.S(id)),
         p);
    return Status::Ok();
  });
}

}  // namespace ward::manager::soci_backend

// Console users and their sessions (issue 14, docs/console.md): user names unique across the
// manager, sessions found by the SHA-256 of their cookie secret.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kUserCols =
    "id, tenant_id, username, role, password_hash, language, created_at, time_zone, totp_secret, "
    "totp_enabled, totp_last_step";
constexpr const char* kUserSig = "ssssssissii";
User UserFrom(const Row& r) {
  User u;
  u.id = r.S(0);
  u.tenant_id = r.S(1);
  u.username = r.S(2);
  u.role = StoredRole(r.S(3));
  u.password_hash = r.S(4);
  u.language = r.S(5);
  u.created_at = FromMicros(r.I(6));
  u.time_zone = r.S(7);
  u.totp_secret = r.S(8);
  u.totp_enabled = r.I(9) != 0;
  u.totp_last_step = r.I(10);
  return u;
}

constexpr const char* kSessionCols =
    "id, token_hash, tenant_id, user_id, created_at, last_seen, expires_at";
constexpr const char* kSessionSig = "ssssiii";
UserSession SessionFrom(const Row& r) {
  UserSession s;
  s.id = r.S(0);
  s.token_hash = r.S(1);
  s.tenant_id = r.S(2);
  s.user_id = r.S(3);
  s.created_at = FromMicros(r.I(4));
  s.last_seen = FromMicros(r.I(5));
  s.expires_at = FromMicros(r.I(6));
  return s;
}

}  // namespace

Status SociStore::CreateUser(const User& u) {
  WARD_RETURN_IF_ERROR(CheckId("user.id", u.id));
  WARD_RETURN_IF_ERROR(CheckLen("user.username", u.username, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen("user.password_hash", u.password_hash, kNameMax));
  WARD_RETURN_IF_ERROR(CheckId("user.language", u.language));
  WARD_RETURN_IF_ERROR(CheckLen("user.time_zone", u.time_zone, kIdMax));
  WARD_RETURN_IF_ERROR(CheckLen("user.totp_secret", u.totp_secret, kNameMax));
  return RunStatus("create user", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, u.tenant_id, false).status());
    Params c;
    if (SelectInt(sql,
                  fmt::format("SELECT COUNT(*) FROM users WHERE username = {}", c.S(u.username)), c,
                  0) > 0) {
      return AlreadyExists("user name taken");
    }
    Params p;
    Exec(sql,
         fmt::format("INSERT INTO users ({}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                     kUserCols, p.S(u.id), p.S(u.tenant_id), p.S(u.username),
                     p.S(std::string(RoleName(u.role))), p.S(u.password_hash), p.S(u.language),
                     p.I(Micros(u.created_at)), p.S(u.time_zone), p.S(u.totp_secret),
                     p.I(u.totp_enabled ? 1 : 0), p.I(u.totp_last_step)),
         p);
    return Status::Ok();
  });
}

Result<User> SociStore::GetUser(const std::string& tenant_id, const std::string& id) {
  return Run("get user", false, [&](soci::session& sql) -> Result<User> {
    Params p;
    std::optional<User> out;
    Select(sql,
           fmt::format("SELECT {} FROM users WHERE tenant_id = {} AND id = {}", kUserCols,
                       p.S(tenant_id), p.S(id)),
           p, kUserSig, [&](const Row& r) { out = UserFrom(r); });
    if (!out) return NotFound("no such user");
    return *out;
  });
}

Result<User> SociStore::FindUserByName(const std::string& username) {
  return Run("find user", false, [&](soci::session& sql) -> Result<User> {
    Params p;
    std::optional<User> out;
    Select(sql, fmt::format("SELECT {} FROM users WHERE username = {}", kUserCols, p.S(username)),
           p, kUserSig, [&](const Row& r) { out = UserFrom(r); });
    if (!out) return NotFound("no such user");
    return *out;
  });
}

Result<std::vector<User>> SociStore::ListUsers(const std::string& tenant_id) {
  return Run("list users", false, [&](soci::session& sql) -> Result<std::vector<User>> {
    Params p;
    std::vector<User> out;
    Select(sql,
           fmt::format("SELECT {} FROM users WHERE tenant_id = {} ORDER BY created_at, id",
                       kUserCols, p.S(tenant_id)),
           p, kUserSig, [&](const Row& r) { out.push_back(UserFrom(r)); });
    return out;
  });
}

Status SociStore::UpdateUser(const User& u) {
  WARD_RETURN_IF_ERROR(CheckLen("user.password_hash", u.password_hash, kNameMax));
  WARD_RETURN_IF_ERROR(CheckId("user.language", u.language));
  WARD_RETURN_IF_ERROR(CheckLen("user.time_zone", u.time_zone, kIdMax));
  WARD_RETURN_IF_ERROR(CheckLen("user.totp_secret", u.totp_secret, kNameMax));
  return RunStatus("update user", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "users", u.tenant_id, u.id, "user"));
    Params p;
    Exec(sql,
         fmt::format("UPDATE users SET role = {}, password_hash = {}, language = {}, time_zone = "
                     "{}, totp_secret = {}, totp_enabled = {} WHERE tenant_id = {} AND id = {}",
                     p.S(std::string(RoleName(u.role))), p.S(u.password_hash), p.S(u.language),
                     p.S(u.time_zone), p.S(u.totp_secret), p.I(u.totp_enabled ? 1 : 0),
                     p.S(u.tenant_id), p.S(u.id)),
         p);
    return Status::Ok();
  });
}

Status SociStore::DeleteUser(const std::string& tenant_id, const std::string& id) {
  return RunStatus("delete user", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "users", tenant_id, id, "user"));
    Params s;
    Exec(sql,
         fmt::format("DELETE FROM sessions WHERE tenant_id = {} AND user_id = {}", s.S(tenant_id),
                     s.S(id)),
         s);
    Params p;
    Exec(sql,
         fmt::format("DELETE FROM users WHERE tenant_id = {} AND id = {}", p.S(tenant_id), p.S(id)),
         p);
    return Status::Ok();
  });
}

Status SociStore::UseTotpStep(const std::string& tenant_id, const std::string& user_id,
                              int64_t step) {
  return RunStatus("use totp step", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "users", tenant_id, user_id, "user"));
    // One conditional UPDATE: of two nodes accepting the same code at once, one changes the row.
    Params p;
    const long long changed = Exec(
        sql,
        fmt::format("UPDATE users SET totp_last_step = {} WHERE tenant_id = {} AND id = {} AND "
                    "totp_last_step < {}",
                    p.I(step), p.S(tenant_id), p.S(user_id), p.I(step)),
        p);
    if (changed == 0) return FailedPrecondition("TOTP code already used");
    return Status::Ok();
  });
}

Status SociStore::CreateSession(const UserSession& s) {
  WARD_RETURN_IF_ERROR(CheckId("session.id", s.id));
  WARD_RETURN_IF_ERROR(CheckId("session.token_hash", s.token_hash));
  return RunStatus("create session", true, [&](soci::session& sql) -> Status {
    WARD_RETURN_IF_ERROR(RequireRow(sql, "users", s.tenant_id, s.user_id, "user"));
    Params p;
    Exec(
        sql,
        fmt::format("INSERT INTO sessions ({}) VALUES ({}, {}, {}, {}, {}, {}, {})", kSessionCols,
                    p.S(s.id), p.S(s.token_hash), p.S(s.tenant_id), p.S(s.user_id),
                    p.I(Micros(s.created_at)), p.I(Micros(s.last_seen)), p.I(Micros(s.expires_at))),
        p);
    return Status::Ok();
  });
}

Result<UserSession> SociStore::FindSessionByHash(const std::string& token_hash) {
  return Run("find session", false, [&](soci::session& sql) -> Result<UserSession> {
    Params p;
    std::optional<UserSession> out;
    Select(
        sql,
        fmt::format("SELECT {} FROM sessions WHERE token_hash = {}", kSessionCols, p.S(token_hash)),
        p, kSessionSig, [&](const Row& r) { out = SessionFrom(r); });
    if (!out) return NotFound("no such session");
    return *out;
  });
}

Status SociStore::TouchSession(const std::string& id, TimePoint last_seen) {
  return RunStatus("touch session", true, [&](soci::session& sql) -> Status {
    Params p;
    Exec(sql,
         fmt::format("UPDATE sessions SET last_seen = {} WHERE id = {}", p.I(Micros(last_seen)),
                     p.S(id)),
         p);
    return Status::Ok();
  });
}

Status SociStore::DeleteSession(const std::string& id) {
  return RunStatus("delete session", true, [&](soci::session& sql) -> Status {
    Params p;
    Exec(sql, fmt::format("DELETE FROM sessions WHERE id = {}", p.S(id)), p);
    return Status::Ok();
  });
}

Result<int64_t> SociStore::DeleteExpiredSessions(TimePoint now, TimePoint idle_cutoff) {
  return Run("delete expired sessions", true, [&](soci::session& sql) -> Result<int64_t> {
    Params c;
    std::string where = fmt::format("expires_at <= {} OR last_seen < {}", c.I(Micros(now)),
                                    c.I(Micros(idle_cutoff)));
    int64_t n = SelectInt(sql, "SELECT COUNT(*) FROM sessions WHERE " + where, c, 0);
    Params p;
    Exec(sql,
         fmt::format("DELETE FROM sessions WHERE expires_at <= {} OR last_seen < {}",
                     p.I(Micros(now)), p.I(Micros(idle_cutoff))),
         p);
    return n;
  });
}

}  // namespace ward::manager::soci_backend

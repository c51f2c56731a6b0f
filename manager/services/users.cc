#include "manager/services/users.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "manager/auth/passwords.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

Result<User> CreateUserWithPassword(Store& store, const Clock& clock, const std::string& tenant_id,
                                    const std::string& username, Role role,
                                    const std::string& password) {
  User u;
  u.id = NewId();
  u.tenant_id = tenant_id;
  u.username = username;
  u.role = role;
  WARD_ASSIGN_OR_RETURN(u.password_hash, HashPassword(password));
  u.created_at = clock.Now();
  WARD_RETURN_IF_ERROR(store.CreateUser(u));
  return u;
}

Result<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(fmt::format("{}: cannot be read", path));
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() < kMinPasswordLength || line.size() > kMaxPasswordLength) {
    return InvalidArgument(fmt::format("{}: the password must be {}..{} bytes", path,
                                       kMinPasswordLength, kMaxPasswordLength));
  }
  return line;
}

}  // namespace ward::manager

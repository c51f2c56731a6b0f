// Creating a console user outside the API: `ward-manager init` makes the primary tenant's first
// admin user with it (a generated password printed once, or one read from a file).
#pragma once

#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "manager/store/store.h"

namespace ward::manager {

// Hashes `password` (Argon2id) and stores the user. kAlreadyExists when the name is taken.
Result<User> CreateUserWithPassword(Store& store, const Clock& clock, const std::string& tenant_id,
                                    const std::string& username, Role role,
                                    const std::string& password);

// Reads a password from a file (the first line, without its line end): 12..1024 bytes.
Result<std::string> ReadPasswordFile(const std::string& path);

}  // namespace ward::manager

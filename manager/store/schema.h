// The store's schema as versioned migrations, written once and rendered per SQL dialect.
// Version N is Migrations()[N - 1]; a migration is never edited once released, only appended.
// Thread-safety: immutable data.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "manager/store/store_url.h"

namespace ward::manager {

struct Migration {
  std::string description;
  std::function<std::vector<std::string>(Dialect)> statements;
};

const std::vector<Migration>& Migrations();

// CREATE TABLE IF NOT EXISTS schema_version ...
std::vector<std::string> SchemaVersionTable(Dialect d);

}  // namespace ward::manager

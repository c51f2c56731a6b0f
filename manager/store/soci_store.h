// SociStore: the one Store implementation, over SOCI 4 with its SQLite 3, PostgreSQL and MySQL
// backends linked in (no backend plugins are loaded at run time). The SQL differs per dialect only
// where it must (types, insert-or-ignore, integer division, substring search, partitions); see
// docs/manager-store.md for the schema, the migrations and the per-backend differences.
//
// Store::Open(url) is the entry point; these functions exist for tools and tests.
// Thread-safety: a store is safe to use from many threads (a pool of `pool=N` sessions; SQLite
// writes are serialised in-process and use BEGIN IMMEDIATE across processes).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "manager/store/store.h"
#include "manager/store/store_url.h"

namespace ward::manager {

// Opens a store and checks that one connection can be made (kUnavailable when it cannot,
// kInvalidArgument for a malformed URL, kPermissionDenied for rejected credentials).
Result<std::unique_ptr<Store>> OpenSociStore(const StoreUrl& url);

// Runs statements one by one on a fresh connection to `url` (no transaction): for tools and tests
// that create or drop databases. Errors as for OpenSociStore, or kInternal naming the statement.
Status RunAdminSql(const std::string& url, const std::vector<std::string>& statements);

}  // namespace ward::manager

// Linked into the API/agent test binaries that run on PostgreSQL or MariaDB instead of SQLite:
// sets WARD_MANAGER_TEST_DIALECT (read by ManagerHarness) before any test runs.
#include <cstdlib>

#ifndef WARD_MANAGER_TEST_DIALECT
#error "define WARD_MANAGER_TEST_DIALECT (postgres or mysql)"
#endif

namespace {
const bool kDialectSet =
    (::setenv("WARD_MANAGER_TEST_DIALECT", WARD_MANAGER_TEST_DIALECT, 1), true);
}  // namespace

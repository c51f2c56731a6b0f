# Manager server tests over real HTTPS. See tests/manager_harness.h.
pkg_check_modules(WARD_MGR_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(WARD_MGR_ZLIB REQUIRED IMPORTED_TARGET zlib)
ward_library(manager_harness SOURCES manager_harness.cc
  DEPS ward::manager_server ward::manager_store ward::manager_store_testing ward::testing
       GTest::gtest PkgConfig::WARD_MGR_HTTPLIB
  PRIVATE_DEPS PkgConfig::WARD_MGR_ZLIB)

ward_test(manager_api_test
  SOURCES manager_api_test.cc
  DEPS ward::manager_harness PkgConfig::OPENSSL
  LABELS integration)

ward_test(manager_agent_test
  SOURCES manager_agent_test.cc
  DEPS ward::manager_harness
  LABELS integration)

# The network front under hostile connections (issue #13): raw TLS sockets.
ward_test(manager_front_test
  SOURCES manager_front_test.cc
  DEPS ward::manager_server ward::manager_store ward::testing PkgConfig::OPENSSL
  LABELS integration)

ward_test(manager_jobs_test
  SOURCES ${PROJECT_SOURCE_DIR}/manager/jobs/jobs_test.cc
  DEPS ward::manager_server ward::manager_store ward::testing)

# The real ward-manager binary; the two-node tests need the PostgreSQL and MariaDB fixtures.
ward_database_test(manager_process_test
  SOURCES manager_process_test.cc
  DEPS ward::manager_harness ward::manager_store_testing
  LABELS integration)
add_dependencies(manager_process_test ward-manager)
target_compile_definitions(manager_process_test
  PRIVATE WARD_MANAGER_BINARY="$<TARGET_FILE:ward-manager>")

# The same suite on PostgreSQL and MariaDB: one executable per dialect over scratch databases on
# the test servers of tests/databases.cmake. Same test names as the SQLite run, so the tests get a
# prefix ("postgres.ManagerApi...").
function(ward_manager_dialect_tests name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  foreach(dialect postgres mysql)
    ward_database_test(${name}_${dialect}_test
      SOURCES ${ARG_SOURCES} manager_on_database.cc
      DEPS ${ARG_DEPS}
      PREFIX "${dialect}.")
    target_compile_definitions(${name}_${dialect}_test
      PRIVATE WARD_MANAGER_TEST_DIALECT="${dialect}")
  endforeach()
endfunction()

# The same API and agent suites on PostgreSQL and MariaDB.
ward_manager_dialect_tests(manager_api
  SOURCES manager_api_test.cc manager_agent_test.cc
  DEPS ward::manager_harness PkgConfig::OPENSSL)

# The web console's server side: embedded files, users, sessions, CSRF, throttling, init (issue #14).
ward_test(manager_console_test
  SOURCES manager_console_test.cc
  DEPS ward::manager_harness ward::testing_shell PkgConfig::WARD_MGR_HTTPLIB
  LABELS integration)
add_dependencies(manager_console_test ward-manager)
target_compile_definitions(manager_console_test
  PRIVATE WARD_MANAGER_BINARY="$<TARGET_FILE:ward-manager>")

# Console accounts (issue 14, helper c1): TOTP, time zone, tenants with a first admin user, audit
# filters, over real HTTPS.
ward_test(manager_account_test
  SOURCES manager_account_test.cc
  DEPS ward::manager_harness PkgConfig::WARD_MGR_HTTPLIB
  LABELS integration)
# The same account suite on PostgreSQL and MariaDB ("postgres.ManagerAccount...").
ward_manager_dialect_tests(manager_account
  SOURCES manager_account_test.cc
  DEPS ward::manager_harness PkgConfig::WARD_MGR_HTTPLIB)
# Policy versions, policy text (YAML/JSON with lines) and alerts over the REST API (issue 14, c3).
ward_test(manager_c3_api_test
  SOURCES manager_c3_api_test.cc
  DEPS ward::manager_harness
  LABELS integration)
# The events data of the console (issue #14, c2): streamed export, top values, summary.
ward_test(manager_events_data_test
  SOURCES manager_events_data_test.cc
  DEPS ward::manager_harness PkgConfig::WARD_MGR_HTTPLIB PkgConfig::FMT
  LABELS integration)
# Issue 14's remaining console features over the REST API (session 6, helper c1): a policy
# assigned to an activation token, alerts naming the user.
ward_test(manager_console_api_test
  SOURCES manager_console_api_test.cc
  DEPS ward::manager_harness ward::testing_shell PkgConfig::WARD_MGR_HTTPLIB
  LABELS integration)
add_dependencies(manager_console_api_test ward-manager)
target_compile_definitions(manager_console_api_test
  PRIVATE WARD_MANAGER_BINARY="$<TARGET_FILE:ward-manager>")

# Reports API and scheduled reports (issue #19, s7-reports; docs/reports.md).
ward_test(manager_reports_api_test
  SOURCES manager_reports_api_test.cc
  DEPS ward::manager_harness ward::manager_reports
  LABELS integration)
# Fleet lifecycle, agent packages and deployment scripts (issue #18).
ward_test(manager_deploy_test
  SOURCES manager_deploy_test.cc
  DEPS ward::manager_harness
  LABELS integration)
# A policy's egress proposals from learn mode (issue #17, s8-pages; docs/api.md).
ward_test(manager_egress_proposals_test
  SOURCES manager_egress_proposals_test.cc
  DEPS ward::manager_harness
  LABELS integration)

# Agent groups (issue #18, s8-upgrade): CRUD, membership, group policy, activation rules.
ward_test(manager_groups_test
  SOURCES manager_groups_test.cc
  DEPS ward::manager_harness
  LABELS integration)

# Agent upgrades from the manager (issue #18, s9-upgrade): rollouts in waves, signed offers.
ward_test(manager_upgrades_test
  SOURCES manager_upgrades_test.cc
  DEPS ward::manager_harness ward::update_bundle
  LABELS integration)

# Egress reputation feeds: upload, tenancy, each tenant's signed feeds bundle (issue #17, s9-feeds).
ward_test(manager_feeds_test
  SOURCES manager_feeds_test.cc
  DEPS ward::manager_harness ward::update_bundle
  LABELS integration)

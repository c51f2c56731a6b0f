# Manager server tests over real HTTPS (branch mapi). See tests/manager_harness.h.
if(TARGET ward_manager_store AND TARGET ward_manager_server)
  pkg_check_modules(WARD_MGR_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
  pkg_check_modules(WARD_MGR_ZLIB REQUIRED IMPORTED_TARGET zlib)
  ward_library(manager_harness SOURCES manager_harness.cc
    DEPS ward::manager_server ward::manager_store ward::testing GTest::gtest
    PRIVATE_DEPS PkgConfig::WARD_MGR_HTTPLIB PkgConfig::WARD_MGR_ZLIB)

  ward_test(manager_api_test
    SOURCES manager_api_test.cc
    DEPS ward::manager_harness
    LABELS integration)

  ward_test(manager_agent_test
    SOURCES manager_agent_test.cc
    DEPS ward::manager_harness
    LABELS integration)

  ward_test(manager_jobs_test
    SOURCES ${PROJECT_SOURCE_DIR}/manager/jobs/jobs_test.cc
    DEPS ward::manager_server ward::manager_store ward::testing)
endif()

# The real ward-manager binary; the two-node tests need the PostgreSQL and MariaDB fixtures.
if(TARGET ward-manager AND COMMAND ward_database_test)
  ward_database_test(manager_process_test
    SOURCES manager_process_test.cc
    DEPS ward::manager_harness ward::manager_store_testing
    LABELS integration)
  add_dependencies(manager_process_test ward-manager)
endif()

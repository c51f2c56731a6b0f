# Real PostgreSQL 15 and MariaDB servers for tests, started once per ctest run.
#
# Tests that need them: FIXTURES_REQUIRED ward_databases and ENVIRONMENT from the global property
# WARD_TEST_DATABASE_ENV (WARD_TEST_POSTGRES_URL, WARD_TEST_MYSQL_URL). manager/CMakeLists.txt's
# ward_database_test() does both, from any directory; for a plain add_test, set both properties. The servers' files live in <build>/test-databases; the ports are derived from the
# build directory (so two build trees on one machine do not collide; below the ephemeral range
# 32768+ so an outgoing connection cannot be holding them) unless WARD_TEST_PG_PORT /
# WARD_TEST_MYSQL_PORT are set at configure time. A server that cannot start fails the setup
# test, and with it every test that requires the fixture.
include_guard(GLOBAL)

string(SHA256 _ward_db_hash "${PROJECT_BINARY_DIR}")
string(SUBSTRING "${_ward_db_hash}" 0 4 _ward_db_hex)
math(EXPR _ward_db_offset "0x${_ward_db_hex} % 4000")
math(EXPR _ward_pg_default "20000 + ${_ward_db_offset}")
math(EXPR _ward_my_default "24000 + ${_ward_db_offset}")
if(NOT WARD_TEST_PG_PORT)
  set(WARD_TEST_PG_PORT ${_ward_pg_default})
endif()
if(NOT WARD_TEST_MYSQL_PORT)
  set(WARD_TEST_MYSQL_PORT ${_ward_my_default})
endif()
set(WARD_TEST_DATABASE_DIR ${PROJECT_BINARY_DIR}/test-databases)
set(WARD_TEST_DATABASE_ENV
    "WARD_TEST_POSTGRES_URL=postgresql://ward:ward-test@127.0.0.1:${WARD_TEST_PG_PORT}/ward"
    "WARD_TEST_MYSQL_URL=mysql://ward:ward-test@127.0.0.1:${WARD_TEST_MYSQL_PORT}/ward")
# Also global, for tests declared in other directories (tests/manager.cmake):
#   get_property(env GLOBAL PROPERTY WARD_TEST_DATABASE_ENV)
set_property(GLOBAL PROPERTY WARD_TEST_DATABASE_ENV "${WARD_TEST_DATABASE_ENV}")

add_test(NAME ward_databases_start
  COMMAND ${PROJECT_SOURCE_DIR}/scripts/test-databases start ${WARD_TEST_DATABASE_DIR}
          ${WARD_TEST_PG_PORT} ${WARD_TEST_MYSQL_PORT})
set_tests_properties(ward_databases_start PROPERTIES FIXTURES_SETUP ward_databases
                                                     LABELS integration TIMEOUT 180)
add_test(NAME ward_databases_stop
  COMMAND ${PROJECT_SOURCE_DIR}/scripts/test-databases stop ${WARD_TEST_DATABASE_DIR}
          ${WARD_TEST_PG_PORT} ${WARD_TEST_MYSQL_PORT})
set_tests_properties(ward_databases_stop PROPERTIES FIXTURES_CLEANUP ward_databases
                                                    LABELS integration TIMEOUT 120)

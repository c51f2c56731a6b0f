# Transport (agent <-> manager) tests: real TLS servers, a real Squid, the real ward-agent.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
ward_library(transport_fixture SOURCES transport_fixture.cc squid_fixture.cc
  DEPS PkgConfig::NLOHMANN GTest::gtest PkgConfig::HTTPLIB PkgConfig::OPENSSL)

ward_test(transport_client_test
  SOURCES transport_client_test.cc
  DEPS ward::transport ward::transport_fixture ward::testing
  LABELS integration)

ward_test(transport_agent_test
  SOURCES transport_agent_test.cc
  DEPS ward::agent_harness ward::transport ward::transport_fixture ward::module_schemas
       ward::testing
  LABELS integration)
add_dependencies(transport_agent_test ward-agent)
target_compile_definitions(transport_agent_test
  PRIVATE WARD_AM_TESTDATA="${PROJECT_SOURCE_DIR}/agent/modules/antimalware/testdata")

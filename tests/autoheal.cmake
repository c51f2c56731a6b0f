ward_test(autoheal_e2e_test
  SOURCES autoheal_test.cc
  DEPS ward::agent_harness ward::common ward::testing ward::testing_shell PkgConfig::FMT
  LABELS integration)
add_dependencies(autoheal_e2e_test ward-agent)
# So the binary also finds ward-agent when run by hand (ctest sets WARD_BINARY_DIR itself).
target_compile_definitions(autoheal_e2e_test PRIVATE WARD_TEST_BINARY_DIR="${PROJECT_BINARY_DIR}")

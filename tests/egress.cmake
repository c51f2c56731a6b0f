# The egress module in the real ward-agent, in network namespaces (docs/egress.md): kill -9 with
# fail-open and fail-closed.
ward_test(egress_agent_test
  SOURCES egress_agent_test.cc
  DEPS ward::agent_harness ward::egress_core ward::common ward::testing ward::testing_shell
       PkgConfig::FMT
  LABELS integration)
add_dependencies(egress_agent_test ward-agent)
# Managed feeds end to end: the real ward-manager and ward-agent in a network namespace
# (issue #17, s9-feeds).
ward_test(egress_feeds_e2e_test
  SOURCES egress_feeds_e2e_test.cc
  DEPS ward::agent_harness ward::egress_core ward::common ward::testing ward::testing_shell
       PkgConfig::FMT
  LABELS integration)
add_dependencies(egress_feeds_e2e_test ward-agent ward-manager)
target_compile_definitions(egress_feeds_e2e_test
  PRIVATE WARD_MANAGER_BINARY="$<TARGET_FILE:ward-manager>")

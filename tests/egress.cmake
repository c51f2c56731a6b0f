# The egress module in the real ward-agent, in network namespaces (docs/egress.md): kill -9 with
# fail-open and fail-closed.
ward_test(egress_agent_test
  SOURCES egress_agent_test.cc
  DEPS ward::agent_harness ward::egress_core ward::common ward::testing ward::testing_shell
       PkgConfig::FMT
  LABELS integration)
add_dependencies(egress_agent_test ward-agent)

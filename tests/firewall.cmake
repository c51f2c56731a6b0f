# The firewall module in the real ward-agent, in network namespaces (docs/firewall.md).
ward_test(firewall_agent_test
  SOURCES firewall_agent_test.cc
  DEPS ward::agent_harness ward::common ward::testing ward::testing_shell
  LABELS integration)
add_dependencies(firewall_agent_test ward-agent)

# The loginspect module in the real agent (tests/loginspect_test.cc): rotation, kill -9 and
# restart, brute force, journal files written by systemd-journal-remote, reload with broken XML.
ward_test(loginspect_agent_test
  SOURCES loginspect_test.cc
  DEPS ward::agent_harness ward::common ward::testing ward::testing_shell PkgConfig::SQLITE3
       PkgConfig::FMT
  LABELS integration)
add_dependencies(loginspect_agent_test ward-agent)

# ips integration tests: the real ward-agent inline (NFQUEUE) in network namespaces made by the
# tests, and the CRS 3.3 regression suite through Ward in front of nginx. They change iptables
# (in their own namespaces, or on the host for the CRS run on loopback): RUN_SERIAL.
foreach(case prevent ipv6 detect pcap fail_open fail_closed robustness rules_lifecycle threads)
  add_test(NAME ips_netns_${case}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ips_netns_test.py
                   $<TARGET_FILE:ward-agent> ${case})
  set_tests_properties(ips_netns_${case} PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 300)
endforeach()

# Evasion suite: raw TCP and HTTP tricks against the agent in prevent mode in front of nginx and a
# byte-logging backend (tests/ips_evasion_test.py; raw packets with Debian's python3-scapy).
foreach(case urgent checksum ack_unsent retransmission http09 framing)
  add_test(NAME ips_evasion_${case}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ips_evasion_test.py
                   $<TARGET_FILE:ward-agent> ${case})
  set_tests_properties(ips_evasion_${case} PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 300)
endforeach()

# The whole CRS suite (2,435 tests, ~25 s wall) against the reference results.
add_test(NAME ips_crs_conformance
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ips_crs_conformance.py
                 --agent $<TARGET_FILE:ward-agent>)
set_tests_properties(ips_crs_conformance PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 600)

# ward-agent ips replay on a capture the test writes.
ward_test(ips_replay_test
  SOURCES ips_replay_test.cc
  DEPS ward::agent_harness ward::ips_core ward::common ward::testing PkgConfig::FMT
  LABELS integration)
add_dependencies(ips_replay_test ward-agent)

# Ward's iptables chains (agent/net) around the real agent: kill -9 and restart, a clean stop
# (tests/net_netns_test.py, in the namespaces of ips_netns_test.py).
foreach(case crash_restart_open crash_restart_closed crash_then_no_ips clean_stop)
  add_test(NAME net_netns_${case}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/net_netns_test.py
                   $<TARGET_FILE:ward-agent> ${case})
  set_tests_properties(net_netns_${case} PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 300)
endforeach()
# The same suite with Ward's own SecLang evaluator (ips.engine: ward, issue #15).
add_test(NAME ips_crs_conformance_ward
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ips_crs_conformance.py
                 --agent $<TARGET_FILE:ward-agent> --engine ward)
set_tests_properties(ips_crs_conformance_ward PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 600)
# A blocked request answered with Ward's 403 (ips.block_status), both engines, and the prevent
# case with Ward's own engine, persistent collections through the agent (issue #15).
foreach(case answer answer_ward prevent_ward persistent)
  add_test(NAME ips_netns_${case}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ips_netns_test.py
                   $<TARGET_FILE:ward-agent> ${case})
  set_tests_properties(ips_netns_${case} PROPERTIES LABELS integration RUN_SERIAL TRUE TIMEOUT 300)
endforeach()

# Manager server fuzzers (branch mapi): request validation/routing and the agent event batch.
if(TARGET ward_manager_server)
  ward_fuzzer(fuzz_manager_request ward::manager_server)
  ward_fuzzer(fuzz_manager_event_batch ward::manager_server)
endif()

# Console (issue 14): session cookie and If-None-Match parsing.
if(TARGET ward_manager_server)
  ward_fuzzer(fuzz_console_session ward::manager_server)
endif()

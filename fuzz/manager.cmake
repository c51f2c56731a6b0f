# Manager server fuzzers (branch mapi): request validation/routing and the agent event batch.
if(TARGET ward_manager_server)
  ward_fuzzer(fuzz_manager_request ward::manager_server)
  ward_fuzzer(fuzz_manager_event_batch ward::manager_server)
endif()
# The network front's request heads (issue #13): Beast's parser with the front's limits + target
# decoding.
if(TARGET ward_manager_server AND TARGET ward_boost_asio)
  ward_fuzzer(fuzz_manager_front_head ward::manager_server ward_boost_asio)
endif()

# Manager server fuzzers: request validation/routing and the agent event batch.
ward_fuzzer(fuzz_manager_request ward::manager_server)
ward_fuzzer(fuzz_manager_event_batch ward::manager_server)

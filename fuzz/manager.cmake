# Manager server fuzzers: request validation/routing and the agent event batch.
ward_fuzzer(fuzz_manager_request ward::manager_server)
ward_fuzzer(fuzz_manager_event_batch ward::manager_server)
# The network front's request heads (issue #13): Beast's parser with the front's limits + target
# decoding.
ward_fuzzer(fuzz_manager_front_head ward::manager_server ward_boost_asio)
# Console (issue #14): session cookie and If-None-Match parsing.
ward_fuzzer(fuzz_console_session ward::manager_server)
# Console accounts (issue #14, helper c1): time zone names, TOTP codes and base32 secrets.
ward_fuzzer(fuzz_console_account ward::manager_server)
# Alert rules and channels (issue 19, s7-alerts): rule documents, channel configs, globs.
ward_fuzzer(fuzz_alert_rules ward::manager_server)

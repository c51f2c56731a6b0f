# Transport fuzzers: manager replies, identity file, URLs, gzip (agent/transport).
ward_fuzzer(fuzz_transport_replies ward::transport)

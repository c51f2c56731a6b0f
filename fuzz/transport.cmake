# Transport fuzzers: manager replies, identity file, URLs, gzip (agent/transport).
if(TARGET ward_transport)
  ward_fuzzer(fuzz_transport_replies ward::transport)
endif()

# ips fuzzers: packets into the reassembler + HTTP parser, and capture files into replay.
ward_fuzzer(fuzz_ips_stream ward::ips_core)
ward_fuzzer(fuzz_ips_pcap ward::ips_core)
# Request targets against path-prefix exclusions (agent/modules/ips/path_prefix.h).
ward_fuzzer(fuzz_ips_path_prefix ward::ips_policy)

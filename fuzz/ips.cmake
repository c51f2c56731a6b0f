# ips fuzzers: packets into the reassembler + HTTP parser, and capture files into replay.
ward_fuzzer(fuzz_ips_stream ward::ips_core)
ward_fuzzer(fuzz_ips_pcap ward::ips_core)
# Request targets against path-prefix exclusions (agent/modules/ips/path_prefix.h).
ward_fuzzer(fuzz_ips_path_prefix ward::ips_policy)
# The IPS tuning view's extraction from stored IPS events (manager/store/ips_matches.h).
ward_fuzzer(fuzz_ips_tuning_matches ward::ips_policy ward::common PkgConfig::NLOHMANN)
target_sources(fuzz_ips_tuning_matches PRIVATE ${PROJECT_SOURCE_DIR}/manager/store/ips_matches.cc)

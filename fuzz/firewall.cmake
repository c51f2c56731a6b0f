# Firewall fuzzers (agent/modules/firewall): NFLOG messages (Ward's prefix + the logged packet).
ward_fuzzer(fuzz_firewall_nflog ward::firewall_core)

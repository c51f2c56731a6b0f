# Egress fuzzers (agent/modules/egress, docs/egress.md): DNS messages (and the NXDOMAIN reply made
# from them), first payloads (TLS ClientHello, HTTP request head), feed files in every format.
ward_fuzzer(fuzz_egress_dns ward::egress_core)
ward_fuzzer(fuzz_egress_first_payload ward::egress_core)
ward_fuzzer(fuzz_egress_feeds ward::egress_core)
# DNS over TCP: segments in any order into the reassembly, the padded NXDOMAIN reply.
ward_fuzzer(fuzz_egress_dns_tcp ward::egress_core)

# Update bundles (docs/updates.md): manifests, signed envelopes, heartbeat offers, file names.
ward_fuzzer(fuzz_update_manifest ward::updates)
# ClamAV database containers and cdiff scripts (docs/updates.md, "Incremental ClamAV updates").
ward_fuzzer(fuzz_update_cdiff ward::update_bundle)

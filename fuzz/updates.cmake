# Update bundles (docs/updates.md): manifests, signed envelopes, heartbeat offers, file names.
ward_fuzzer(fuzz_update_manifest ward::updates)

# Ward's SecLang engine: rule files into the parser (and each loaded operator evaluated), and
# transformation chains compared byte for byte with libmodsecurity 3.0.9.
ward_fuzzer(fuzz_seclang_parser ward::seclang)
ward_fuzzer(fuzz_seclang_transformations ward::seclang ward_seclang_oracle)
# Mutated requests through libmodsecurity and Ward's evaluator with the CRS: verdicts must be equal.
ward_fuzzer(fuzz_seclang_equality ward_seclang_equality ward::ips_core)
# Request bodies (multipart, JSON, XML) compared with libmodsecurity 3.0.9 at every run.
ward_fuzzer(fuzz_seclang_body ward::seclang_body ward_seclang_body_oracle)
ward_fuzzer(fuzz_seclang_collections ward::seclang)

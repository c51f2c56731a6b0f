# loginspect (docs/loginspect.md): OS_Regex/OS_Match/PCRE2 patterns, rule and decoder files
# through the loader, and log lines through the whole pipeline.
ward_fuzzer(fuzz_loginspect_regex ward::loginspect_engine)
ward_fuzzer(fuzz_loginspect_xml ward::loginspect_engine)
ward_fuzzer(fuzz_loginspect_pipeline ward::loginspect_engine)
target_compile_definitions(fuzz_loginspect_pipeline PRIVATE
  WARD_GEOIP_FIXTURE="${PROJECT_SOURCE_DIR}/testdata/loginspect/geoip/ward-test-city.mmdb")
ward_fuzzer(fuzz_loginspect_sources ward::loginspect)

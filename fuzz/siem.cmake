# SIEM export: event documents and field bytes through the CEF/LEEF/JSON formatters.
ward_fuzzer(fuzz_siem_format ward::manager_siem)

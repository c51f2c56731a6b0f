# Ward's own SecLang engine (issue #15): transformations, operators and the rule-file parser.
# Depends on common and PCRE2 only; libmodsecurity is linked by the tests (the oracle) and, for
# its exported libinjection, by the library (see docs/ips.md, "Ward SecLang engine").
# Included from agent/modules/ips/build.cmake.
set(SL modules/ips/seclang)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
ward_library(seclang
  SOURCES ${SL}/transformations.cc ${SL}/digest.cc ${SL}/operators.cc ${SL}/parser.cc
  DEPS ward::common
  PRIVATE_DEPS PkgConfig::PCRE2 PkgConfig::MODSECURITY)

# libmodsecurity 3.0.9 as the oracle: calls its transformations and operators directly.
add_library(ward_seclang_oracle STATIC ${SL}/modsec_oracle.cc)
target_include_directories(ward_seclang_oracle PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(ward_seclang_oracle PUBLIC PkgConfig::MODSECURITY PRIVATE ward_warnings)

ward_test(seclang_test
  SOURCES ${SL}/transformations_test.cc ${SL}/differential_test.cc
          ${SL}/operators_test.cc ${SL}/parser_test.cc ${SL}/allocation_test.cc ${SL}/test_vectors.cc
  DEPS ward::seclang ward_seclang_oracle ward::testing PkgConfig::NLOHMANN)
target_compile_definitions(seclang_test
  PRIVATE WARD_SECLANG_ORACLES="${PROJECT_SOURCE_DIR}/testdata/oracles")

# Every CRS operator against libmodsecurity (CRS compiled twice, ~440k verdicts) and the rule sets
# of libmodsecurity's regression tests loaded by both.
ward_test(seclang_crs_test
  SOURCES ${SL}/crs_operators_test.cc ${SL}/regression_rules_test.cc ${SL}/test_vectors.cc
  DEPS ward::seclang ward_seclang_oracle ward::testing PkgConfig::NLOHMANN
  LABELS integration)
target_compile_definitions(seclang_crs_test
  PRIVATE WARD_SECLANG_ORACLES="${PROJECT_SOURCE_DIR}/testdata/oracles")

# ward_library(name SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
#   One static library per component, with the alias ward::<name>.
function(ward_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ward_${name} STATIC ${ARG_SOURCES})
  add_library(ward::${name} ALIAS ward_${name})
  target_include_directories(ward_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(ward_${name} PUBLIC ${ARG_DEPS} PRIVATE ward_warnings ${ARG_PRIVATE_DEPS})
endfunction()

# ward_test(name SOURCES ... [DEPS ...] [LABELS ...])
#   One gtest binary, its tests discovered and labelled (unit, integration, slow).
function(ward_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ward_warnings ${ARG_DEPS} GTest::gtest GTest::gmock
                                        GTest::gtest_main)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}"
               ENVIRONMENT "WARD_BINARY_DIR=${PROJECT_BINARY_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()

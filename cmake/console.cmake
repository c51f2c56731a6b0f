# The web console (console/, docs/console.md): `npm ci` when package-lock.json changes, `vite
# build` when a console source changes, then cmake/embed_console.cmake turns console/dist into a
# C++ source so that ward-manager carries the console in its one binary. npm comes from Debian
# (scripts/install-deps) or whatever newer Node the machine has; packages come from the registry
# through the committed package-lock.json.
find_program(WARD_NPM npm)
if(NOT WARD_NPM)
  message(FATAL_ERROR "npm not found: the web console needs Node.js and npm (scripts/install-deps)")
endif()
set(WARD_CONSOLE_SOURCE_DIR ${PROJECT_SOURCE_DIR}/console)
set(WARD_CONSOLE_BINARY_DIR ${PROJECT_BINARY_DIR}/console)
file(MAKE_DIRECTORY ${WARD_CONSOLE_BINARY_DIR})
file(GLOB_RECURSE WARD_CONSOLE_SOURCES CONFIGURE_DEPENDS ${WARD_CONSOLE_SOURCE_DIR}/src/*)

add_custom_command(
  OUTPUT ${WARD_CONSOLE_BINARY_DIR}/npm-ci.stamp
  COMMAND ${CMAKE_COMMAND} -E env PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_config_update_notifier=false
          npm_config_fund=false npm_config_audit=false ${WARD_NPM} ci --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${WARD_CONSOLE_BINARY_DIR}/npm-ci.stamp
  DEPENDS ${WARD_CONSOLE_SOURCE_DIR}/package.json ${WARD_CONSOLE_SOURCE_DIR}/package-lock.json
  WORKING_DIRECTORY ${WARD_CONSOLE_SOURCE_DIR}
  COMMENT "console: npm ci"
  VERBATIM)

add_custom_command(
  OUTPUT ${WARD_CONSOLE_BINARY_DIR}/console_assets_data.cc
  COMMAND ${WARD_NPM} run --silent build -- --logLevel warn --outDir ${WARD_CONSOLE_BINARY_DIR}/dist
          --emptyOutDir
  COMMAND ${CMAKE_COMMAND} -DDIST=${WARD_CONSOLE_BINARY_DIR}/dist
          -DOUT=${WARD_CONSOLE_BINARY_DIR}/console_assets_data.cc
          -P ${PROJECT_SOURCE_DIR}/cmake/embed_console.cmake
  DEPENDS ${WARD_CONSOLE_BINARY_DIR}/npm-ci.stamp ${WARD_CONSOLE_SOURCES}
          ${WARD_CONSOLE_SOURCE_DIR}/index.html ${WARD_CONSOLE_SOURCE_DIR}/vite.config.ts
          ${WARD_CONSOLE_SOURCE_DIR}/tsconfig.json ${PROJECT_SOURCE_DIR}/cmake/embed_console.cmake
  WORKING_DIRECTORY ${WARD_CONSOLE_SOURCE_DIR}
  COMMENT "console: vite build, embed"
  VERBATIM)

ward_library(manager_console
  SOURCES ${PROJECT_SOURCE_DIR}/manager/console/assets.cc
          ${WARD_CONSOLE_BINARY_DIR}/console_assets_data.cc)

# Front-end unit tests (vitest) and the browser tests (Playwright driving Debian's chromium
# against a real ward-manager), both through CTest.
add_test(NAME console_unit COMMAND ${WARD_NPM} run --silent test:unit
         WORKING_DIRECTORY ${WARD_CONSOLE_SOURCE_DIR})
set_tests_properties(console_unit PROPERTIES LABELS unit ENVIRONMENT "CI=1;NO_COLOR=1")
add_test(NAME console_e2e COMMAND ${WARD_NPM} run --silent test:e2e
         WORKING_DIRECTORY ${WARD_CONSOLE_SOURCE_DIR})
set_tests_properties(console_e2e PROPERTIES
  LABELS integration
  TIMEOUT 600
  ENVIRONMENT "WARD_MANAGER_BIN=$<TARGET_FILE:ward-manager>;WARD_E2E_OUTPUT=${WARD_CONSOLE_BINARY_DIR}/test-results;CI=1;NO_COLOR=1;PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")

# agent/transport: the agent's side of agent <-> manager (docs/transport.md). Included by
# agent/CMakeLists.txt.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)

ward_library(transport
  SOURCES transport/spool.cc transport/spool_output.cc transport/gzip.cc
          transport/https_client.cc transport/protocol.cc transport/identity.cc
          transport/activation.cc transport/channel.cc transport/managed.cc
          transport/debug_emit.cc
  DEPS ward::agent_core ward::integrity ward::common PkgConfig::OPENSSL
  PRIVATE_DEPS PkgConfig::HTTPLIB PkgConfig::ZLIB)

ward_library(transport_cli SOURCES transport/cli.cc
  DEPS ward::transport ward_builtin_modules ward_agent_cli PkgConfig::CLI11)
list(APPEND WARD_AGENT_CLI_LIBS ward::transport_cli)

ward_test(transport_unit_test
  SOURCES transport/spool_test.cc transport/protocol_test.cc
          transport/identity_test.cc
  DEPS ward::transport ward::testing PkgConfig::HTTPLIB PkgConfig::SQLITE3)

# The ips module (host IPS/WAF): libmodsecurity + OWASP CRS, NFQUEUE inline, libpcap passive,
# libhttp-parser. Included from agent/CMakeLists.txt.
pkg_check_modules(MODSECURITY REQUIRED IMPORTED_TARGET modsecurity)
pkg_check_modules(NFQUEUE REQUIRED IMPORTED_TARGET libnetfilter_queue)
pkg_check_modules(LIBPCAP REQUIRED IMPORTED_TARGET libpcap)
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
if(NOT TARGET ward_http_parser)
  add_library(ward_http_parser INTERFACE)
  target_include_directories(ward_http_parser SYSTEM INTERFACE ${HTTP_PARSER_INCLUDE_DIR})
  target_link_libraries(ward_http_parser INTERFACE ${HTTP_PARSER_LIBRARY})
endif()

ward_library(ips_core
  SOURCES modules/ips/config.cc modules/ips/packet.cc modules/ips/tcp_stream.cc
          modules/ips/waf.cc modules/ips/waf_config.cc modules/ips/modsecurity_waf.cc
          modules/ips/http_connection.cc modules/ips/ips_engine.cc
          modules/ips/pcap_source.cc
  DEPS ward::common ward_http_parser PkgConfig::LIBPCAP
  PRIVATE_DEPS PkgConfig::MODSECURITY PkgConfig::FMT)
ward_library(ips
  SOURCES modules/ips/ips_module.cc modules/ips/nfqueue.cc
  DEPS ward::ips_core ward::agent_core ward::common
  PRIVATE_DEPS PkgConfig::NFQUEUE PkgConfig::FMT)
ward_library(ips_cli
  SOURCES modules/ips/cli.cc modules/ips/tuning_report.cc
  DEPS ward::ips_core ward::agent_core ward::agent_cli ward::common PkgConfig::CLI11
  PRIVATE_DEPS PkgConfig::FMT)
list(APPEND WARD_MODULE_LIBS ward::ips)
list(APPEND WARD_AGENT_CLI_LIBS ward::ips_cli)

ward_test(ips_test
  SOURCES modules/ips/config_test.cc modules/ips/packet_test.cc modules/ips/tcp_stream_test.cc
          modules/ips/waf_test.cc modules/ips/ips_engine_test.cc
          modules/ips/tuning_report_test.cc
  DEPS ward::ips_core ward::ips_cli ward::testing)

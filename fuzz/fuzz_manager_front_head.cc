// Request heads as the manager's network front reads them (manager/api/server.cc): Beast's
// request parser with the front's limits, then the request-target decoding (SplitTarget) that
// becomes HttpRequest::path and ::query. Must never crash, hang or exceed the limits.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "manager/net/http_head.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.eager(false);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && parser.is_header_done()) {
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    const auto& h = parser.get();
    if (ward::manager::SplitTarget(h.target(), path, query)) {
      if (path.empty() || path.find('\0') != std::string::npos) std::abort();
      for (const auto& [name, value] : query) {
        if (name.empty()) std::abort();
      }
    }
  }
  // The decoder alone, on arbitrary bytes: output never longer than input.
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (ward::manager::PercentDecode(raw, true).size() > size) std::abort();
  return 0;
}

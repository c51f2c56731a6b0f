// Test support for the equality harness (seclang_equality_test, fuzz_seclang_equality): HTTP
// requests from the CRS 3.3 regression tests (YAML -> request bytes as
// testdata/oracles/crs-3.3-tests/README.md says), a small HTTP request-head parser, and one
// exchange run through a WAF engine with the result compared between engines.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/ips/waf.h"

namespace ward::seclang::equality {

struct HttpCase {
  std::string id;  // "920100-1" (stage > 1: "920100-1/2")
  agent::ips::RequestHead head;
  std::string body;
  // The response given to both engines; unset: 200 text/html with a short page.
  std::optional<agent::ips::ResponseHead> response;
  std::string response_body;
};

// Parses request bytes: request line "METHOD SP URI SP HTTP/x.y", header lines up to the empty
// line (LF or CRLF), then the body (cut at Content-Length, de-chunked when chunked). Nullopt for
// what an HTTP parser refuses before any WAF sees it (no request line, a header without ':').
std::optional<HttpCase> ParseRequest(std::string_view bytes);

// The request bytes of one go-ftw stage input (crs_ftw_min.py's build_request). `input` is the
// YAML node's text form, already read by LoadCrsCases.
struct CrsCases {
  std::vector<HttpCase> cases;
  std::vector<std::string> unparsed;  // test ids whose request no HTTP parser accepts
};
// Every stage of every enabled test under `dir` (recursively, files in name order).
CrsCases LoadCrsCases(const std::string& dir);

// What one exchange gave.
struct Outcome {
  std::vector<int64_t> ids;        // matched rule ids, in order
  std::vector<std::string> lines;  // their log lines (diagnostics)
  agent::ips::AnomalyScores scores;
  agent::ips::Intervention intervention;
};
Outcome Run(const agent::ips::WafRules& rules, const HttpCase& c);
// The same between given endpoints (sequences of transactions: persistent collections such as IP
// are keyed by the client's address).
Outcome Run(const agent::ips::WafRules& rules, const HttpCase& c, const agent::ips::Endpoints& ep);

// Empty when equal, else what differs.
std::string Compare(const Outcome& libmodsecurity, const Outcome& ward);

}  // namespace ward::seclang::equality

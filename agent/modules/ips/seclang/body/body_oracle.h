// Test support: libmodsecurity 3.0.9 running one request body in a real transaction (phases 1
// and 2), its collections and variables read back — the reference the body processors are
// compared with. The same shape holds Ward's result (FromWard) so that the two compare with ==.
// Thread-safety: each call is independent.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/modules/ips/seclang/body/request_body.h"

namespace ward::seclang::body::test {

struct BodyCase {
  std::string label;
  BodyProcessorKind kind = BodyProcessorKind::kNone;  // kJson/kXml through ctl, else by header
  std::optional<std::string> content_type;
  std::string body;
  BodySettings settings;
  std::optional<uint64_t> body_limit;  // SecRequestBodyLimit
  bool partial = true;                 // SecRequestBodyLimitAction ProcessPartial (else Reject)
  // Sizes of the pieces the body is appended in (the rest in one piece); empty: one piece.
  std::vector<size_t> chunks;
};

using Pairs = std::vector<std::pair<std::string, std::string>>;

// What a body gives, collections sorted (libmodsecurity's are unordered multimaps).
struct Observed {
  Pairs args;
  Pairs args_post;
  Pairs files;
  Pairs files_names;
  Pairs files_sizes;
  Pairs files_tmp_content;
  Pairs files_tmpnames;
  Pairs multipart_names;
  Pairs multipart_filenames;
  Pairs multipart_part_headers;
  // Anchored variables by name; libmodsecurity reads an unset one as "".
  std::map<std::string, std::string> scalars;
  // XML:/* and XML://@* values, and the document's serialisation ("" without a document).
  std::vector<std::string> xml_elements;
  std::vector<std::string> xml_attributes;
  bool operator==(const Observed&) const = default;
};

// The XPath expressions compared for XML bodies (what CRS uses).
inline constexpr const char* kXmlElements = "/*";
inline constexpr const char* kXmlAttributes = "//@*";

Observed RunModsec(const BodyCase& c);
Observed RunWard(const BodyCase& c, BodyProcessor* proc, BodyResult* result);

// A readable dump of the differences (empty when equal).
std::string Diff(const Observed& modsec, const Observed& ward);

}  // namespace ward::seclang::body::test

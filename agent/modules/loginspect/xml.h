// A reader for OSSEC/Wazuh rule, decoder and configuration files. They are not well-formed XML
// (several top-level elements, raw '&' and '<'-free regexes, `$VAR` substitution from <var>), so
// this follows OSSEC's os_xml instead of a conforming parser: elements, quoted attributes, text,
// comments, <?...?> skipped, no entity decoding. Errors name line:column.
// Thread-safety: plain values.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ward::agent::loginspect {

struct XmlNode {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string content;
  std::vector<XmlNode> children;
  int line = 0;
  int column = 0;

  // nullptr when absent.
  const std::string* Attribute(std::string_view key) const;
};

// Parses `text` into its top-level elements; <var name="X">v</var> elements are applied to the
// text and attribute values of the elements after them ("$X") and are not returned.
// Errors: InvalidArgument "line:column: what".
Result<std::vector<XmlNode>> ParseXml(std::string_view text);

}  // namespace ward::agent::loginspect

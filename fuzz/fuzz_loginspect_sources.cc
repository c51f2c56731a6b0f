// The log sources' own parsers of untrusted bytes (docs/loginspect.md, "Sources"): file bytes cut
// into lines (LineSplitter, with its size limit) and grouped into multi-line records
// (MultilineJoiner), fed in chunks of any size; and journal entries (any field bytes) turned into
// syslog lines. Checks what they promise: no line longer than its limit, offsets that only grow,
// every byte accounted for, no '\n' in a journal line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modules/loginspect/journal_source.h"
#include "agent/modules/loginspect/line_splitter.h"

using ward::agent::loginspect::FormatJournalLine;
using ward::agent::loginspect::Line;
using ward::agent::loginspect::LineSplitter;
using ward::agent::loginspect::MultilineJoiner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const uint64_t max_line = 1 + static_cast<uint8_t>(in[0]);
  const size_t chunk = 1 + static_cast<uint8_t>(in[1]);
  in.remove_prefix(2);
  // Up to the first NUL: a start pattern (PCRE2, may not compile); the rest: file bytes.
  size_t nul = in.find('\0');
  std::string pattern(in.substr(0, nul == std::string_view::npos ? 0 : nul));
  std::string_view bytes = nul == std::string_view::npos ? in : in.substr(nul + 1);

  LineSplitter splitter(max_line, 0);
  auto joiner = pattern.empty() ? nullptr : MultilineJoiner::Create(pattern, max_line * 4);
  std::vector<Line> lines;
  std::vector<Line> records;
  uint64_t last_end = 0;
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    lines.clear();
    splitter.Feed(bytes.substr(at, chunk), lines);
    for (auto& l : lines) {
      if (l.text.size() > max_line) abort();
      if (l.start < last_end || l.end < l.start || l.end > bytes.size()) abort();
      if (!l.truncated && l.text != bytes.substr(l.start, l.text.size())) abort();
      last_end = l.end;
      if (joiner) joiner->Push(std::move(l), records);
    }
    if (splitter.consumed() > splitter.offset()) abort();
  }
  if (splitter.offset() != bytes.size()) abort();
  lines.clear();
  splitter.Finish(lines);
  if (joiner) {
    for (auto& l : lines) joiner->Push(std::move(l), records);
    joiner->Flush(records);
    for (const auto& r : records) {
      if (r.text.size() > max_line * 4 + max_line) abort();
    }
  }

  // The same bytes as a journal entry: KEY=value lines.
  std::map<std::string, std::string> fields;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    std::string_view kv = bytes.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) fields[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  int64_t usec = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i)
    usec = (usec << 8) | static_cast<uint8_t>(bytes[i]);
  std::string line = FormatJournalLine(fields, usec);
  if (line.find('\n') != std::string::npos) abort();
  return 0;
}

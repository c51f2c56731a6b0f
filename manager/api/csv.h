// CSV for exports (RFC 4180) that spreadsheets open safely.
//
// AppendCsvField quotes a field when it holds a comma, a double quote, CR or LF (doubling the
// quotes, as RFC 4180 section 2 says), and defuses formula injection as OWASP advises: a field
// that starts with '=', '+', '-', '@', a tab or a carriage return gets a leading single quote
// (and is then always quoted), so Excel, LibreOffice and Google Sheets show it as text instead of
// evaluating it. Records end with CRLF. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ward::manager {

// Appends one field, quoted and defused as described above.
void AppendCsvField(std::string& out, std::string_view value);
// Appends the fields separated by commas and a CRLF.
void AppendCsvRecord(std::string& out, const std::vector<std::string>& fields);

}  // namespace ward::manager

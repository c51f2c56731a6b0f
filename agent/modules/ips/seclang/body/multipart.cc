#include "agent/modules/ips/seclang/body/multipart.h"

#include <strings.h>

#include <algorithm>
#include <cstring>
#include <string>

// The algorithm is libmodsecurity 3.0.9's (src/request_body_processor/multipart.cc), rewritten
// step for step because its results are the contract: a line buffer of 4096 bytes read as a C
// string (strlen stops at a NUL), two held-back line-ending bytes per data line, functions that
// "fail" by returning 0 (which the caller does not treat as a failure), the error message that
// a later step overwrites. Upload storage is off (3.0.9's default, and Ward keeps no files), so
// file contents are counted, never stored.

namespace ward::seclang::body {
namespace {

constexpr const char* kMimeCharsetSpecial = "!#$%&+-^_`{}~";
constexpr const char* kAttrCharSpecial = "!#$&+-.^_`~";

// The C library's classification in the "C" locale, for a char that may be negative.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsXdigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

int IsTokenChar(unsigned char c) {
  if (c <= 32 || c >= 127) return 0;
  switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '@':
    case ',':
    case ';':
    case ':':
    case '\\':
    case '"':
    case '/':
    case '[':
    case ']':
    case '?':
    case '=':
      return 0;
    default:
      return 1;
  }
}

int BoundaryCharactersValid(const char* boundary) {
  const auto* p = reinterpret_cast<const unsigned char*>(boundary);
  unsigned char c;
  while ((c = *p) != '\0') {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c == ' ' && *(p + 1) != '\0') || c == '\'' || c == '(' || c == ')' ||
                    c == '+' || c == '_' || c == ',' || c == '-' || c == '.' || c == '/' ||
                    c == ':' || c == '=' || c == '?';
    if (!ok) return 0;
    p++;
  }
  return 1;
}

// 3.0.9's utils::string::chomp: trailing CR/LF removed unless the string is only CR/LF.
void Chomp(std::string* s) {
  const size_t pos = s->find_last_not_of("\n\r");
  if (pos != std::string::npos) s->erase(pos + 1);
}

}  // namespace

void MultipartParser::Part::Clear() {
  type = kFormData;
  name.clear();
  value.clear();
  filename.clear();
  file_size = 0;
  last_header_name.clear();
  nheaders = 0;
  last_header_line.clear();
  nlines = 0;
  length = 0;
}

MultipartParser::Part* MultipartParser::NewPart() {
  if (parts_.size() <= kept_) parts_.emplace_back();
  Part* p = &parts_[kept_];
  p->Clear();
  return p;
}

std::pair<std::string, std::string>* MultipartParser::FindHeader(std::string_view name) {
  for (size_t i = 0; i < mpp_->nheaders; ++i) {
    if (EqualsNoCase(mpp_->headers[i].first, name)) return &mpp_->headers[i];
  }
  return nullptr;
}

void MultipartParser::AddHeaderLine() {
  if (mpp_->header_lines.size() <= mpp_->nlines) mpp_->header_lines.emplace_back();
  mpp_->header_lines[mpp_->nlines++].assign(mpp_->last_header_line);
  mpp_->last_header_line.clear();
}

int MultipartParser::CountBoundaryParams(const std::string& value) {
  lower_.assign(value);
  for (char& c : lower_) c = Lower(c);
  // strdup + strstr: the C string ends at the first NUL.
  const char* s = lower_.c_str();
  int count = 0;
  while ((s = std::strstr(s, "boundary")) != nullptr) {
    s += 8;
    if (std::strchr(s, '=') != nullptr) count++;
  }
  return count;
}

void MultipartParser::ValidateQuotes(const char* data, char quote) {
  if (quote == '"') return;
  const size_t len = std::strlen(data);
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\'') flag_invalid_quoting_ = 1;
  }
}

int MultipartParser::ParseContentDisposition(const char* c_d_value) {
  const char* p = nullptr;
  std::string& filename_star = cd_filename_star_;
  filename_star.clear();

  if (std::strncmp(c_d_value, "form-data", 9) != 0) return -1;
  p = c_d_value + 9;
  while (*p == '\t' || *p == ' ') p++;
  if (*p == '\0') return 1;
  if (*p != ';') return -2;
  p++;

  while (*p != '\0') {
    const char* start = nullptr;
    std::string& name = cd_name_;
    std::string& value = cd_value_;
    name.clear();
    value.clear();

    while (*p == '\t' || *p == ' ') p++;
    if (*p == '\0') return -3;
    start = p;
    while (*p != '\0' && *p != '=' && *p != '\t' && *p != ' ') p++;
    if (*p == '\0') return -4;
    name.assign(start, static_cast<size_t>(p - start));
    while (*p == '\t' || *p == ' ') p++;
    if (*p == '\0') return -5;
    if (*p != '=') return -13;
    p++;
    while (*p == '\t' || *p == ' ') p++;
    if (*p == '\0') return -6;

    char quote = '\0';
    if (name == "filename*") {
      const char* start_of_charset = p;
      while (*p != '\0' && (IsAlnum(*p) || std::strchr(kMimeCharsetSpecial, *p) != nullptr)) p++;
      if (*p != '\'' || p == start_of_charset) return -16;
      p++;
      while (*p != '\0' && *p != '\'') p++;
      if (*p != '\'') return -17;
      p++;
      const char* start_of_filename = p;
      while (*p != '\0' && *p != ';') {
        if (*p == '%') {
          if (*(p + 1) == '\0' || !IsXdigit(*(p + 1)) || !IsXdigit(*(p + 2))) return -18;
          p += 3;
        } else if (IsAlnum(*p) || std::strchr(kAttrCharSpecial, *p) != nullptr) {
          p++;
        } else {
          return -19;
        }
      }
      value.assign(start_of_filename, static_cast<size_t>(p - start_of_filename));
    } else if (*p == '"' || *p == '\'') {
      quote = *p;
      if (quote == '\'') flag_invalid_quoting_ = 1;
      p++;
      if (*p == '\0') return -7;
      while (*p != '\0') {
        if (*p == '\\') {
          if (*(p + 1) == '\0') return -8;
          // Only the quote and a backslash are escapes; anything else is kept as written.
          if (*(p + 1) == quote || *(p + 1) == '\\') p++;
        } else if (*p == quote) {
          break;
        }
        value.append(p++, 1);
      }
      if (*p == '\0') result_->multipart_unterminated_quote = true;
      p++;  // over the closing quote — or the terminating NUL, as in 3.0.9
    } else {
      start = p;
      while (*p != '\0' && IsTokenChar(static_cast<unsigned char>(*p))) p++;
      value.assign(start, static_cast<size_t>(p - start));
    }

    if (name == "name") {
      ValidateQuotes(value.c_str(), quote);
      const std::string_view v = result_->Store(value);
      result_->multipart_names.push_back({v, v});
      if (!mpp_->name.empty()) return -14;
      mpp_->name = value;
    } else if (name == "filename") {
      ValidateQuotes(value.c_str(), quote);
      const std::string_view v = result_->Store(value);
      result_->multipart_filenames.push_back({v, v});
      if (!mpp_->filename.empty()) return -15;
      mpp_->filename = value;
    } else if (name == "filename*") {
      if (!filename_star.empty()) return -20;
      filename_star = value;
    } else {
      return -11;
    }

    // After an unterminated quoted value p is one past the NUL; 3.0.9 reads on from there.
    // The header value is a std::string whose buffer ends at that NUL, so to stay within
    // defined behaviour the caller guarantees a second NUL (see ProcessPartHeader).
    if (*p != '\0') {
      while (*p == '\t' || *p == ' ') p++;
      if (*p != '\0') {
        if (*p != ';') {
          p--;
          if (*p == '\'' || *p == '"') flag_invalid_quoting_ = 1;
          return -12;
        }
        p++;
      }
    }
  }

  if (!filename_star.empty() && mpp_->filename.empty()) return -21;
  return 1;
}

int MultipartParser::ProcessPartData(std::string* error) {
  (void)error;
  char* p = buf_.data() + (kBufSize - bufleft_);
  char localreserve[2] = {'\0', '\0'};
  int bytes_reserved = 0;

  mpp_substate_part_data_read_ = 1;

  // Hold back a trailing LF or CRLF: it belongs to the boundary if one follows.
  if ((kBufSize - bufleft_) >= 1 && *(p - 1) == '\n') {
    if ((kBufSize - bufleft_) >= 2 && *(p - 2) == '\r') {
      bytes_reserved = 2;
      localreserve[0] = *(p - 2);
      localreserve[1] = *(p - 1);
      bufleft_ += 2;
      *(p - 2) = 0;
    } else {
      bytes_reserved = 1;
      localreserve[0] = *(p - 1);
      localreserve[1] = 0;
      bufleft_ += 1;
      *(p - 1) = 0;
    }
  }

  const int len = kBufSize - bufleft_;
  if (mpp_->type == kFile) {
    // Not extracted (no upload storage): only the size is kept.
    mpp_->file_size += static_cast<uint64_t>(len + reserve_[0]);
    mpp_->length += static_cast<unsigned int>(len + reserve_[0]);
  } else {
    no_files_length_ += static_cast<uint64_t>(len + reserve_[0]);
    // 3.0.9 assigns the held-back bytes and then overwrites them with the line: a value's
    // inner line breaks are lost ("a\r\nb" becomes "ab").
    mpp_->length += static_cast<unsigned int>(len);
    mpp_->value.append(buf_.data(), static_cast<size_t>(len));
  }

  if (bytes_reserved != 0) {
    reserve_[0] = static_cast<char>(bytes_reserved);
    reserve_[1] = localreserve[0];
    reserve_[2] = localreserve[1];
  } else {
    reserve_[0] = 0;
  }
  return 1;
}

int MultipartParser::ProcessPartHeader(std::string* error) {
  int i;
  int len = kBufSize - bufleft_;
  int len_without_termination = len - 1;
  for (i = 0; i < len; i++) {
    if (buf_[static_cast<size_t>(i)] == '\0') {
      error->assign("Multipart: Nul byte in part headers.");
      return 0;
    }
  }
  i = 0;
  no_files_length_ += static_cast<uint64_t>(kBufSize - bufleft_);

  if (len > 1) {
    if (buf_[static_cast<size_t>(len - 2)] == '\r') {
      flag_crlf_line_ = 1;
      len_without_termination--;
    } else {
      flag_lf_line_ = 1;
    }
  } else {
    flag_lf_line_ = 1;
  }

  char* b = buf_.data();
  if ((b[0] == '\r' && b[1] == '\n' && b[2] == '\0') || (b[0] == '\n' && b[1] == '\0')) {
    if (!mpp_->last_header_line.empty()) AddHeaderLine();
    auto* cd = FindHeader("Content-Disposition");
    if (cd == nullptr) {
      error->assign("Multipart: Part missing Content-Disposition header.");
      return 0;
    }
    const std::string& header_value = header_value_.assign(cd->second);
    // Two NULs: ParseContentDisposition may step over the first (see there).
    padded_.assign(header_value);
    padded_.push_back('\0');
    const int rc = ParseContentDisposition(padded_.c_str());
    if (rc < 0) {
      error->assign("Multipart: Invalid Content-Disposition header (" + std::to_string(rc) +
                    "): " + header_value);
      return 0;
    }
    if (mpp_->name.empty()) {
      error->assign("Multipart: Content-Disposition header missing name field.");
      return 0;
    }
    if (!mpp_->filename.empty()) {
      if (std::strstr(header_value.c_str(), "filename=") == nullptr) {
        error->assign("Multipart: Invalid Content-Disposition header (filename).");
        return 0;
      }
      mpp_->type = kFile;
    } else {
      mpp_->type = kFormData;
    }
    mpp_state_ = 1;
    mpp_substate_part_data_read_ = 0;
    mpp_->last_header_name.clear();
  } else if (IsSpace(b[0])) {
    // Folding: the line continues the header being built.
    flag_header_folding_ = 1;
    if (b[0] != '\t' && b[0] != ' ') flag_invalid_header_folding_ = 1;
    if (mpp_->last_header_name.empty()) {
      error->assign("Multipart: Invalid part header (folding error).");
      return 0;
    }
    char* data = b;
    while (IsSpace(*data)) {
      if (*data != '\t' && *data != ' ') flag_invalid_header_folding_ = 1;
      data++;
      i++;
    }
    new_value_.assign(data);
    Chomp(&new_value_);
    auto* h = FindHeader(mpp_->last_header_name);
    h->second.append(" ").append(new_value_);
    const std::string& new_value = h->second;
    if (new_value.size() > static_cast<size_t>(kBufSize)) {
      error->assign("Multipart: Part header too long.");
      return 0;
    }
    mpp_->last_header_line.assign(mpp_->last_header_name).append(": ").append(new_value);
  } else {
    if (!mpp_->last_header_line.empty()) AddHeaderLine();
    char* data = b;
    while (*data != ':' && *data != '\0') {
      data++;
      i++;
    }
    if (*data == '\0') {
      error->assign("Multipart: Invalid part header (colon missing): " + std::string(b));
      return 0;
    }
    std::string& header_name = header_name_.assign(b, static_cast<size_t>(data - b));
    if (data == b) {
      error->assign("Multipart: Invalid part header (header name missing).");
      return 0;
    }
    data++;
    i++;
    while (*data == '\t' || *data == ' ') {
      data++;
      i++;
    }
    if (FindHeader(header_name) != nullptr) {
      // 3.0.9 returns here without a message: the duplicate is ignored, parsing goes on.
      return 0;
    }
    mpp_->last_header_name = header_name;
    if (mpp_->headers.size() <= mpp_->nheaders) mpp_->headers.emplace_back();
    auto& header = mpp_->headers[mpp_->nheaders++];
    header.first.assign(header_name);
    header.second.assign(data);
    Chomp(&header.second);
    if (len_without_termination > 0) {
      mpp_->last_header_line.assign(b);
    } else {
      mpp_->last_header_line.clear();
    }
  }
  return 1;
}

int MultipartParser::ProcessBoundary(int last_part) {
  if (mpp_ != nullptr) {
    for (size_t i = 0; i < mpp_->nlines; ++i) {
      result_->multipart_part_headers.push_back(
          {result_->Store(mpp_->name), result_->Store(mpp_->header_lines[i])});
    }
    if (!mpp_->name.empty()) {
      kept_++;  // the part stays in parts_
    } else {
      flag_invalid_part_ = 1;  // dropped; its storage is reused by the next part
    }
    mpp_ = nullptr;
  }
  if (last_part == 0) {
    mpp_ = NewPart();
    mpp_state_ = 0;
    mpp_substate_part_data_read_ = 0;
    reserve_ = {0, 0, 0, 0};
  }
  return 1;
}

bool MultipartParser::Init(std::string* error) {
  bufleft_ = kBufSize;
  bufptr_ = buf_.data();
  buf_contains_line_ = 1;
  mpp_ = nullptr;

  if (header_.empty()) {
    flag_error_ = 1;
    error->assign("Multipart: Content-Type header not available.");
    return false;
  }
  if (header_.size() > 1024) {
    flag_error_ = 1;
    error->assign("Multipart: Invalid boundary in C-T (length).");
    return false;
  }
  if (strncasecmp(header_.c_str(), "multipart/form-data", 19) != 0) {
    flag_error_ = 1;
    error->assign("Multipart: Invalid MIME type.");
    return false;
  }
  if (CountBoundaryParams(header_) > 1) {
    flag_error_ = 1;
    error->assign("Multipart: Multiple boundary parameters in C-T.");
    return false;
  }

  const char* boundary_tmp = std::strstr(header_.c_str(), "boundary");
  if (boundary_tmp == nullptr) {
    flag_error_ = 1;
    if (CountBoundaryParams(header_) > 0) {
      error->assign("Multipart: Invalid boundary in C-T (case sensitivity).");
      return false;
    }
    error->assign("Multipart: Boundary not found in C-T.");
    return false;
  }

  int seen_semicolon = 0;
  for (const char* p = header_.c_str() + 19; p < boundary_tmp; p++) {
    if (!IsSpace(*p)) {
      if (seen_semicolon == 0 && *p == ';') {
        seen_semicolon = 1;
      } else {
        flag_error_ = 1;
        error->assign("Multipart: Invalid boundary in C-T (malformed).");
        return false;
      }
    }
  }
  if (seen_semicolon == 0) flag_missing_semicolon_ = 1;

  const char* b = std::strchr(boundary_tmp + 8, '=');
  if (b == nullptr) {
    flag_error_ = 1;
    error->assign("Multipart: Invalid boundary in C-T (malformed).");
    return false;
  }
  for (const char* p = boundary_tmp + 8; p < b; p++) {
    if (IsSpace(*p)) {
      flag_boundary_whitespace_ = 1;
    } else {
      flag_error_ = 1;
      error->assign("Multipart: Invalid boundary in C-T (parameter name).");
      return false;
    }
  }

  b++;
  const size_t len = std::strlen(b);
  if (IsSpace(*b)) flag_boundary_whitespace_ = 1;

  if (len >= 2 && *b == '"' && *(b + len - 1) == '"') {
    boundary_.assign(b + 1, len - 2);
    if (boundary_.empty()) return false;  // no message, as in 3.0.9
    flag_boundary_quoted_ = 1;
  } else {
    if (*b == '"' || (len >= 2 && *(b + len - 1) == '"')) {
      flag_error_ = 1;
      error->assign("Multipart: Invalid boundary in C-T (quote).");
      return false;
    }
    boundary_.assign(b);
    if (boundary_.empty()) return false;
    flag_boundary_quoted_ = 0;
  }

  if (CountBoundaryParams(boundary_) != 0) {
    flag_error_ = 1;
    error->assign("Multipart: Invalid boundary in C-T (content).");
    return false;
  }
  // A charset= parameter after the boundary is tolerated: the boundary ends at the ';'.
  if (BoundaryCharactersValid(boundary_.c_str()) != 1) {
    const size_t semicolon = boundary_.find(';');
    if (semicolon != std::string::npos) boundary_.resize(semicolon);
  }
  if (BoundaryCharactersValid(boundary_.c_str()) != 1) {
    flag_error_ = 1;
    error->assign("Multipart: Invalid boundary in C-T (characters).");
    return false;
  }
  if (boundary_.empty()) {
    flag_error_ = 1;
    error->assign("Multipart: Invalid boundary in C-T (empty).");
    return false;
  }
  return true;
}

bool MultipartParser::Process(std::string_view data, std::string* error) {
  const char* inptr = data.data();
  auto inleft = static_cast<unsigned int>(data.size());
  if (data.empty()) return true;
  seen_data_ = 1;
  if (is_complete_ != 0) {
    flag_data_before_ = 1;
    return true;
  }
  if (bufleft_ == 0) {
    flag_error_ = 1;
    return false;
  }
  char* const buf = buf_.data();
  const size_t blen = boundary_.size();
  const char* const bstr = boundary_.c_str();

  while (inleft > 0) {
    // Bulk copy of the bytes that cannot end the buffered line (3.0.9 takes them one by one
    // with the same result): all but the last of the bytes up to the next LF or up to the
    // buffer's last free byte. None of them is a LF, and after them one byte of buffer is
    // left, so none would have triggered processing or the "CR as last byte" rule.
    if (!(bufleft_ == 1 && *inptr == '\r')) {
      size_t k = std::min<size_t>(inleft, static_cast<size_t>(bufleft_));
      if (const void* nl = std::memchr(inptr, '\n', k); nl != nullptr) {
        k = static_cast<size_t>(static_cast<const char*>(nl) - inptr) + 1;
      }
      if (k > 1) {
        const size_t m = k - 1;
        std::memcpy(bufptr_, inptr, m);
        bufptr_ += m;
        bufleft_ -= static_cast<int>(m);
        inptr += m;
        inleft -= static_cast<unsigned int>(m);
        crlf_state_ = inptr[-1] == '\r' ? 1 : 0;
      }
    }
    const char c = *inptr;
    int process_buffer = 0;

    if (c == '\r' && bufleft_ == 1) {
      // A CR is never the buffer's last byte.
      process_buffer = 1;
    } else {
      inptr++;
      inleft--;
      *bufptr_ = c;
      bufptr_++;
      bufleft_--;
    }

    if (c == '\n' || bufleft_ == 0 || process_buffer != 0) {
      int processed_as_boundary = 0;
      *bufptr_ = 0;

      if (buf_contains_line_ != 0 && std::strlen(buf) > 3 && buf[0] == '-' && buf[1] == '-') {
        if (std::strlen(buf) >= blen + 2 && std::strncmp(buf + 2, bstr, blen) == 0) {
          if (crlf_state_buf_end_ == 2) flag_lf_line_ = 1;
          if (mpp_substate_part_data_read_ == 0 && boundary_count_ > 0) {
            // The boundary where part data should begin.
            flag_invalid_part_ = 1;
          } else {
            char* boundary_end = buf + 2 + blen;
            if (boundary_count_ > 0) flag_unmatched_boundary_ = 2;
            int is_final = 0;
            if (*boundary_end == '-' && *(boundary_end + 1) == '-') {
              is_final = 1;
              boundary_end += 2;
              if (is_complete_ != 0) {
                flag_error_ = 1;
                error->assign("Multipart: Invalid boundary (final duplicate).");
                return false;
              }
            }
            if ((*boundary_end == '\r' && *(boundary_end + 1) == '\n' &&
                 *(boundary_end + 2) == '\0') ||
                (*boundary_end == '\n' && *(boundary_end + 1) == '\0')) {
              if (*boundary_end == '\n') {
                flag_lf_line_ = 1;
              } else {
                flag_crlf_line_ = 1;
              }
              if (ProcessBoundary(is_final != 0 ? 1 : 0) < 0) {
                flag_error_ = 1;
                return false;
              }
              if (is_final != 0) is_complete_ = 1;
              processed_as_boundary = 1;
              boundary_count_++;
            } else {
              flag_error_ = 1;
              error->assign("Multipart: Invalid boundary: " + std::string(buf));
              return false;
            }
          }
        } else {
          // Looks like a boundary but is not ours.
          if (flag_boundary_quoted_ != 0 && std::strlen(buf) >= blen + 3 && buf[2] == '"' &&
              std::strncmp(buf + 3, bstr, blen) == 0) {
            flag_error_ = 1;
            error->assign("Multipart: Invalid boundary (quotes).");
            return false;
          }
          char* p = buf + 2;
          while (IsSpace(*p)) p++;
          if (p != buf + 2 && std::strncmp(p, bstr, blen) == 0) {
            flag_error_ = 1;
            error->assign("Multipart: Invalid boundary (whitespace).");
            return false;
          }
          flag_unmatched_boundary_ = 1;
        }
      } else if (buf_contains_line_ != 0) {
        // Any "--<boundary>" inside the line (3.0.9 looks at every byte; memchr finds the
        // same dashes).
        const int len = kBufSize - bufleft_;
        const char* p = buf;
        const char* const end = buf + len;
        while (p < end) {
          p = static_cast<const char*>(std::memchr(p, '-', static_cast<size_t>(end - p)));
          if (p == nullptr) break;
          if (p + 1 < end && p[1] == '-' && std::strncmp(p + 2, bstr, blen) == 0) {
            flag_unmatched_boundary_ = 1;
            break;
          }
          ++p;
        }
      }

      if (processed_as_boundary == 0) {
        if (mpp_ == nullptr) {
          flag_data_before_ = 1;
        } else if (mpp_state_ == 0) {
          if (bufleft_ == 0 || process_buffer != 0) {
            flag_error_ = 1;
            error->assign("Multipart: Part header line over " + std::to_string(kBufSize) +
                          " bytes long");
            return false;
          }
          if (ProcessPartHeader(error) < 0) {
            flag_error_ = 1;
            return false;
          }
        } else if (ProcessPartData(error) < 0) {
          flag_error_ = 1;
          return false;
        }
      }

      bufptr_ = buf;
      bufleft_ = kBufSize;
      buf_contains_line_ = (c == '\n') ? 1 : 0;
      if (c == '\n') crlf_state_ = (crlf_state_ == 1) ? 3 : 2;
      crlf_state_buf_end_ = crlf_state_;
    }

    if (c == '\r') {
      crlf_state_ = 1;
    } else if (c != '\n') {
      crlf_state_ = 0;
    }

    if (is_complete_ != 0 && inleft != 0) {
      flag_data_after_ = 1;
      return true;
    }
  }
  return true;
}

int MultipartParser::Complete(std::string* error) {
  MultipartFlags& f = result_->multipart;
  f.set = true;
  f.unmatched_boundary = flag_unmatched_boundary_;
  f.data_before = flag_data_before_;
  f.data_after = flag_data_after_;
  f.boundary_quoted = flag_boundary_quoted_;
  f.boundary_whitespace = flag_boundary_whitespace_;
  f.header_folding = flag_header_folding_;
  f.lf_line = flag_lf_line_;
  f.crlf_lf_lines = (flag_crlf_line_ != 0 && flag_lf_line_ != 0) ? 1 : 0;
  f.missing_semicolon = flag_missing_semicolon_;
  f.invalid_quoting = flag_invalid_quoting_;
  f.invalid_part = flag_invalid_part_;
  f.invalid_header_folding = flag_invalid_header_folding_;
  f.strict_error =
      (flag_error_ != 0 || flag_boundary_quoted_ != 0 || flag_boundary_whitespace_ != 0 ||
       flag_data_before_ != 0 || flag_data_after_ != 0 || flag_header_folding_ != 0 ||
       flag_lf_line_ != 0 || flag_missing_semicolon_ != 0 || flag_invalid_quoting_ != 0 ||
       flag_invalid_part_ != 0 || flag_invalid_header_folding_ != 0 ||
       flag_file_limit_exceeded_ != 0)
          ? 1
          : 0;

  if (seen_data_ != 0 && is_complete_ == 0) {
    if (boundary_count_ > 0) {
      // The final boundary may still sit in the buffer (no line ending after it).
      const char* buf = buf_.data();
      const size_t blen = boundary_.size();
      if (buf_contains_line_ != 0) {
        if (static_cast<unsigned int>(kBufSize - bufleft_) == 4 + blen && buf[0] == '-' &&
            buf[1] == '-' && std::strncmp(buf + 2, boundary_.c_str(), blen) == 0 &&
            buf[2 + blen] == '-' && buf[2 + blen + 1] == '-') {
          if (crlf_state_buf_end_ == 2 && flag_lf_line_ != 1) {
            flag_lf_line_ = 1;
            f.lf_line = 1;
            f.crlf_lf_lines = (flag_crlf_line_ != 0 && flag_lf_line_ != 0) ? 1 : 0;
            f.strict_error = flag_lf_line_;
          }
          if (mpp_substate_part_data_read_ == 0 && flag_invalid_part_ != 1) {
            flag_invalid_part_ = 1;
            f.strict_error = 1;
            f.invalid_part = 1;
          }
          if (ProcessBoundary(1) < 0) {
            flag_error_ = 1;
            return -1;
          }
          is_complete_ = 1;
        }
      }
      if (is_complete_ == 0) {
        error->assign("Multipart: Final boundary missing.");
        return 0;
      }
    } else {
      error->assign("Multipart: No boundaries found in payload.");
      return 0;
    }
  }

  int file_combined_size = 0;
  for (size_t k = 0; k < kept_; ++k) {
    const Part& m = parts_[k];
    if (m.name.empty()) continue;
    if (m.type == kFile) {
      const std::string_view name = result_->Store(m.name);
      const std::string size = std::to_string(m.file_size);
      result_->files.push_back(
          {name, result_->Store(m.filename), result_->Store(size), m.file_size});
      // 3.0.9 sums into an int.
      file_combined_size = static_cast<int>(static_cast<unsigned int>(file_combined_size) +
                                            static_cast<unsigned int>(m.file_size));
      result_->files_combined_size = {true, result_->Store(std::to_string(file_combined_size))};
    } else {
      result_->args.push_back({result_->Store(m.name), result_->Store(m.value)});
    }
  }
  return 1;
}

void MultipartParser::Run(std::string_view content_type, std::string_view body, BodyResult* result,
                          std::string* error, uint64_t* no_files_length) {
  result_ = result;
  header_.assign(content_type);
  boundary_.clear();
  no_files_length_ = 0;
  boundary_count_ = 0;
  buf_.fill(0);
  buf_contains_line_ = 0;
  bufptr_ = nullptr;
  bufleft_ = 0;
  crlf_state_ = 0;
  crlf_state_buf_end_ = 0;
  mpp_ = nullptr;
  mpp_state_ = 0;
  mpp_substate_part_data_read_ = 0;
  reserve_ = {0, 0, 0, 0};
  seen_data_ = 0;
  is_complete_ = 0;
  kept_ = 0;
  flag_error_ = flag_data_before_ = flag_data_after_ = flag_header_folding_ = 0;
  flag_boundary_quoted_ = flag_lf_line_ = flag_crlf_line_ = flag_unmatched_boundary_ = 0;
  flag_boundary_whitespace_ = flag_missing_semicolon_ = flag_invalid_quoting_ = 0;
  flag_invalid_part_ = flag_invalid_header_folding_ = flag_file_limit_exceeded_ = 0;

  result->args_are_post = true;
  if (Init(error)) Process(body, error);
  *no_files_length = no_files_length_;
  Complete(error);
}

}  // namespace ward::seclang::body

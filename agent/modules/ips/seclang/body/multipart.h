// Internal to seclang/body: the multipart/form-data processor with libmodsecurity 3.0.9's
// behaviour, line buffer and quirks included (docs/ips.md, "Request bodies").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/modules/ips/seclang/body/request_body.h"

namespace ward::seclang::body {

class MultipartParser {
 public:
  // 3.0.9's MULTIPART_BUF_SIZE: the longest line handled as one piece.
  static constexpr int kBufSize = 4096;

  // Runs 3.0.9's init / process / multipart_complete on one body and writes the parts, files,
  // flags and variables into `result`. `error` receives the processor's message (empty: none);
  // `no_files_length` what 3.0.9 counts for SecRequestBodyNoFilesLimit.
  void Run(std::string_view content_type, std::string_view body, BodyResult* result,
           std::string* error, uint64_t* no_files_length);

 private:
  enum PartType { kFormData = 1, kFile = 2 };
  struct Part {
    int type = kFormData;
    std::string name;
    std::string value;
    std::string filename;
    uint64_t file_size = 0;
    std::string last_header_name;
    // headers[0 .. nheaders) (case-insensitive names) and header_lines[0 .. nlines): the
    // vectors keep their strings (and capacity) across parts and bodies.
    std::vector<std::pair<std::string, std::string>> headers;
    size_t nheaders = 0;
    std::string last_header_line;
    std::vector<std::string> header_lines;
    size_t nlines = 0;
    unsigned int length = 0;
    void Clear();
  };

  bool Init(std::string* error);
  bool Process(std::string_view data, std::string* error);
  int Complete(std::string* error);
  int ProcessBoundary(int last_part);
  int ProcessPartHeader(std::string* error);
  int ProcessPartData(std::string* error);
  int ParseContentDisposition(const char* value);
  void ValidateQuotes(const char* data, char quote);
  std::pair<std::string, std::string>* FindHeader(std::string_view name);
  Part* NewPart();
  int CountBoundaryParams(const std::string& value);
  void AddHeaderLine();

  BodyResult* result_ = nullptr;
  std::string header_;
  std::string boundary_;
  uint64_t no_files_length_ = 0;
  int boundary_count_ = 0;
  std::array<char, kBufSize + 2> buf_{};
  int buf_contains_line_ = 0;
  char* bufptr_ = nullptr;
  int bufleft_ = 0;
  int crlf_state_ = 0;
  int crlf_state_buf_end_ = 0;
  Part* mpp_ = nullptr;  // the part being built: one of parts_ (at index parts_used_)
  int mpp_state_ = 0;
  int mpp_substate_part_data_read_ = 0;
  std::array<char, 4> reserve_{};
  int seen_data_ = 0;
  int is_complete_ = 0;
  // Parts kept (names non-empty) are parts_[0 .. kept_); parts_ beyond are reused storage.
  std::vector<Part> parts_;
  size_t kept_ = 0;
  // Scratch strings reused across calls (3.0.9's temporaries), so a warm parser allocates
  // nothing for bodies like those it has seen.
  std::string lower_;
  std::string cd_name_;
  std::string cd_value_;
  std::string cd_filename_star_;
  std::string header_value_;
  std::string padded_;
  std::string new_value_;
  std::string header_name_;

  int flag_error_ = 0;
  int flag_data_before_ = 0;
  int flag_data_after_ = 0;
  int flag_header_folding_ = 0;
  int flag_boundary_quoted_ = 0;
  int flag_lf_line_ = 0;
  int flag_crlf_line_ = 0;
  int flag_unmatched_boundary_ = 0;
  int flag_boundary_whitespace_ = 0;
  int flag_missing_semicolon_ = 0;
  int flag_invalid_quoting_ = 0;
  int flag_invalid_part_ = 0;
  int flag_invalid_header_folding_ = 0;
  int flag_file_limit_exceeded_ = 0;
};

}  // namespace ward::seclang::body

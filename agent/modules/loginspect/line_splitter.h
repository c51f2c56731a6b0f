// Turns the bytes of a log file into records (docs/loginspect.md, "Sources"):
// LineSplitter cuts lines at '\n' (a trailing '\r' is kept: the bytes are the log's), cuts a line
// longer than max_line to its first max_line bytes and marks it truncated (the rest of it, up to
// the next '\n', is skipped), and knows the file offset where each line started and ended.
// MultilineJoiner groups lines into records: a line that matches the start pattern (PCRE2)
// begins a record; other lines join the current one with '\n'; a record is complete when the
// next one starts or when Flush() says no more is coming (quiet time, end of a rotated file).
// Bytes are never changed: invalid UTF-8 and binary data pass through as they are.
// Thread-safety: plain values; one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ward::agent::loginspect {

struct Line {
  std::string text;
  bool truncated = false;
  uint64_t start = 0;  // file offset of the line's first byte
  uint64_t end = 0;    // file offset after its '\n' (where the next one starts)
};

class LineSplitter {
 public:
  // REQUIRES: max_line > 0.
  LineSplitter(uint64_t max_line, uint64_t offset) : max_line_(max_line), offset_(offset) {
    line_start_ = offset;
  }
  // `bytes` were read at offset(); complete lines are appended to `out`.
  void Feed(std::string_view bytes, std::vector<Line>& out);
  // The file will not grow (rotated away, truncated): a partial last line becomes a line.
  void Finish(std::vector<Line>& out);
  // Skips up to `to` (a configured backlog bound was hit); the partial line is dropped and
  // reading resumes after the next '\n'. Returns the bytes skipped.
  uint64_t SkipTo(uint64_t to);
  // Where the next byte read goes.
  uint64_t offset() const { return offset_; }
  // Where the first line not yet returned starts (the bookmark).
  uint64_t consumed() const { return skipping_ ? offset_ : line_start_; }
  bool has_partial() const { return !partial_.empty() || skipping_; }

 private:
  uint64_t max_line_;
  uint64_t offset_;
  uint64_t line_start_;
  std::string partial_;
  bool skipping_ = false;  // dropping the rest of an over-long line
};

class MultilineJoiner {
 public:
  // Fails (nullptr) when the pattern does not compile (the policy was validated before).
  static std::unique_ptr<MultilineJoiner> Create(const std::string& start_pattern,
                                                 uint64_t max_record);
  ~MultilineJoiner();
  void Push(Line line, std::vector<Line>& out);
  void Flush(std::vector<Line>& out);
  bool pending() const { return pending_.has_value(); }
  // Offset where the pending record starts (valid when pending()).
  uint64_t pending_start() const { return pending_ ? pending_->start : 0; }

 private:
  MultilineJoiner() = default;
  struct Code;
  std::unique_ptr<Code> code_;
  uint64_t max_record_ = 0;
  std::optional<Line> pending_;
};

}  // namespace ward::agent::loginspect

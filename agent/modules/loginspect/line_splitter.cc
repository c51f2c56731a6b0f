#include "agent/modules/loginspect/line_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace ward::agent::loginspect {

void LineSplitter::Feed(std::string_view bytes, std::vector<Line>& out) {
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    size_t take = nl == std::string_view::npos ? bytes.size() : nl;
    if (skipping_) {
      offset_ += take;
      bytes.remove_prefix(take);
      if (nl == std::string_view::npos) return;
      offset_ += 1;
      bytes.remove_prefix(1);
      skipping_ = false;
      line_start_ = offset_;
      continue;
    }
    size_t room = max_line_ - partial_.size();
    if (take > room) {
      // Over-long: the first max_line bytes are the line; the rest is skipped.
      partial_.append(bytes.substr(0, room));
      offset_ += room;
      bytes.remove_prefix(room);
      out.push_back({std::move(partial_), true, line_start_, offset_});
      partial_.clear();
      skipping_ = true;
      continue;
    }
    partial_.append(bytes.substr(0, take));
    offset_ += take;
    bytes.remove_prefix(take);
    if (nl == std::string_view::npos) return;
    offset_ += 1;
    bytes.remove_prefix(1);
    out.push_back({std::move(partial_), false, line_start_, offset_});
    partial_.clear();
    line_start_ = offset_;
  }
}

void LineSplitter::Finish(std::vector<Line>& out) {
  if (!partial_.empty()) out.push_back({std::move(partial_), false, line_start_, offset_});
  partial_.clear();
  skipping_ = false;
  line_start_ = offset_;
}

uint64_t LineSplitter::SkipTo(uint64_t to) {
  if (to <= offset_) return 0;
  uint64_t skipped = to - line_start_;
  partial_.clear();
  offset_ = to;
  line_start_ = to;
  skipping_ = true;
  return skipped;
}

struct MultilineJoiner::Code {
  pcre2_code* code = nullptr;
  pcre2_match_data* md = nullptr;
  ~Code() {
    if (md != nullptr) pcre2_match_data_free(md);
    if (code != nullptr) pcre2_code_free(code);
  }
};

MultilineJoiner::~MultilineJoiner() = default;

std::unique_ptr<MultilineJoiner> MultilineJoiner::Create(const std::string& start_pattern,
                                                         uint64_t max_record) {
  int err = 0;
  PCRE2_SIZE off = 0;
  auto c = std::make_unique<Code>();
  c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(start_pattern.data()), start_pattern.size(),
                          0, &err, &off, nullptr);
  if (c->code == nullptr) return nullptr;
  pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);
  c->md = pcre2_match_data_create_from_pattern(c->code, nullptr);
  std::unique_ptr<MultilineJoiner> j(new MultilineJoiner());
  j->code_ = std::move(c);
  j->max_record_ = max_record;
  return j;
}

void MultilineJoiner::Push(Line line, std::vector<Line>& out) {
  int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(line.text.data()),
                       line.text.size(), 0, 0, code_->md, nullptr);
  bool start = rc >= 0;
  if (start || !pending_) {
    if (pending_) out.push_back(std::move(*pending_));
    pending_ = std::move(line);
    return;
  }
  // A continuation line.
  Line& p = *pending_;
  p.end = line.end;
  p.truncated = p.truncated || line.truncated;
  if (p.text.size() >= max_record_) {
    p.truncated = true;
    return;
  }
  p.text.push_back('\n');
  size_t room = max_record_ - std::min<uint64_t>(max_record_, p.text.size());
  if (line.text.size() > room) {
    p.text.append(line.text, 0, room);
    p.truncated = true;
  } else {
    p.text.append(line.text);
  }
}

void MultilineJoiner::Flush(std::vector<Line>& out) {
  if (pending_) out.push_back(std::move(*pending_));
  pending_.reset();
}

}  // namespace ward::agent::loginspect

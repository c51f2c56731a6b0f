#include "agent/modules/loginspect/expression.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <fmt/format.h>
#include <pcre2.h>

#include <array>
#include <cstring>

namespace ward::agent::loginspect {

namespace {
bool g_pcre2_prefilters = true;  // SetPcre2PrefiltersForTesting
}  // namespace

// PCRE2 with JIT; match and depth limits bound the work per line.
class Pcre2Pattern {
 public:
  static constexpr uint32_t kMatchLimit = 200000;
  static constexpr uint32_t kDepthLimit = 10000;

  static Result<std::shared_ptr<Pcre2Pattern>> Compile(std::string_view pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     0, &err, &off, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(err, buf, sizeof(buf));
      return InvalidArgument(
          fmt::format("pcre2 at offset {}: {}", off, reinterpret_cast<const char*>(buf)));
    }
    auto p = std::make_shared<Pcre2Pattern>();
    p->code_ = code;
    // Falls back to the interpreter when JIT is not available.
    p->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    uint32_t groups = 0;
    (void)pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
    p->pairs_ = groups + 1;
    p->context_ = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(p->context_, kMatchLimit);
    pcre2_set_depth_limit(p->context_, kDepthLimit);
    (void)pcre2_pattern_info(code, PCRE2_INFO_MINLENGTH, &p->min_length_);
    p->ComputeFirstBytes();
    return p;
  }
  Pcre2Pattern() = default;
  Pcre2Pattern(const Pcre2Pattern&) = delete;
  Pcre2Pattern& operator=(const Pcre2Pattern&) = delete;
  ~Pcre2Pattern() {
    if (context_ != nullptr) pcre2_match_context_free(context_);
    if (code_ != nullptr) pcre2_code_free(code_);
  }

  bool Match(const char* text, long* end, std::vector<std::string>* captures,
             bool skip_unset) const {
    // One match block per thread, reused: no allocation per line for the usual pattern.
    struct Block {
      pcre2_match_data* md = pcre2_match_data_create(kSharedPairs, nullptr);
      ~Block() { pcre2_match_data_free(md); }
    };
    // Cheap rejections, exact: (anchored) a first byte no match can start with, or shorter than
    // any match. Most decoder prematches are anchored and tried on every line.
    unsigned char first = static_cast<unsigned char>(text[0]);
    if (g_pcre2_prefilters) {
      if (has_first_bytes_ && first != 0 && !first_bytes_[first]) return false;
      if (min_length_ > 0 && strnlen(text, min_length_) < min_length_) return false;
    }
    size_t len = std::char_traits<char>::length(text);
    thread_local Block shared;
    bool own = pairs_ > kSharedPairs || shared.md == nullptr;
    pcre2_match_data* md = own ? pcre2_match_data_create_from_pattern(code_, nullptr) : shared.md;
    if (md == nullptr) return false;
    // pcre2_jit_match: the JIT's fast path, without pcre2_match's per-call checks (same limits).
    int rc =
        jit_ ? pcre2_jit_match(code_, reinterpret_cast<PCRE2_SPTR>(text), len, 0, 0, md, context_)
             : pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text), len, 0, 0, md, context_);
    bool ok = rc > 0;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      limit_hit_.store(true, std::memory_order_relaxed);
    }
    if (ok) {
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (end != nullptr) *end = static_cast<long>(ov[1]) - 1;
      if (captures != nullptr) {
        captures->clear();
        for (int i = 1; i < rc; ++i) {
          if (ov[2 * i] == PCRE2_UNSET) {
            if (!skip_unset) captures->emplace_back();
          } else {
            captures->emplace_back(text + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
          }
        }
      }
    }
    if (own) pcre2_match_data_free(md);
    return ok;
  }
  bool limit_hit() const { return limit_hit_.load(std::memory_order_relaxed); }

 private:
  // For an anchored pattern (every alternative starts with ^ or \A; PCRE2 reports it in
  // ALLOPTIONS), the bytes a match can start with: each byte is tried alone as a hard partial
  // match — "no match" means no subject starting with it can match at offset 0, the only place
  // an anchored pattern matches. Any other answer (match, partial, error) keeps the byte.
  void ComputeFirstBytes() {
    uint32_t options = 0;
    if (pcre2_pattern_info(code_, PCRE2_INFO_ALLOPTIONS, &options) != 0 ||
        (options & PCRE2_ANCHORED) == 0)
      return;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    if (md == nullptr) return;
    bool any_excluded = false;
    for (int b = 0; b < 256; ++b) {
      unsigned char c = static_cast<unsigned char>(b);
      int rc = pcre2_match(code_, &c, 1, 0, PCRE2_PARTIAL_HARD | PCRE2_NO_JIT, md, context_);
      first_bytes_[b] = rc != PCRE2_ERROR_NOMATCH;
      any_excluded = any_excluded || !first_bytes_[b];
    }
    pcre2_match_data_free(md);
    has_first_bytes_ = any_excluded;
  }

  static constexpr uint32_t kSharedPairs = 64;
  pcre2_code* code_ = nullptr;
  pcre2_match_context* context_ = nullptr;
  uint32_t pairs_ = 1;       // capture groups + 1
  uint32_t min_length_ = 0;  // PCRE2_INFO_MINLENGTH: no shorter subject matches
  bool has_first_bytes_ = false;
  std::array<bool, 256> first_bytes_{};
  bool jit_ = false;
  mutable std::atomic<bool> limit_hit_{false};
};

void Expression::SetPcre2PrefiltersForTesting(bool on) { g_pcre2_prefilters = on; }

Result<ExpressionType> ParseExpressionType(std::string_view name) {
  if (name == "osmatch") return ExpressionType::kOsMatch;
  if (name == "osregex") return ExpressionType::kOsRegex;
  if (name == "pcre2") return ExpressionType::kPcre2;
  if (name == "string") return ExpressionType::kString;
  if (name == "osip_array") return ExpressionType::kIpList;
  return InvalidArgument(fmt::format("unknown expression type '{}'", name));
}

Result<Expression> Expression::Compile(ExpressionType type, std::string_view pattern, bool negate,
                                       bool want_captures) {
  Expression e;
  e.type_ = type;
  e.negate_ = negate;
  e.want_captures_ = want_captures;
  e.raw_ = std::string(pattern);
  switch (type) {
    case ExpressionType::kOsMatch: {
      auto m = OsMatch::Compile(pattern);
      if (!m) return m.error();
      e.osmatch_ = std::make_shared<const OsMatch>(std::move(*m));
      break;
    }
    case ExpressionType::kOsRegex: {
      auto r = OsRegex::Compile(pattern);
      if (!r) return r.error();
      e.osregex_ = std::make_shared<const OsRegex>(std::move(*r));
      break;
    }
    case ExpressionType::kPcre2: {
      auto p = Pcre2Pattern::Compile(pattern);
      if (!p) return p.error();
      e.pcre2_ = *p;
      break;
    }
    case ExpressionType::kString:
      break;
    case ExpressionType::kIpList: {
      e.raw_.clear();
      if (auto st = e.Append(pattern); !st.ok()) return st;
      break;
    }
  }
  return e;
}

Status Expression::Append(std::string_view pattern) {
  if (type_ == ExpressionType::kIpList) {
    IpNet net;
    std::string_view p = pattern;
    while (!p.empty() && (p.front() == ' ' || p.front() == '\t')) p.remove_prefix(1);
    while (!p.empty() && (p.back() == ' ' || p.back() == '\t' || p.back() == '\n'))
      p.remove_suffix(1);
    if (!p.empty() && p.front() == '!') {
      net.negated = true;
      p.remove_prefix(1);
    }
    net.text = std::string(p);
    std::string addr(p);
    int bits = 32;
    if (auto slash = addr.find('/'); slash != std::string::npos) {
      std::string m = addr.substr(slash + 1);
      addr.resize(slash);
      in_addr mask{};
      if (m.find('.') != std::string::npos && inet_pton(AF_INET, m.c_str(), &mask) == 1) {
        net.mask = ntohl(mask.s_addr);
        bits = -1;
      } else {
        bits = std::atoi(m.c_str());
        if (bits < 0 || bits > 32) return InvalidArgument(fmt::format("bad netmask '{}'", pattern));
      }
    }
    in_addr a{};
    if (inet_pton(AF_INET, addr.c_str(), &a) == 1) {
      net.v4 = true;
      net.addr = ntohl(a.s_addr);
      if (bits >= 0) net.mask = bits == 0 ? 0 : (~uint32_t{0} << (32 - bits));
      net.addr &= net.mask;
    }
    if (!raw_.empty()) raw_ += ",";
    raw_ += std::string(pattern);
    ips_.push_back(std::move(net));
    return Status::Ok();
  }
  return InvalidArgument("only IP lists take several entries");
}

bool Expression::Match(const char* text, long* end, std::vector<std::string>* captures,
                       const char* lowered) const {
  if (text == nullptr) return false;
  long local_end = -1;
  long* e = end != nullptr ? end : &local_end;
  bool hit = false;
  switch (type_) {
    case ExpressionType::kOsMatch:
      hit = osmatch_->Match(text, lowered);
      *e = -1;
      break;
    case ExpressionType::kOsRegex:
      hit = osregex_->Execute(text, e, want_captures_ ? captures : nullptr, lowered);
      break;
    case ExpressionType::kPcre2:
      hit = pcre2_->Match(text, e, captures, skip_unset_);
      break;
    case ExpressionType::kString:
      hit = raw_ == text;
      *e = static_cast<long>(std::char_traits<char>::length(text)) - 1;
      break;
    case ExpressionType::kIpList: {
      in_addr a{};
      bool v4 = inet_pton(AF_INET, text, &a) == 1;
      uint32_t ip = v4 ? ntohl(a.s_addr) : 0;
      bool positive = true;
      bool found = false;
      for (const IpNet& net : ips_) {
        if (net.negated) positive = false;
        bool in = net.v4 ? (v4 && (ip & net.mask) == net.addr) : net.text == text;
        if (in) {
          hit = !net.negated;
          found = true;
          break;
        }
      }
      if (!found) hit = !positive;
      break;
    }
  }
  return negate_ ? !hit : hit;
}

bool Expression::limit_hit() const { return pcre2_ != nullptr && pcre2_->limit_hit(); }

}  // namespace ward::agent::loginspect

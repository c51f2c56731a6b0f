// A multi-pattern prefilter for @rx (docs/ips.md, "The regex prefilter"): the regexes of the rules
// that share one transformation chain, compiled into one Hyperscan database in prefilter mode, so
// that a long value is scanned once for all of them and PCRE2 runs only for the rules whose
// pattern may match. Hyperscan's prefilter mode matches at least whenever the pattern does
// (a superset), so "no hit" proves PCRE2 would not match either and the verdict, captures
// included, stays PCRE2's — libmodsecurity's.
//
// A RegexPrefilter is built once at rule-load time and is then immutable: any number of threads
// may Scan() it at once, each with its own PrefilterScratch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ward::seclang {

class RegexPrefilter;

// Per-thread Hyperscan scratch space, grown to fit every database it is used with.
class PrefilterScratch {
 public:
  PrefilterScratch() = default;
  ~PrefilterScratch();
  PrefilterScratch(const PrefilterScratch&) = delete;
  PrefilterScratch& operator=(const PrefilterScratch&) = delete;

 private:
  friend class RegexPrefilter;
  void* scratch_ = nullptr;  // hs_scratch_t
};

class RegexPrefilter {
 public:
  // Compiles `patterns` (PCRE2 syntax, with libmodsecurity's DOTALL | MULTILINE) in prefilter
  // mode. A pattern Hyperscan cannot take is left out (Covers() is false: its rule always runs
  // PCRE2). Returns null when no pattern could be taken.
  static std::unique_ptr<RegexPrefilter> Build(const std::vector<std::string>& patterns);
  ~RegexPrefilter();
  RegexPrefilter(const RegexPrefilter&) = delete;
  RegexPrefilter& operator=(const RegexPrefilter&) = delete;

  size_t size() const { return covered_.size(); }
  bool Covers(uint32_t index) const { return covered_[index]; }
  size_t covered() const { return covered_count_; }
  // 64-bit words a Scan() result needs.
  size_t Words() const { return (covered_.size() + 63) / 64; }

  // Scans `input` once and sets bit i of `hits` (Words() words, zeroed here) for every covered
  // pattern i that may match. Returns false when the scan could not run (the caller then runs
  // PCRE2 for every rule, as without a prefilter).
  bool Scan(std::string_view input, PrefilterScratch& scratch, uint64_t* hits) const;

 private:
  RegexPrefilter() = default;
  void* db_ = nullptr;  // hs_database_t
  std::vector<bool> covered_;
  size_t covered_count_ = 0;
};

}  // namespace ward::seclang

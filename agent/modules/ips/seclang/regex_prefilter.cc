#include "agent/modules/ips/seclang/regex_prefilter.h"

#include <hs/hs.h>

#include <cstring>

namespace ward::seclang {

PrefilterScratch::~PrefilterScratch() { hs_free_scratch(static_cast<hs_scratch_t*>(scratch_)); }

RegexPrefilter::~RegexPrefilter() { hs_free_database(static_cast<hs_database_t*>(db_)); }

std::unique_ptr<RegexPrefilter> RegexPrefilter::Build(const std::vector<std::string>& patterns) {
  std::unique_ptr<RegexPrefilter> pf(new RegexPrefilter());
  pf->covered_.assign(patterns.size(), true);
  // libmodsecurity compiles with PCRE2_DOTALL | PCRE2_MULTILINE; SINGLEMATCH: one callback per
  // pattern is all a prefilter needs; ALLOWEMPTY: a pattern that matches the empty string then
  // matches every value (its rule always runs PCRE2).
  constexpr unsigned kFlags = HS_FLAG_DOTALL | HS_FLAG_MULTILINE | HS_FLAG_PREFILTER |
                              HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
  // Compile all; a pattern Hyperscan refuses is named by the error (its index): left out, and
  // the rest compiled again.
  for (;;) {
    std::vector<const char*> exprs;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (size_t i = 0; i < patterns.size(); ++i) {
      if (!pf->covered_[i]) continue;
      exprs.push_back(patterns[i].c_str());
      flags.push_back(kFlags);
      ids.push_back(static_cast<unsigned>(i));
    }
    if (exprs.empty()) return nullptr;
    hs_database_t* db = nullptr;
    hs_compile_error_t* error = nullptr;
    const hs_error_t rc =
        hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                         static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, nullptr, &db, &error);
    if (rc == HS_SUCCESS) {
      pf->db_ = db;
      break;
    }
    const int bad = error != nullptr ? error->expression : -1;
    hs_free_compile_error(error);
    if (bad < 0 || static_cast<size_t>(bad) >= ids.size()) return nullptr;  // not one pattern's
    pf->covered_[ids[static_cast<size_t>(bad)]] = false;
  }
  for (bool c : pf->covered_) pf->covered_count_ += c ? 1 : 0;
  return pf;
}

namespace {

int OnMatch(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
            unsigned int /*flags*/, void* ctx) {
  static_cast<uint64_t*>(ctx)[id / 64] |= uint64_t{1} << (id % 64);
  return 0;
}

}  // namespace

bool RegexPrefilter::Scan(std::string_view input, PrefilterScratch& scratch, uint64_t* hits) const {
  std::memset(hits, 0, Words() * sizeof(uint64_t));
  auto* db = static_cast<const hs_database_t*>(db_);
  auto** s = reinterpret_cast<hs_scratch_t**>(&scratch.scratch_);
  // Grows the thread's scratch only when this database needs more than it has.
  if (hs_alloc_scratch(db, s) != HS_SUCCESS) return false;
  // Hyperscan takes lengths as unsigned int: a longer value is not prefiltered.
  if (input.size() > UINT32_MAX) return false;
  return hs_scan(db, input.data(), static_cast<unsigned>(input.size()), 0, *s, OnMatch, hits) ==
         HS_SUCCESS;
}

}  // namespace ward::seclang

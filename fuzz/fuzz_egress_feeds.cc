// Feed files as egress loads them (agent/modules/egress/reputation.h): the first byte chooses the
// format (hosts, domains, URLhaus CSV, Spamhaus DROP, custom), the rest is the file. Every name the
// load counted must then be found, and lookups of the same bytes must not fail; the strict check
// of managed feeds (CheckFeed) refuses exactly what the load skipped a line of.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/modules/egress/reputation.h"

using namespace ward::agent::egress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr FeedFormat kFormats[] = {FeedFormat::kHosts, FeedFormat::kDomains,
                                            FeedFormat::kUrlhausCsv, FeedFormat::kSpamhausDrop,
                                            FeedFormat::kCustom};
  FeedFormat format = kFormats[data[0] % 5];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  Reputation r;
  uint16_t id = r.AddList({"fuzz", "fuzz", Risk::kDangerous, (data[0] & 0x80) != 0});
  LoadStats st = r.Load(id, format, text);
  (void)st;
  size_t nl = text.find('\n');
  std::string_view first = text.substr(0, nl);
  if (auto n = NormalizeName(first)) (void)r.MatchName(*n);
  (void)r.MatchUrl(first);
  (void)r.MatchAddress(first);
  (void)r.BlockedCidrs(false, SecurityLevel::kHigh);
  (void)r.BlockedCidrs(true, SecurityLevel::kLow);
  // The strict check of managed feeds (manager upload, agent install) agrees with the load: it
  // refuses exactly the files in which the load skipped a line (or that hold a NUL byte).
  size_t entries = 0;
  ward::Status s = CheckFeed(format, text, &entries);
  const bool nul = text.find('\0') != std::string_view::npos;
  if (s.ok() != (st.skipped == 0 && !nul)) __builtin_trap();
  if (s.ok() && entries != st.names + st.url_prefixes + st.cidrs) __builtin_trap();
  return 0;
}

// Egress reputation lookups (bench/egress/README.md; not a test): a domain list of N names
// (default 1,000,000; generated, deterministic) and a Spamhaus DROP list of 1,500 CIDRs are loaded
// through the module's own loader; prints the load time, the memory the lists take (RSS growth
// and the index's own count), and lookups per second for names under listed domains (hits) and
// names that are not listed (misses), and for addresses against the CIDRs.
//
//   egress_names_bench [--names N] [--lookups M] [--write-list FILE]
//
// --write-list writes the generated domain list (one name a line) for the Squid anchor
// (bench/egress/run.sh: the same names as a `dstdomain` ACL).
#include <fmt/format.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "agent/modules/egress/reputation.h"

namespace {

using ward::agent::egress::FeedFormat;
using ward::agent::egress::NormalizeName;
using ward::agent::egress::Reputation;
using ward::agent::egress::Risk;
using Clock = std::chrono::steady_clock;

int64_t RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

std::string Word(std::mt19937_64& rng, int min, int max) {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<int> len(min, max), ch(0, 35);
  std::string w(static_cast<size_t>(len(rng)), 'a');
  for (char& c : w) c = kLetters[ch(rng)];
  return w;
}

// "w1-w2.tld" or "sub.w1.tld": about the length of real block-list names (~20 bytes).
std::string Name(std::mt19937_64& rng) {
  static constexpr const char* kTlds[] = {"com", "net", "org", "info", "xyz", "ru", "top", "io"};
  std::uniform_int_distribution<int> pick(0, 7), shape(0, 2);
  std::string n = Word(rng, 5, 12);
  if (shape(rng) == 0) n = Word(rng, 3, 6) + "." + n;
  if (shape(rng) == 1) n += "-" + Word(rng, 3, 8);
  return n + "." + kTlds[pick(rng)];
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU time of this thread (user + system), in seconds: on a shared machine the wall time of the
// load also counts other processes' turns.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  size_t names = 1'000'000, lookups = 2'000'000;
  std::string write_list;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--names")) names = std::stoull(argv[i + 1]);
    if (!std::strcmp(argv[i], "--lookups")) lookups = std::stoull(argv[i + 1]);
    if (!std::strcmp(argv[i], "--write-list")) write_list = argv[i + 1];
  }
  std::mt19937_64 rng(17);
  std::vector<std::string> listed;
  listed.reserve(names);
  std::string text;
  for (size_t i = 0; i < names; ++i) {
    listed.push_back(Name(rng));
    text += listed.back();
    text += '\n';
  }
  std::string drop;
  for (int i = 0; i < 1500; ++i) {
    // Networks of /20 to /24 (host bits zero, as the real list's), spread over the space.
    const int prefix = 20 + i % 5;
    const int third = ((i * 13) % 256) & (0xFF << (24 - prefix)) & 0xFF;
    drop += fmt::format("{}.{}.{}.0/{} ; SBL{}\n", 1 + i % 223, (i * 7) % 256, third, prefix, i);
  }
  // Queries: half under listed names (a random subdomain), half not listed.
  std::vector<std::string> queries;
  queries.reserve(20000);
  for (int i = 0; i < 10000; ++i) {
    queries.push_back("www." + listed[rng() % listed.size()]);
    queries.push_back(Name(rng) + ".example");
  }
  const int64_t rss_before = RssKb();
  auto t0 = Clock::now();
  const double cpu0 = CpuSeconds();
  Reputation rep;
  uint16_t id = rep.AddList({"bench", "malware", Risk::kDangerous, false});
  auto st = rep.Load(id, FeedFormat::kDomains, text);
  uint16_t drop_id = rep.AddList({"drop", "hijacked", Risk::kDangerous, false});
  auto dst = rep.Load(drop_id, FeedFormat::kSpamhausDrop, drop);
  const double load_s = Seconds(Clock::now() - t0);
  const double load_cpu = CpuSeconds() - cpu0;
  const int64_t rss_after = RssKb();
  if (!write_list.empty()) {
    // Squid refuses an ACL with a name and one of its parent domains, or a name twice: write each
    // name once, and none that a listed parent already covers (the same set of names matches).
    std::ofstream out(write_list);
    ward::agent::egress::NameIndex seen;
    for (const std::string& n : listed) {
      size_t dot = n.find('.');
      if (dot != std::string::npos && rep.MatchName(std::string_view(n).substr(dot + 1))) continue;
      if (seen.Insert(n, 0)) out << n << '\n';
    }
  }
  std::string().swap(text);

  size_t hits = 0;
  const double c1 = CpuSeconds();
  for (size_t i = 0; i < lookups; ++i) {
    const std::string& q = queries[i % queries.size()];
    if (auto n = NormalizeName(q); n && rep.MatchName(*n)) ++hits;
  }
  const double name_s = CpuSeconds() - c1;
  size_t ip_hits = 0;
  const double c2 = CpuSeconds();
  const size_t ip_lookups = 200'000;
  for (size_t i = 0; i < ip_lookups; ++i) {
    std::string ip = fmt::format("{}.{}.{}.{}", 1 + i % 223, (i * 7) % 256, i % 256, i % 254 + 1);
    if (rep.MatchAddress(ip)) ++ip_hits;
  }
  const double ip_s = CpuSeconds() - c2;
  std::printf(
      "names loaded      %zu (skipped %zu), CIDRs %zu\n"
      "load time         %.3f s (%.3f s CPU)\n"
      "memory            %.1f MB RSS growth, %.1f MB by the index's count\n"
      "name lookups      %.2f M/s per core (%.0f ns CPU each; %zu of %zu matched)\n"
      "address lookups   %.2f M/s per core (%.0f ns CPU each, linear over 1,500 CIDRs; %zu "
      "matched)\n",
      st.names, st.skipped, dst.cidrs, load_s, load_cpu, (rss_after - rss_before) / 1024.0,
      rep.MemoryBytes() / 1048576.0, lookups / name_s / 1e6, name_s * 1e9 / lookups, hits, lookups,
      ip_lookups / ip_s / 1e6, ip_s * 1e9 / ip_lookups, ip_hits);
  return 0;
}

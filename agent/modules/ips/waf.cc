#include "agent/modules/ips/waf.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <iterator>

#include "agent/modules/ips/modsecurity_waf.h"
#include "agent/modules/ips/path_prefix.h"
#include "agent/modules/ips/seclang/ward_waf.h"

namespace ward::agent::ips {
namespace {

bool ScoringRule(int64_t id) {
  if (id >= kWardRuleIdBase && id < kWardRuleIdBase + 1000) return false;
  int64_t family = id / 1000;
  return !(family == 949 || family == 959 || family == 980 || family == 999 || family == 901 ||
           family == 900);
}

}  // namespace

int CrsScore(const RuleMatch& m) {
  if (!ScoringRule(m.id)) return 0;
  switch (m.severity) {
    case 0:
    case 1:
    case 2:
      return 5;
    case 3:
      return 4;
    case 4:
      return 3;
    case 5:
      return 2;
    default:
      return 0;
  }
}

Intervention DecideIntervention(const IpsConfig& config, bool ward_scoring,
                                const Intervention& engine, std::span<const RuleMatch> matches) {
  if (config.mode != Mode::kPrevent) return {};
  if (engine.disruptive) return engine;
  if (!ward_scoring) return {};
  int score = 0;
  for (const auto& m : matches) {
    if (config.RuleMode(m.id) == Mode::kPrevent) score += CrsScore(m);
  }
  if (score >= config.crs.inbound_anomaly_threshold) return {true, 403, 0};
  return {};
}

std::optional<std::string_view> WithinBodyLimit(std::string_view bytes, uint64_t limit,
                                                uint64_t* taken) {
  if (*taken >= limit) return std::nullopt;
  const size_t take = std::min<uint64_t>(bytes.size(), limit - *taken);
  *taken += take;
  return bytes.substr(0, take);
}

AnomalyScores AnomalyScoresOf(int total, int outbound, std::span<const RuleMatch> matches) {
  // The CRS adds the outbound score into tx.anomaly_score at the end of phase 4 (959).
  AnomalyScores s{0, std::max(outbound, 0)};
  if (total >= 0) {
    s.inbound = std::max(total - s.outbound, 0);
  } else {
    for (const auto& m : matches) s.inbound += CrsScore(m);
  }
  return s;
}

int ParseScore(const std::string& value) {
  char* end = nullptr;
  long n = std::strtol(value.c_str(), &end, 10);
  if (end == value.c_str()) return -1;
  return static_cast<int>(n);
}

std::string NextTransactionId(std::string_view tag) {
  static const std::string stamp =
      fmt::format("{:x}{:x}-", static_cast<uint64_t>(std::time(nullptr)), ::getpid());
  static std::atomic<uint64_t> counter{0};
  std::string id(tag);
  id += stamp;
  fmt::format_to(std::back_inserter(id), "{:x}", counter.fetch_add(1, std::memory_order_relaxed));
  return id;
}

// --- WafLog ---

Result<std::unique_ptr<WafLog>> WafLog::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("ips.log_file: open {}", path));
  auto log = std::unique_ptr<WafLog>(new WafLog());
  log->fd_ = fd;
  return log;
}

WafLog::~WafLog() {
  if (fd_ >= 0) ::close(fd_);
}

void WafLog::Write(std::string_view line) {
  std::string out(line);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  out.push_back('\n');
  std::lock_guard lock(mu_);
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::write(fd_, out.data() + off, out.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// --- engines ---

std::vector<const Exclusion*> PrefixExclusions(const IpsConfig& config, std::string_view uri) {
  std::vector<const Exclusion*> out;
  for (const Exclusion& e : config.exclusions) {
    if (!e.path_prefix.empty() && PathPrefixMatches(uri, e.path_prefix)) out.push_back(&e);
  }
  return out;
}

const WafEngine& WafEngineFor(WafEngineKind kind) {
  static const ModSecurityEngine modsecurity;
  static const WardWafEngine ward;
  switch (kind) {
    case WafEngineKind::kLibModSecurity:
      return modsecurity;
    case WafEngineKind::kWard:
      return ward;
  }
  return modsecurity;
}

Result<std::shared_ptr<const WafRules>> WafRules::Load(const IpsConfig& config,
                                                       std::shared_ptr<WafLog> log) {
  return WafEngineFor(config.engine).Load(config, std::move(log));
}

}  // namespace ward::agent::ips

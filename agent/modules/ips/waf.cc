#include "agent/modules/ips/waf.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "agent/modules/ips/modsecurity_waf.h"
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

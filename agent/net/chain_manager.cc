#include "agent/net/chain_manager.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "common/log.h"

extern char** environ;

namespace ward::net {
namespace {

constexpr std::string_view kTopIn = "WARD_INPUT";
constexpr std::string_view kTopOut = "WARD_OUTPUT";
constexpr std::string_view kPrefix = "WARD_";
constexpr std::string_view kComment = "ward";

std::string_view SlotName(Slot slot) {
  switch (slot) {
    case Slot::kFirewall:
      return "FW";
    case Slot::kIps:
      return "IPS";
    case Slot::kEgress:
      return "EGRESS";
  }
  return "UNKNOWN";
}

std::string TopJump(Hook hook) {
  return fmt::format("-m comment --comment {} -j {}", kComment,
                     hook == Hook::kInput ? kTopIn : kTopOut);
}

std::vector<std::string_view> Tokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsWardChain(std::string_view chain) { return chain.starts_with(kPrefix); }

// A rule (outside Ward's chains) that jumps into one of them or carries Ward's comment.
bool IsWardRule(std::string_view spec) {
  auto t = Tokens(spec);
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    if ((t[i] == "-j" || t[i] == "-g") && IsWardChain(t[i + 1])) return true;
    if (t[i] == "--comment" && (t[i + 1] == kComment || t[i + 1] == "\"ward\"")) return true;
  }
  return false;
}

// One argument as iptables-restore reads it.
std::string Quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\"'") == std::string::npos) return arg;
  std::string out = "\"";
  for (char ch : arg) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string ReadFd(int fd) {
  std::string out;
  ::lseek(fd, 0, SEEK_SET);
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct ToolRun {
  int rc = -1;
  std::string out;
  std::string err;
};

// Runs `args` with `input` on its stdin; stdout and stderr are kept in memory files (no pipes:
// no deadlock, no SIGPIPE).
Result<ToolRun> RunTool(const std::vector<std::string>& args, std::string_view input) {
  struct Fd {
    int fd = -1;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  } in, out, err;
  in.fd = ::memfd_create("ward-net-in", MFD_CLOEXEC);
  out.fd = ::memfd_create("ward-net-out", MFD_CLOEXEC);
  err.fd = ::memfd_create("ward-net-err", MFD_CLOEXEC);
  if (in.fd < 0 || out.fd < 0 || err.fd < 0) return ErrnoStatus(errno, "memfd_create");
  size_t done = 0;
  while (done < input.size()) {
    ssize_t n = ::write(in.fd, input.data() + done, input.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus(errno, "write restore input");
    done += static_cast<size_t>(n);
  }
  ::lseek(in.fd, 0, SEEK_SET);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err.fd, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return ErrnoStatus(rc, fmt::format("run {}", args[0]));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ToolRun r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFd(out.fd);
  r.err = ReadFd(err.fd);
  return r;
}

std::string FirstLine(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return std::string(s.substr(0, std::min(s.find('\n'), s.size())));
}

}  // namespace

std::string SlotChain(Slot slot, Hook hook) {
  return fmt::format("WARD_{}_{}", SlotName(slot), hook == Hook::kInput ? "IN" : "OUT");
}

std::string_view FamilyTool(Family family) {
  return family == Family::kIpv4 ? "iptables" : "ip6tables";
}

SavedTable ParseSave(std::string_view text) {
  SavedTable t;
  bool in_filter = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("*")) {
      in_filter = line == "*filter";
      continue;
    }
    if (!in_filter) continue;
    if (line.starts_with(":")) {
      std::string_view name = line.substr(1, line.find(' ') - 1);
      if (name != "INPUT" && name != "OUTPUT" && name != "FORWARD") {
        t.chains.emplace_back(name);
      }
    } else if (line.starts_with("-A ")) {
      std::string_view rest = line.substr(3);
      size_t sp = rest.find(' ');
      SavedTable::Line l;
      l.chain = std::string(rest.substr(0, sp));
      l.spec = sp == std::string_view::npos ? "" : std::string(rest.substr(sp + 1));
      t.rules.push_back(std::move(l));
    }
  }
  return t;
}

bool HasWardRules(const SavedTable& current) {
  for (const auto& c : current.chains) {
    if (IsWardChain(c)) return true;
  }
  for (const auto& r : current.rules) {
    if (!IsWardChain(r.chain) && IsWardRule(r.spec)) return true;
  }
  return false;
}

std::string RestoreScript(const SavedTable& current, const Layout& want) {
  if (want.empty() && !HasWardRules(current)) return "";
  std::set<std::string> wanted;
  if (!want.empty()) {
    wanted.insert(std::string(kTopIn));
    wanted.insert(std::string(kTopOut));
  }
  for (const auto& [slot, rules] : want) {
    wanted.insert(SlotChain(slot, Hook::kInput));
    wanted.insert(SlotChain(slot, Hook::kOutput));
  }
  std::string s = "*filter\n";
  // The wanted chains: created, or flushed when they exist.
  for (const auto& c : wanted) s += fmt::format(":{} - [0:0]\n", c);
  // Jumps into Ward's chains from elsewhere: only one built-in jump per hook stays.
  bool kept_in = false, kept_out = false;
  for (const auto& r : current.rules) {
    if (IsWardChain(r.chain) || !IsWardRule(r.spec)) continue;
    if (!want.empty() && r.chain == "INPUT" && r.spec == TopJump(Hook::kInput) && !kept_in) {
      kept_in = true;
      continue;
    }
    if (!want.empty() && r.chain == "OUTPUT" && r.spec == TopJump(Hook::kOutput) && !kept_out) {
      kept_out = true;
      continue;
    }
    s += fmt::format("-D {} {}\n", r.chain, r.spec);
  }
  // Ward's chains that are not wanted (leftovers, a removed slot): flushed, then deleted.
  std::vector<std::string> stale;
  for (const auto& c : current.chains) {
    if (IsWardChain(c) && !wanted.contains(c)) stale.push_back(c);
  }
  for (const auto& c : stale) s += fmt::format("-F {}\n", c);
  for (const auto& c : stale) s += fmt::format("-X {}\n", c);
  // The slots' rules, then the jumps to them in the fixed order.
  for (Slot slot : kSlotOrder) {
    auto it = want.find(slot);
    if (it == want.end()) continue;
    for (const Rule& rule : it->second) {
      s += "-A " + SlotChain(slot, rule.hook);
      for (const auto& a : rule.args) s += " " + Quote(a);
      s += "\n";
    }
  }
  for (Hook hook : {Hook::kInput, Hook::kOutput}) {
    for (Slot slot : kSlotOrder) {
      if (!want.contains(slot)) continue;
      s += fmt::format("-A {} -j {}\n", hook == Hook::kInput ? kTopIn : kTopOut,
                       SlotChain(slot, hook));
    }
  }
  if (!want.empty() && !kept_in) s += "-I INPUT 1 " + TopJump(Hook::kInput) + "\n";
  if (!want.empty() && !kept_out) s += "-I OUTPUT 1 " + TopJump(Hook::kOutput) + "\n";
  s += "COMMIT\n";
  return s;
}

Result<std::unique_ptr<ChainManager>> ChainManager::Open(Options options) {
  auto m = std::unique_ptr<ChainManager>(new ChainManager(options));
  {
    std::lock_guard lock(m->mu_);
    if (options.clean_up_at_open) {
      if (options.ipv4) WARD_RETURN_IF_ERROR(m->Converge(Family::kIpv4, {}, true));
      if (options.ipv6) {
        Status s = m->Converge(Family::kIpv6, {}, true);
        if (!s.ok()) spdlog::warn("net: IPv6 chains left alone: {}", s.ToString());
      }
    } else if (options.ipv4) {
      WARD_ASSIGN_OR_RETURN(ToolRun saved, RunTool({"iptables-save", "-t", "filter"}, ""));
      if (saved.rc != 0) {
        return Unavailable(
            fmt::format("`iptables-save -t filter` failed: {}", FirstLine(saved.err)));
      }
    }
  }
  return m;
}

Status ChainManager::RemoveLeftovers() {
  std::lock_guard lock(mu_);
  if (options_.ipv4) WARD_RETURN_IF_ERROR(Converge(Family::kIpv4, installed_[Family::kIpv4], true));
  if (options_.ipv6) {
    Status s = Converge(Family::kIpv6, installed_[Family::kIpv6], true);
    if (!s.ok()) spdlog::warn("net: IPv6 chains left alone: {}", s.ToString());
  }
  return Status::Ok();
}

ChainManager::~ChainManager() {
  std::lock_guard lock(mu_);
  for (const auto& [family, layout] : installed_) {
    if (layout.empty()) continue;
    Status s = Converge(family, {});
    if (!s.ok()) spdlog::error("net: removing Ward's chains: {}", s.ToString());
  }
}

Status ChainManager::Install(Family family, Slot slot, std::vector<Rule> rules) {
  std::lock_guard lock(mu_);
  Layout want = installed_[family];
  want[slot] = std::move(rules);
  WARD_RETURN_IF_ERROR(Converge(family, want));
  installed_[family] = std::move(want);
  return Status::Ok();
}

Status ChainManager::Remove(Family family, Slot slot) {
  std::lock_guard lock(mu_);
  Layout want = installed_[family];
  if (!want.contains(slot)) return Status::Ok();
  want.erase(slot);
  WARD_RETURN_IF_ERROR(Converge(family, want));
  installed_[family] = std::move(want);
  return Status::Ok();
}

void ChainManager::RemoveSlot(Slot slot) {
  for (Family f : {Family::kIpv4, Family::kIpv6}) {
    Status s = Remove(f, slot);
    if (!s.ok()) spdlog::error("net: removing {}: {}", SlotChain(slot, Hook::kInput), s.ToString());
  }
}

Status ChainManager::Converge(Family family, const Layout& want, bool only_leftovers) {
  const std::string tool(FamilyTool(family));
  WARD_ASSIGN_OR_RETURN(ToolRun saved, RunTool({tool + "-save", "-t", "filter"}, ""));
  if (saved.rc != 0) {
    return Unavailable(fmt::format("`{}-save -t filter` failed: {}", tool, FirstLine(saved.err)));
  }
  const std::string script = RestoreScript(ParseSave(saved.out), want);
  if (script.empty()) return Status::Ok();
  // With slots wanted, only leftovers make the script delete (-D) or flush-and-delete (-F) lines.
  if (only_leftovers && !want.empty() && script.find("\n-D ") == std::string::npos &&
      script.find("\n-F ") == std::string::npos) {
    return Status::Ok();
  }
  WARD_ASSIGN_OR_RETURN(ToolRun restored, RunTool({tool + "-restore", "-w", "--noflush"}, script));
  if (restored.rc != 0) {
    return Unavailable(
        fmt::format("`{}-restore --noflush` failed: {}", tool, FirstLine(restored.err)));
  }
  if (only_leftovers) spdlog::info("net: {}: removed the chains an earlier agent left", tool);
  return Status::Ok();
}

}  // namespace ward::net

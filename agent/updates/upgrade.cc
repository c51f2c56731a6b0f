#include "agent/updates/upgrade.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/event.h"
#include "common/log.h"

namespace ward::updates {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kInstalling = "installing.json";  // {"version", "file", "started_at"}
constexpr const char* kExitStatus = "exit_status";      // the installer's, written when it ends
constexpr const char* kLog = "install.log";

// Reads at most `limit` bytes of a small file; "" when it does not exist.
std::string ReadSmall(const fs::path& p, size_t limit) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  std::string s(limit, '\0');
  in.read(s.data(), static_cast<std::streamsize>(limit));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

// The last `n` bytes of the installer's log (what dpkg said).
std::string LogTail(const fs::path& p, size_t n) {
  std::string all = ReadSmall(p, 1 << 20);
  return all.size() > n ? all.substr(all.size() - n) : all;
}

Status WriteExclusive(const fs::path& p, std::string_view bytes) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable(fmt::format("{}: {}", p.string(), std::strerror(errno)));
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = errno;
      ::close(fd);
      return Unavailable(fmt::format("{}: {}", p.string(), std::strerror(err)));
    }
    off += static_cast<size_t>(w);
  }
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Unavailable(fmt::format("{}: fsync failed", p.string()));
  return Status::Ok();
}

// Runs argv and waits for it (systemd-run returns once the unit started).
Result<int> RunAndWait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Unavailable(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return Unavailable("waitpid failed");
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

Result<UpgradeOffer> ParseUpgradeOffer(const json& j) {
  if (!j.is_object()) return InvalidArgument("updates.agent_package: not an object");
  UpgradeOffer o;
  auto v = j.find("version");
  if (v == j.end() || !v->is_string()) {
    return InvalidArgument("updates.agent_package.version: missing or not a string");
  }
  o.version = v->get<std::string>();
  if (Status s = CheckPackageVersion(o.version); !s.ok()) {
    return InvalidArgument(fmt::format("updates.agent_package.version: {}", s.message()));
  }
  auto m = j.find("manifest");
  auto sig = j.find("signature");
  if (m == j.end() || !m->is_string() || m->get_ref<const std::string&>().size() > 64 * 1024) {
    return InvalidArgument("updates.agent_package.manifest: missing, not a string or too long");
  }
  if (sig == j.end() || !sig->is_string() || sig->get_ref<const std::string&>().size() > 1024) {
    return InvalidArgument("updates.agent_package.signature: missing, not a string or too long");
  }
  o.signed_manifest = {m->get<std::string>(), sig->get<std::string>()};
  return o;
}

Result<std::string> LaunchDetached(const std::vector<std::string>& argv, const fs::path& log,
                                   const std::string& unit, bool use_systemd) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return InvalidArgument("LaunchDetached: argv[0] must be an absolute path");
  }
  std::error_code ec;
  if (use_systemd && fs::is_directory("/run/systemd/system", ec)) {
    std::vector<std::string> cmd = {"systemd-run",
                                    "--unit",
                                    unit,
                                    "--collect",
                                    "--quiet",
                                    "--property",
                                    "StandardOutput=append:" + log.string(),
                                    "--property",
                                    "StandardError=append:" + log.string(),
                                    "--"};
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    WARD_ASSIGN_OR_RETURN(int rc, RunAndWait(cmd));
    if (rc != 0) return Unavailable(fmt::format("systemd-run exited with {}", rc));
    return "unit " + unit;
  }
  // Everything the children need is prepared before fork (only async-signal-safe calls after).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string log_path = log.string();
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return Unavailable("pipe2 failed");
  pid_t mid = ::fork();
  if (mid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return Unavailable(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (mid == 0) {
    ::close(pipefd[0]);
    ::setsid();  // a session of its own: no signal to the agent's process group reaches it
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    pid_t child = ::fork();
    if (child != 0) {
      (void)!::write(pipefd[1], &child, sizeof child);
      ::_exit(child > 0 ? 0 : 1);
    }
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
    if (in < 0 || out < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::close_range(3, ~0U, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  pid_t child = -1;
  ssize_t n;
  do {
    n = ::read(pipefd[0], &child, sizeof child);
  } while (n < 0 && errno == EINTR);
  ::close(pipefd[0]);
  int st = 0;
  while (::waitpid(mid, &st, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof child) || child <= 0 || !WIFEXITED(st) ||
      WEXITSTATUS(st) != 0) {
    return Unavailable("could not start the installer in a session of its own");
  }
  return fmt::format("pid {}", child);
}

AgentUpgrade::AgentUpgrade(UpgradeOptions options, EventSink& events, const Clock& clock)
    : options_(std::move(options)),
      dir_(options_.state_dir / "upgrade"),
      events_(events),
      clock_(clock) {
  CheckInstall();
}

void AgentUpgrade::SetState(std::string state, const std::string& version, std::string error) {
  std::lock_guard lock(mu_);
  status_ = {{"state", std::move(state)},
             {"version", version},
             {"running_version", options_.running_version},
             {"updated_at", FormatTimestamp(clock_.Now())}};
  if (!error.empty()) status_["error"] = std::move(error);
}

void AgentUpgrade::Refuse(const std::string& version, const Status& s, std::string_view action) {
  refused_ = version;
  spdlog::error("agent upgrade to {} refused ({} stays): {}", version, options_.running_version,
                s.ToString());
  Event e = Event::Make(clock_, "ward", "change", action, Severity::kHigh);
  e.Set("ward.upgrade.version", version);
  e.Set("ward.upgrade.running_version", options_.running_version);
  e.Set("error.message", s.ToString());
  events_.Emit(std::move(e));
  SetState("failed", version, s.ToString());
}

void AgentUpgrade::CheckInstall() {
  std::error_code ec;
  std::string text = ReadSmall(dir_ / kInstalling, 64 * 1024);
  if (text.empty()) return;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("version") || !j["version"].is_string()) {
    fs::remove(dir_ / kInstalling, ec);
    return;
  }
  const std::string version = j["version"].get<std::string>();
  const std::string rc_text = ReadSmall(dir_ / kExitStatus, 64);
  if (rc_text.empty()) {
    // Still running (or this agent was restarted by it before it wrote its status).
    if (version == options_.running_version) {
      // The package is in place and this is its agent: done (dpkg's own end is not needed).
    } else {
      installing_ = version;
      SetState("installing", version, "");
      return;
    }
  } else if (std::atoi(rc_text.c_str()) != 0 && version != options_.running_version) {
    installing_.clear();
    Refuse(version,
           Internal(fmt::format("the installer exited with {}: {}", rc_text.substr(0, 8),
                                LogTail(dir_ / kLog, 600))),
           "agent_upgrade_failed");
    fs::remove(dir_ / kInstalling, ec);
    return;
  } else if (version != options_.running_version) {
    // Installed, restart pending (the package restarts the agent).
    installing_ = version;
    SetState("installing", version, "");
    return;
  }
  installing_.clear();
  spdlog::info("agent upgraded to {}", version);
  Event e = Event::Make(clock_, "ward", "change", "agent_upgraded", Severity::kInfo);
  e.Set("ward.upgrade.version", version);
  events_.Emit(std::move(e));
  SetState("done", version, "");
  for (const auto& entry : fs::directory_iterator(dir_, ec)) fs::remove(entry.path(), ec);
}

void AgentUpgrade::Apply(const UpgradeOffer& offer, std::string_view key_b64, const PostFn& post) {
  CheckInstall();
  if (offer.version == options_.running_version) return;
  if (offer.version == refused_ || offer.version == installing_) return;
  bool retry = false;
  Status s = Run(offer, key_b64, post, retry);
  if (s.ok()) return;
  if (retry) {
    spdlog::warn("agent upgrade to {}: {} (retried at the next heartbeat)", offer.version,
                 s.ToString());
    SetState("downloading", offer.version, s.ToString());
    return;
  }
  Refuse(offer.version, s, "agent_upgrade_refused");
}

Status AgentUpgrade::Run(const UpgradeOffer& offer, std::string_view key_b64, const PostFn& post,
                         bool& retry) {
  SetState("downloading", offer.version, "");
  Installer pins(options_.state_dir);
  WARD_ASSIGN_OR_RETURN(PublicKey key, pins.PinKey(key_b64));
  WARD_ASSIGN_OR_RETURN(PackageManifest m,
                        VerifyPackageManifest(offer.signed_manifest, key, offer.version));
  auto r = post("/agent/v1/upgrade/package", json{{"file", m.file}}.dump());
  if (!r) {
    retry = true;
    return r.error();
  }
  if (r->first != 200) {
    retry = r->first >= 500 || r->first == 429;
    return Unavailable(
        fmt::format("/agent/v1/upgrade/package: HTTP {}: {}", r->first, r->second.substr(0, 200)));
  }
  WARD_RETURN_IF_ERROR(CheckPackageBytes(m, r->second));
  // A clean directory holding this package only, then the marker, then the installer.
  std::error_code ec;
  fs::remove_all(dir_, ec);
  fs::create_directories(dir_, ec);
  if (ec) return Unavailable(fmt::format("{}: {}", dir_.string(), ec.message()));
  ::chmod(dir_.c_str(), 0700);
  const fs::path deb = dir_ / m.file;
  WARD_RETURN_IF_ERROR(WriteExclusive(deb, r->second));
  json marker = {{"version", m.version},
                 {"file", m.file},
                 {"sha256", m.sha256},
                 {"started_at", FormatTimestamp(clock_.Now())}};
  WARD_RETURN_IF_ERROR(WriteExclusive(dir_ / kInstalling, marker.dump()));
  // sh writes the installer's exit status when it ends (the new agent, or this one at the next
  // heartbeat, reads it).
  std::vector<std::string> argv = {
      "/bin/sh", "-c", "st=\"$1\"; shift; \"$@\"; echo $? > \"$st.tmp\" && mv \"$st.tmp\" \"$st\"",
      "sh", (dir_ / kExitStatus).string()};
  argv.insert(argv.end(), options_.install_command.begin(), options_.install_command.end());
  argv.push_back(deb.string());
  std::string unit =
      "ward-agent-upgrade-" + std::to_string(clock_.Now().time_since_epoch().count());
  auto started = LaunchDetached(argv, dir_ / kLog, unit, options_.use_systemd);
  if (!started) {
    fs::remove(dir_ / kInstalling, ec);
    retry = true;
    return started.error();
  }
  installing_ = m.version;
  spdlog::info("agent upgrade to {}: {} verified, installer started ({})", m.version, m.file,
               *started);
  Event e = Event::Make(clock_, "ward", "change", "agent_upgrade_started", Severity::kInfo);
  e.Set("ward.upgrade.version", m.version);
  e.Set("ward.upgrade.running_version", options_.running_version);
  e.Set("file.hash.sha256", m.sha256);
  events_.Emit(std::move(e));
  SetState("installing", m.version, "");
  return Status::Ok();
}

json AgentUpgrade::StatusJson() const {
  std::lock_guard lock(mu_);
  return status_;
}

}  // namespace ward::updates

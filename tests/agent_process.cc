#include "tests/agent_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace ward::test {
namespace {

constexpr size_t kMaxTranscriptEvents = 80;

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Runs in the forked child before exec: only async-signal-safe calls (plain system calls).
void DropDacCapabilities() {
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  ::prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0);
  ::prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0);
  struct __user_cap_header_struct header {};
  struct __user_cap_data_struct data[2]{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  if (::syscall(SYS_capget, &header, data) != 0) return;
  const uint32_t mask = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);
  data[0].inheritable &= ~mask;
  data[0].effective &= ~mask;
  data[0].permitted &= ~mask;
  ::syscall(SYS_capset, &header, data);
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string TranscriptOf(const std::vector<const Json*>& events) {
  std::string out;
  size_t start = events.size() > kMaxTranscriptEvents ? events.size() - kMaxTranscriptEvents : 0;
  if (start > 0) out += "... (" + std::to_string(start) + " earlier events)\n";
  for (size_t i = start; i < events.size(); ++i) out += Dump(*events[i]) + "\n";
  return out;
}

}  // namespace

std::string AgentBinaryPath() {
  const char* dir = std::getenv("WARD_BINARY_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : ".") + "/bin/ward-agent";
}

const Json& Field(const Json& event, std::string_view dotted) {
  static const Json kNull;
  const Json* node = &event;
  size_t start = 0;
  for (;;) {
    size_t dot = dotted.find('.', start);
    std::string key(
        dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start));
    if (!node->is_object()) return kNull;
    auto it = node->find(key);
    if (it == node->end()) return kNull;
    if (dot == std::string_view::npos) return *it;
    node = &*it;
    start = dot + 1;
  }
}

std::string StrField(const Json& event, std::string_view dotted) {
  const Json& v = Field(event, dotted);
  return v.is_string() ? v.get<std::string>() : std::string();
}

EventPredicate ActionOn(std::string action, std::string path) {
  return [action = std::move(action), path = std::move(path)](const Json& e) {
    return StrField(e, "event.action") == action && StrField(e, "file.path") == path;
  };
}

EventPredicate Action(std::string action) {
  return
      [action = std::move(action)](const Json& e) { return StrField(e, "event.action") == action; };
}

bool ChangedAttribute(const Json& event, std::string_view attr) {
  const Json& names = Field(event, "integrity.changed_attributes");
  if (!names.is_array()) return false;
  for (const auto& n : names) {
    if (n.is_string() && n.get<std::string>() == attr) return true;
  }
  return false;
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + static_cast<size_t>(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;
      v[k] = value(c);
      if (v[k] < 0) return std::nullopt;
    }
    uint32_t n = static_cast<uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out.push_back(static_cast<char>((n >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xFF));
  }
  return out;
}

std::unique_ptr<AgentProcess> AgentProcess::Start(std::vector<std::string> args,
                                                  SpawnOptions options) {
  std::string binary = AgentBinaryPath();
  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary);
  for (auto& a : args) argv_storage.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return nullptr;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return nullptr;
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  const bool drop_caps = options.drop_dac_capabilities;

  pid_t pid = ::fork();
  if (pid == 0) {
    // Child: async-signal-safe calls only, then exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != parent) ::_exit(127);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);
    if (drop_caps) DropDacCapabilities();
    ::execve(argv[0], argv.data(), environ);
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (devnull >= 0) ::close(devnull);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(fork_errno);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return nullptr;
  }
  std::unique_ptr<AgentProcess> p(new AgentProcess());
  p->pid_ = pid;
  p->pidfd_ = PidfdOpen(pid);
  if (p->pidfd_ < 0) ADD_FAILURE() << "pidfd_open: " << std::strerror(errno);
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  p->out_reader_ = std::thread([raw = p.get(), out_fd] { raw->ReadStdout(out_fd); });
  p->err_reader_ = std::thread([raw = p.get(), err_fd] { raw->ReadStderr(err_fd); });
  return p;
}

AgentProcess::~AgentProcess() {
  Kill();
  JoinReaders();
  if (pidfd_ >= 0) ::close(pidfd_);
}

void AgentProcess::ReadStdout(int fd) {
  std::string pending;
  char buf[64 * 1024];
  auto take_line = [&](std::string line) {
    auto now = std::chrono::steady_clock::now();
    Json doc = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    std::lock_guard lock(mu_);
    if (!doc.is_discarded() && doc.is_object()) {
      events_.push_back({std::move(doc), now});
    } else {
      bad_lines_.push_back(line);
    }
    lines_.push_back(std::move(line));
    cv_.notify_all();
  };
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      take_line(pending.substr(start, nl - start));
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) take_line(std::move(pending));
  ::close(fd);
  std::lock_guard lock(mu_);
  stdout_closed_ = true;
  cv_.notify_all();
}

void AgentProcess::ReadStderr(int fd) {
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mu_);
    stderr_.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
}

void AgentProcess::JoinReaders() {
  if (out_reader_.joinable()) out_reader_.join();
  if (err_reader_.joinable()) err_reader_.join();
}

std::optional<ReceivedEvent> AgentProcess::WaitForEvent(const EventPredicate& pred,
                                                        std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  size_t checked = 0;
  for (;;) {
    for (; checked < events_.size(); ++checked) {
      if (pred(events_[checked].doc)) return events_[checked];
    }
    if (stdout_closed_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; checked < events_.size(); ++checked) {
        if (pred(events_[checked].doc)) return events_[checked];
      }
      return std::nullopt;
    }
  }
}

bool AgentProcess::WaitForCount(const EventPredicate& pred, size_t n,
                                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  size_t checked = 0, found = 0;
  for (;;) {
    for (; checked < events_.size(); ++checked) {
      if (pred(events_[checked].doc)) ++found;
    }
    if (found >= n) return true;
    if (stdout_closed_) return false;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; checked < events_.size(); ++checked) {
        if (pred(events_[checked].doc)) ++found;
      }
      return found >= n;
    }
  }
}

std::vector<ReceivedEvent> AgentProcess::Events() const {
  std::lock_guard lock(mu_);
  return events_;
}

size_t AgentProcess::Count(const EventPredicate& pred) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& e : events_) n += pred(e.doc) ? 1 : 0;
  return n;
}

std::vector<std::string> AgentProcess::StdoutLines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

std::vector<std::string> AgentProcess::BadLines() const {
  std::lock_guard lock(mu_);
  return bad_lines_;
}

std::string AgentProcess::Stderr() const {
  std::lock_guard lock(mu_);
  return stderr_;
}

std::string AgentProcess::Transcript() const {
  std::lock_guard lock(mu_);
  std::vector<const Json*> docs;
  for (const auto& e : events_) docs.push_back(&e.doc);
  return TranscriptOf(docs) + "--- stderr ---\n" + stderr_;
}

bool AgentProcess::Signal(int sig) {
  if (exit_code_ || pid_ <= 0) return false;
  return ::kill(pid_, sig) == 0;
}

bool AgentProcess::Pause() {
  if (!Signal(SIGSTOP)) return false;
  siginfo_t info{};
  // WNOWAIT: an exit stays to be collected by WaitForExit().
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED | WEXITED | WNOWAIT) != 0) {
    if (errno != EINTR) return false;
  }
  return info.si_code == CLD_STOPPED;
}

bool AgentProcess::Resume() { return Signal(SIGCONT); }

std::optional<int> AgentProcess::WaitForExit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  if (pid_ <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      JoinReaders();
      return exit_code_;
    }
    if (r < 0 && errno != EINTR) {
      ADD_FAILURE() << "waitpid: " << std::strerror(errno);
      exit_code_ = -1;
      return exit_code_;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    // The pidfd becomes readable when the process ends.
    struct pollfd pfd {
      pidfd_, POLLIN, 0
    };
    ::poll(&pfd, 1, static_cast<int>(left.count()));
  }
}

int AgentProcess::Kill() {
  if (exit_code_) return *exit_code_;
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGKILL);
  auto code = WaitForExit(std::chrono::seconds(30));
  return code.value_or(-1);
}

size_t CommandResult::Count(const EventPredicate& pred) const {
  size_t n = 0;
  for (const auto& e : events) n += pred(e) ? 1 : 0;
  return n;
}

const Json* CommandResult::Find(const EventPredicate& pred) const {
  for (const auto& e : events) {
    if (pred(e)) return &e;
  }
  return nullptr;
}

std::string CommandResult::Transcript() const {
  std::vector<const Json*> docs;
  for (const auto& e : events) docs.push_back(&e);
  return "exit code " + std::to_string(exit_code) + (timed_out ? " (timed out)" : "") + "\n" +
         TranscriptOf(docs) + "--- stderr ---\n" + stderr_text;
}

CommandResult RunAgentCommand(std::vector<std::string> args, std::chrono::milliseconds timeout,
                              SpawnOptions options) {
  CommandResult result;
  auto p = AgentProcess::Start(std::move(args), options);
  if (!p) return result;
  auto code = p->WaitForExit(timeout);
  if (!code) {
    result.timed_out = true;
    p->Kill();
  } else {
    result.exit_code = *code;
  }
  for (auto& e : p->Events()) result.events.push_back(std::move(e.doc));
  result.stdout_lines = p->StdoutLines();
  result.bad_lines = p->BadLines();
  result.stderr_text = p->Stderr();
  return result;
}

}  // namespace ward::test

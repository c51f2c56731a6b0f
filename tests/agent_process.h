// AgentProcess: runs the real `ward-agent` binary for integration tests and collects what it says.
//
// The child's stdout is read line by line on a reader thread; each line that is a JSON object is
// kept as an event, stamped with the moment it arrived, and tests wait for the one they need with
// WaitForEvent(predicate, timeout) — a condition with a deadline, never a sleep. stderr is kept as
// text. The child is killed (SIGKILL) and reaped when the AgentProcess is destroyed, and also if
// the test process dies (PR_SET_PDEATHSIG), so a failed test leaves nothing running.
// Thread-safety: the event and output accessors may be called from any thread; Signal(),
// WaitForExit() and Kill() from the thread that owns the object.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ward::test {

using Json = nlohmann::json;

// $WARD_BINARY_DIR/bin/ward-agent (WARD_BINARY_DIR is set by ward_test()).
std::string AgentBinaryPath();

// One JSON object the agent wrote on a line of its stdout.
struct ReceivedEvent {
  Json doc;
  std::chrono::steady_clock::time_point arrived;
};

using EventPredicate = std::function<bool(const Json&)>;

// A dotted ECS field of an event ("file.path" is doc["file"]["path"]); null when absent.
const Json& Field(const Json& event, std::string_view dotted);
// The field as a string, or "" when absent or not a string.
std::string StrField(const Json& event, std::string_view dotted);
// event.action == action and file.path == path (path compared as UTF-8 text).
EventPredicate ActionOn(std::string action, std::string path);
// event.action == action.
EventPredicate Action(std::string action);
// True when integrity.changed_attributes holds `attr`.
bool ChangedAttribute(const Json& event, std::string_view attr);
// Decodes standard base64 (RFC 4648, with padding); nullopt on malformed input. Independent of the
// agent's own encoder on purpose.
std::optional<std::string> DecodeBase64(std::string_view text);

struct SpawnOptions {
  // Remove CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the child's bounding set before exec, so
  // a root agent cannot read a mode-0000 file (to test unreadable files while running as root).
  bool drop_dac_capabilities = false;
};

class AgentProcess {
 public:
  // Starts `ward-agent args...`. Fails the calling test (ADD_FAILURE) and returns nullptr when the
  // process cannot be started.
  static std::unique_ptr<AgentProcess> Start(std::vector<std::string> args,
                                             SpawnOptions options = {});
  ~AgentProcess();
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Waits until an event that satisfies pred has been received (also one received earlier) and
  // returns it; nullopt when the timeout passes or stdout ends first.
  std::optional<ReceivedEvent> WaitForEvent(const EventPredicate& pred,
                                            std::chrono::milliseconds timeout);
  // Waits until count(pred) >= n; returns whether it got there.
  bool WaitForCount(const EventPredicate& pred, size_t n, std::chrono::milliseconds timeout);

  std::vector<ReceivedEvent> Events() const;
  size_t Count(const EventPredicate& pred) const;
  // Every stdout line, as written (JSON or not).
  std::vector<std::string> StdoutLines() const;
  // stdout lines that are not a JSON object.
  std::vector<std::string> BadLines() const;
  std::string Stderr() const;
  // All events so far, one JSON line each: for failure messages.
  std::string Transcript() const;

  // Sends a signal; false when the process is gone.
  bool Signal(int sig);
  // SIGSTOP, returning once the process is stopped; Resume() sends SIGCONT.
  bool Pause();
  bool Resume();
  // Waits for the process to end; returns its exit code (128 + signal number when a signal ended
  // it) once stdout and stderr are fully read, or nullopt at the deadline.
  std::optional<int> WaitForExit(std::chrono::milliseconds timeout);
  // SIGKILL and reap (no-op when it already ended); returns the exit code.
  int Kill();

 private:
  AgentProcess() = default;
  void ReadStdout(int fd);
  void ReadStderr(int fd);
  void JoinReaders();

  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> exit_code_;
  std::thread out_reader_;
  std::thread err_reader_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ReceivedEvent> events_;
  std::vector<std::string> lines_;
  std::vector<std::string> bad_lines_;
  std::string stderr_;
  bool stdout_closed_ = false;
};

// Runs a command that ends by itself (baseline, check, accept, --version).
struct CommandResult {
  int exit_code = -1;      // -1 when it did not end in time (it was killed)
  bool timed_out = false;  // it had to be killed at the deadline
  std::vector<Json> events;
  std::vector<std::string> stdout_lines;
  std::vector<std::string> bad_lines;
  std::string stderr_text;

  size_t Count(const EventPredicate& pred) const;
  const Json* Find(const EventPredicate& pred) const;
  std::string Transcript() const;
};
CommandResult RunAgentCommand(std::vector<std::string> args,
                              std::chrono::milliseconds timeout = std::chrono::seconds(60),
                              SpawnOptions options = {});

}  // namespace ward::test

// Tests only: testdata/alerting/smtp_server.py (aiosmtpd with STARTTLS and AUTH) as a child
// process, for the alert e-mail and report e-mail tests. Stopped on destruction (stdin closed,
// then killed), also when the test failed. Needs WARD_SOURCE_DIR.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "manager/services/tls.h"

namespace ward::manager::testing {

class SmtpServer {
 public:
  // Listens on 127.0.0.1 (port()) with `tls`, writes each message it receives into `outdir`, and
  // accepts AUTH with any user and `password`.
  SmtpServer(const TlsFiles& tls, const std::string& outdir, const std::string& password) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) return;
    const std::string script = std::string(WARD_SOURCE_DIR) + "/testdata/alerting/smtp_server.py";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[1]);
      ::close(out[0]);
      ::execl("/usr/bin/python3", "python3", script.c_str(), tls.cert.c_str(), tls.key.c_str(),
              outdir.c_str(), password.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(out[0]);
    port_ = line.empty() ? 0 : std::stoi(line);
  }
  ~SmtpServer() {
    if (stdin_ >= 0) ::close(stdin_);
    if (pid_ > 0) {
      for (int i = 0; i < 50; ++i) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
        // A bounded wait for the child's exit, not a synchronisation.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int port_ = 0;
};

}  // namespace ward::manager::testing

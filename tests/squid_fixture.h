// Squid: a real Squid (Debian `squid`) started by a test on 127.0.0.1, in the foreground (-N),
// with its own config, logs and pid file under a temporary directory. CONNECT is allowed only to
// one port (the manager's); basic auth (basic_ncsa_auth with an htpasswd made by
// `openssl passwd -apr1`) when a user is given. Stop() kills it; Start() again reuses the port.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

namespace ward::test {

struct SquidOptions {
  int allowed_connect_port = 0;
  std::string user;  // "" = no authentication
  std::string password;
};

class Squid {
 public:
  // Starts Squid and waits until it accepts connections; nullptr (and a test failure) if not.
  static std::unique_ptr<Squid> Start(const std::string& dir, SquidOptions options);
  ~Squid();

  int port() const { return port_; }
  std::string url() const;  // http://[user:pass@]127.0.0.1:port
  bool Restart();
  void Stop();
  std::string AccessLog() const;

 private:
  Squid() = default;
  bool Launch();

  std::string dir_;
  SquidOptions options_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ward::test

#include "tests/squid_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/transport_fixture.h"

namespace ward::test {
namespace {

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::unique_ptr<Squid> Squid::Start(const std::string& dir, SquidOptions options) {
  std::unique_ptr<Squid> s(new Squid());
  s->dir_ = dir;
  s->options_ = std::move(options);
  s->port_ = FreePort();
  std::filesystem::create_directories(dir);
  std::ostringstream conf;
  conf << "http_port 127.0.0.1:" << s->port_ << "\n"
       << "pid_filename " << dir << "/squid.pid\n"
       << "cache_log " << dir << "/cache.log\n"
       << "access_log stdio:" << dir << "/access.log\n"
       << "coredump_dir " << dir << "\n"
       << "cache deny all\n"
       << "shutdown_lifetime 0 seconds\n"
       << "dns_v4_first on\n"
       << "acl manager_port port " << s->options_.allowed_connect_port << "\n"
       << "acl CONNECT method CONNECT\n";
  if (!s->options_.user.empty()) {
    std::string cmd = "openssl passwd -apr1 '" + s->options_.password + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[256] = {};
    size_t n = p ? std::fread(buf, 1, sizeof buf - 1, p) : 0;
    if (p) ::pclose(p);
    std::string hash(buf, n);
    while (!hash.empty() && hash.back() == '\n') hash.pop_back();
    std::ofstream(dir + "/htpasswd") << s->options_.user << ":" << hash << "\n";
    conf << "auth_param basic program /usr/lib/squid/basic_ncsa_auth " << dir << "/htpasswd\n"
         << "auth_param basic realm ward-test\n"
         << "acl authenticated proxy_auth REQUIRED\n"
         << "http_access deny !authenticated\n";
  }
  conf << "http_access deny CONNECT !manager_port\n"
       << "http_access allow CONNECT localhost\n"
       << "http_access deny all\n";
  std::ofstream(dir + "/squid.conf") << conf.str();
  // Squid started as root runs as `proxy`: let it write its logs.
  if (passwd* pw = ::getpwnam("proxy")) {
    for (std::filesystem::path p = dir; p != p.root_path() && p.string().starts_with("/tmp/");
         p = p.parent_path()) {
      ::chmod(p.c_str(), 0755);
    }
    ::chown(dir.c_str(), pw->pw_uid, pw->pw_gid);
    ::chmod(dir.c_str(), 0777);
  }
  if (!s->Launch()) return nullptr;
  return s;
}

bool Squid::Launch() {
  std::string conf = dir_ + "/squid.conf";
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    int log = ::open((dir_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execl("/usr/sbin/squid", "squid", "-N", "-f", conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (CanConnect(port_)) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::ifstream err(dir_ + "/stderr.log");
      std::stringstream ss;
      ss << err.rdbuf();
      ADD_FAILURE() << "squid exited at start: " << ss.str();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "squid did not listen on port " << port_;
  return false;
}

std::string Squid::url() const {
  std::string auth = options_.user.empty() ? "" : options_.user + ":" + options_.password + "@";
  return "http://" + auth + "127.0.0.1:" + std::to_string(port_);
}

void Squid::Stop() {
  if (pid_ > 0) {
    // SIGTERM with shutdown_lifetime 0 ends it at once, with its access log written out.
    ::kill(pid_, SIGTERM);
    bool gone = false;
    for (int i = 0; i < 300 && !gone; ++i) {
      gone = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!gone) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
    // Its helpers (basic_ncsa_auth) end when their stdin closes.
    std::filesystem::remove(dir_ + "/squid.pid");
  }
}

bool Squid::Restart() {
  Stop();
  return Launch();
}

Squid::~Squid() { Stop(); }

std::string Squid::AccessLog() const {
  std::ifstream in(dir_ + "/access.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ward::test

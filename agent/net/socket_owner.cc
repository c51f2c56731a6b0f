#include "agent/net/socket_owner.h"

#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace ward::net {
namespace {

// The last path element ending in ".service" (or ".scope") of the process's cgroup v2 path.
std::string SystemdUnit(const std::string& pid) {
  std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
  std::string line, unit;
  while (std::getline(in, line)) {
    size_t path = line.find("::");  // cgroup v2: "0::/system.slice/nginx.service"
    if (path == std::string::npos) continue;
    std::string_view p = std::string_view(line).substr(path + 2);
    while (!p.empty()) {
      size_t slash = p.find('/');
      std::string_view part = p.substr(0, slash);
      if (part.ends_with(".service") || part.ends_with(".scope")) unit = std::string(part);
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash + 1);
    }
  }
  return unit;
}

}  // namespace

std::optional<SocketOwnerInfo> SocketOwner(std::string_view protocol, uint16_t local_port) {
  if (protocol != "tcp" && protocol != "udp") return std::nullopt;
  std::string inode;
  for (std::string file : {std::string(protocol), std::string(protocol) + "6"}) {
    std::ifstream in("/proc/net/" + file);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      char local[64] = {};
      unsigned long ino = 0;
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (std::sscanf(line.c_str(), " %*d: %63s %*s %*x %*s %*s %*s %*u %*u %lu", local, &ino) !=
          2) {
        continue;
      }
      const char* colon = std::strchr(local, ':');
      unsigned port = 0;
      if (!colon || std::sscanf(colon + 1, "%x", &port) != 1 || port != local_port) continue;
      if (ino != 0) {
        inode = fmt::format("socket:[{}]", ino);
        break;
      }
    }
    if (!inode.empty()) break;
  }
  if (inode.empty()) return std::nullopt;
  DIR* proc = ::opendir("/proc");
  if (!proc) return std::nullopt;
  std::optional<SocketOwnerInfo> found;
  while (dirent* d = ::readdir(proc)) {
    if (!std::isdigit(static_cast<unsigned char>(d->d_name[0]))) continue;
    std::string fd_dir = fmt::format("/proc/{}/fd", d->d_name);
    DIR* fds = ::opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* f = ::readdir(fds)) {
      char target[64] = {};
      std::string link = fd_dir + "/" + f->d_name;
      ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n > 0 && inode == std::string_view(target, static_cast<size_t>(n))) {
        SocketOwnerInfo o;
        o.pid = std::atoi(d->d_name);
        char exe[4096] = {};
        ssize_t m = ::readlink(fmt::format("/proc/{}/exe", d->d_name).c_str(), exe, sizeof exe - 1);
        if (m > 0) o.executable.assign(exe, static_cast<size_t>(m));
        o.systemd_unit = SystemdUnit(d->d_name);
        found = o;
        break;
      }
    }
    ::closedir(fds);
    if (found) break;
  }
  ::closedir(proc);
  return found;
}

}  // namespace ward::net

#include "agent/transport/identity.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ward::agent::transport {
namespace {

constexpr size_t kMaxFile = 64 << 20;

Result<std::string> ReadSmallFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", path.string()));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, fmt::format("read {}", path.string()));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFile) {
      ::close(fd);
      return InvalidArgument(fmt::format("{}: too large", path.string()));
    }
  }
  ::close(fd);
  return out;
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::filesystem::path TransportDir(const std::filesystem::path& state_dir) {
  return state_dir / "transport";
}

Status PrepareTransportDir(const std::filesystem::path& state_dir) {
  std::error_code ec;
  auto dir = TransportDir(state_dir);
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), fmt::format("create {}", dir.string()));
  if (::chmod(state_dir.c_str(), 0700) != 0 || ::chmod(dir.c_str(), 0700) != 0) {
    return ErrnoStatus(errno, fmt::format("chmod 0700 {}", dir.string()));
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, int mode) {
  std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("create {}", tmp));
  ::fchmod(fd, static_cast<mode_t>(mode));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, fmt::format("write {}", tmp));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, fmt::format("fsync {}", tmp));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, fmt::format("rename {}", tmp));
  }
  int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Result<Identity> ParseIdentity(std::string_view text, std::string_view where) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLoss(fmt::format("{}: not a JSON object", where));
  }
  Identity id;
  id.agent_id = Str(j, "agent_id");
  id.credential = Str(j, "credential");
  id.tenant_id = Str(j, "tenant_id");
  id.manager_url = Str(j, "manager_url");
  id.fingerprint = Str(j, "fingerprint");
  id.proxy = Str(j, "proxy");
  id.machine_id = Str(j, "machine_id");
  if (auto it = j.find("heartbeat_interval_s"); it != j.end() && it->is_number_integer()) {
    int64_t v = it->get<int64_t>();
    id.heartbeat_interval_s = v >= 1 && v <= 86400 ? static_cast<int>(v) : 60;
  }
  for (auto [name, value] : {std::pair{"agent_id", &id.agent_id},
                             {"credential", &id.credential},
                             {"manager_url", &id.manager_url},
                             {"fingerprint", &id.fingerprint}}) {
    if (value->empty()) return DataLoss(fmt::format("{}: {}: missing", where, name));
  }
  return id;
}

Result<Identity> LoadIdentity(const std::filesystem::path& state_dir) {
  auto path = TransportDir(state_dir) / "identity.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFound(
        fmt::format("{}: not activated (run `ward-agent activate --manager URL --token TOKEN`)",
                    path.string()));
  }
  WARD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  return ParseIdentity(text, path.string());
}

Status SaveIdentity(const std::filesystem::path& state_dir, const Identity& id) {
  WARD_RETURN_IF_ERROR(PrepareTransportDir(state_dir));
  nlohmann::json j = {
      {"agent_id", id.agent_id},       {"credential", id.credential},
      {"tenant_id", id.tenant_id},     {"manager_url", id.manager_url},
      {"fingerprint", id.fingerprint}, {"proxy", id.proxy},
      {"machine_id", id.machine_id},   {"heartbeat_interval_s", id.heartbeat_interval_s}};
  return WriteFileAtomic(TransportDir(state_dir) / "identity.json", j.dump(2) + "\n", 0600);
}

Result<ManagedPolicy> LoadCachedPolicy(const std::filesystem::path& state_dir) {
  auto path = TransportDir(state_dir) / "policy.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFound(fmt::format("{}: no policy received yet", path.string()));
  }
  WARD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return DataLoss(fmt::format("{}: not JSON", path.string()));
  return ParseManagedPolicy(j, path.string());
}

Status SaveCachedPolicy(const std::filesystem::path& state_dir, const ManagedPolicy& policy) {
  WARD_RETURN_IF_ERROR(PrepareTransportDir(state_dir));
  return WriteFileAtomic(TransportDir(state_dir) / "policy.json",
                         ManagedPolicyToJson(policy).dump() + "\n", 0600);
}

std::string MachineId() {
  if (const char* v = std::getenv("WARD_MACHINE_ID"); v != nullptr && *v != '\0') return v;
  std::ifstream in("/etc/machine-id");
  std::string id;
  std::getline(in, id);
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ' || id.back() == '\r')) id.pop_back();
  return id;
}

}  // namespace ward::agent::transport

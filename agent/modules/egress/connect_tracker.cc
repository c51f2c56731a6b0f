// ConnectTracker: the eBPF program of bpf/connect_record.bpf.c, loaded through the skeleton that
// `bpftool gen skeleton` made of it at build time (the object is embedded: no file to install).
// Without eBPF support in the build (WARD_HAVE_EBPF unset: no libbpf, clang or bpftool at
// configure time) Attach() says so and egress attributes by socket inode.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/modules/egress/attribution.h"

#ifdef WARD_HAVE_EBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <filesystem>

#include "agent/modules/egress/bpf/connect_record.h"
#include "common/log.h"
#include "connect_record.skel.h"  // generated (build/…/bpf/)
#endif

namespace ward::agent::egress {

#ifndef WARD_HAVE_EBPF

Result<std::unique_ptr<ConnectTracker>> ConnectTracker::Attach(const std::string& /*mount_dir*/) {
  return Unavailable("this build has no eBPF support (libbpf, clang or bpftool were missing)");
}

#else

namespace {

// libbpf's own messages (why a load failed: the verifier's log) go to the agent's log.
int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = std::vsnprintf(line, sizeof(line), format, args);
  std::string_view text(line,
                        n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1));
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  spdlog::debug("egress: libbpf: {}", text);
  return n;
}

// The first cgroup2 mount point in /proc/self/mounts, "" when none.
std::string Cgroup2Mount() {
  std::ifstream in("/proc/self/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string source, target, type;
    fields >> source >> target >> type;
    if (type == "cgroup2") return target;
  }
  return "";
}

uint32_t ProgId(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return 0;
  return info.id;
}

uint32_t MapIdOf(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return 0;
  return info.id;
}

class BpfConnectTracker final : public ConnectTracker {
 public:
  BpfConnectTracker(connect_record* skel, std::string root, bool mounted)
      : skel_(skel), root_(std::move(root)), mounted_(mounted) {}
  ~BpfConnectTracker() override {
    // Destroying the skeleton closes the links (the programs are detached) and the program and
    // map descriptors (the kernel frees them: nothing else holds them).
    connect_record__destroy(skel_);
    if (mounted_) {
      ::umount2(root_.c_str(), MNT_DETACH);
      ::rmdir(root_.c_str());
    }
  }
  std::optional<Record> Find(uint64_t cookie) const override {
    ward_connect_record r{};
    if (bpf_map__lookup_elem(skel_->maps.ward_connects, &cookie, sizeof(cookie), &r, sizeof(r),
                             0) != 0) {
      return std::nullopt;
    }
    Record out;
    out.pid = static_cast<int>(r.tgid);
    out.tid = static_cast<int>(r.pid);
    out.uid = r.uid;
    out.gid = r.gid;
    out.cgroup_id = r.cgroup_id;
    out.comm.assign(r.comm, strnlen(r.comm, sizeof(r.comm)));
    return out;
  }
  const std::string& cgroup_root() const override { return root_; }
  std::vector<uint32_t> ProgramIds() const override {
    return {ProgId(bpf_program__fd(skel_->progs.ward_connect4)),
            ProgId(bpf_program__fd(skel_->progs.ward_connect6))};
  }
  uint32_t MapId() const override { return MapIdOf(bpf_map__fd(skel_->maps.ward_connects)); }

 private:
  connect_record* skel_;
  std::string root_;
  bool mounted_;
};

}  // namespace

Result<std::unique_ptr<ConnectTracker>> ConnectTracker::Attach(const std::string& mount_dir) {
  static const bool print_set = [] {
    libbpf_set_print(LibbpfPrint);
    return true;
  }();
  (void)print_set;
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    return Unavailable("the kernel has no BTF (/sys/kernel/btf/vmlinux)");
  }
  std::string root = Cgroup2Mount();
  bool mounted = false;
  if (root.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(mount_dir, ec);
    if (ec)
      return Unavailable(fmt::format("no cgroup2 mount, and {}: {}", mount_dir, ec.message()));
    if (::mount("cgroup2", mount_dir.c_str(), "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0) {
      const int err = errno;
      ::rmdir(mount_dir.c_str());
      return ErrnoStatus(err, "no cgroup2 mount, and mounting one failed");
    }
    root = mount_dir;
    mounted = true;
  }
  auto fail = [&](connect_record* skel, int err, std::string_view what) {
    if (skel != nullptr) connect_record__destroy(skel);
    if (mounted) {
      ::umount2(root.c_str(), MNT_DETACH);
      ::rmdir(root.c_str());
    }
    return ErrnoStatus(err, what);
  };
  connect_record* skel = connect_record__open();
  if (skel == nullptr) return fail(nullptr, errno, "eBPF: opening the program");
  if (int err = connect_record__load(skel); err != 0) {
    return fail(skel, -err, "eBPF: loading cgroup/connect4/6 (the kernel refused it)");
  }
  int cg = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) return fail(skel, errno, fmt::format("eBPF: opening {}", root));
  skel->links.ward_connect4 = bpf_program__attach_cgroup(skel->progs.ward_connect4, cg);
  int err4 = skel->links.ward_connect4 == nullptr ? errno : 0;
  skel->links.ward_connect6 =
      err4 != 0 ? nullptr : bpf_program__attach_cgroup(skel->progs.ward_connect6, cg);
  int err6 = err4 == 0 && skel->links.ward_connect6 == nullptr ? errno : 0;
  ::close(cg);
  if (err4 != 0 || err6 != 0) {
    return fail(skel, err4 != 0 ? err4 : err6, fmt::format("eBPF: attaching to {}", root));
  }
  return std::unique_ptr<ConnectTracker>(
      std::make_unique<BpfConnectTracker>(skel, std::move(root), mounted));
}

#endif

}  // namespace ward::agent::egress

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <map>
#include <vector>

#include "agent/core/watch/watcher.h"
#include "common/file_system.h"
#include "common/log.h"

namespace ward::watch {
namespace {

constexpr uint64_t kMask = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_MODIFY |
                           FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_DELETE_SELF | FAN_MOVE_SELF |
                           FAN_ONDIR;

std::string ParentThatExists(std::string path) {
  for (;;) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return path;
    if (path == "/") return path;
    auto slash = path.rfind('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

class FanotifyWatcher final : public Watcher {
 public:
  FanotifyWatcher(const PathFilter& filter, UniqueFd fd, std::vector<UniqueFd> mount_fds)
      : filter_(filter), fd_(std::move(fd)), mount_fds_(std::move(mount_fds)) {}

  std::string_view Name() const override { return "fanotify"; }

  void Run(std::stop_token stop, const std::function<void(Notice)>& on_notice) override {
    alignas(struct fanotify_event_metadata) char buf[64 * 1024];
    while (!stop.stop_requested()) {
      struct pollfd pfd {
        fd_.get(), POLLIN, 0
      };
      int pr = ::poll(&pfd, 1, 100);
      if (pr <= 0) continue;
      ssize_t len = ::read(fd_.get(), buf, sizeof buf);
      if (len <= 0) continue;
      // Records are walked by offset and copied out: the kernel does not promise that they are
      // aligned for their types inside the buffer.
      for (size_t off = 0;
           off + sizeof(struct fanotify_event_metadata) <= static_cast<size_t>(len);) {
        struct fanotify_event_metadata md;
        std::memcpy(&md, buf + off, sizeof md);
        if (md.event_len < sizeof md || off + md.event_len > static_cast<size_t>(len)) break;
        if (md.vers == FANOTIFY_METADATA_VERSION) {
          if (md.mask & FAN_Q_OVERFLOW) {
            on_notice({Notice::Kind::kRescanAll, "", "fanotify queue overflow"});
          } else {
            HandleEvent(md, buf + off, on_notice);
          }
        }
        off += md.event_len;
      }
    }
  }

 private:
  void HandleEvent(const struct fanotify_event_metadata& m, const char* raw,
                   const std::function<void(Notice)>& on_notice) {
    const struct fanotify_event_metadata* md = &m;
    const char* end = raw + m.event_len;
    const char* p = raw + m.metadata_len;
    while (p + sizeof(struct fanotify_event_info_header) <= end) {
      struct fanotify_event_info_header info;
      std::memcpy(&info, p, sizeof info);
      const auto* hdr = &info;
      if (hdr->len == 0 || p + hdr->len > end) break;
      if (hdr->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
          hdr->info_type == FAN_EVENT_INFO_TYPE_DFID || hdr->info_type == FAN_EVENT_INFO_TYPE_FID) {
        // The file handle follows the header and the fsid; read its size without assuming
        // alignment, and copy it whole (Resolve needs an aligned struct file_handle).
        const char* handle_raw = p + offsetof(struct fanotify_event_info_fid, handle);
        unsigned int handle_bytes = 0;
        std::memcpy(&handle_bytes, handle_raw + offsetof(struct file_handle, handle_bytes),
                    sizeof handle_bytes);
        size_t handle_size = sizeof(struct file_handle) + handle_bytes;
        if (handle_raw + handle_size > p + hdr->len) break;
        std::vector<char> handle_copy(handle_size);
        std::memcpy(handle_copy.data(), handle_raw, handle_size);
        auto* handle = reinterpret_cast<const struct file_handle*>(handle_copy.data());
        const char* name = nullptr;
        if (hdr->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) name = handle_raw + handle_size;
        std::string dir;
        if (!Resolve(handle, dir)) {
          ++unresolved_;
          // The directory is gone; its own deletion/move event (on its parent) covers it.
        } else if (name != nullptr && std::strcmp(name, ".") != 0) {
          std::string path = dir == "/" ? "/" + std::string(name) : dir + "/" + name;
          bool is_dir = md->mask & FAN_ONDIR;
          bool subtree =
              is_dir && (md->mask & (FAN_CREATE | FAN_MOVED_TO | FAN_MOVED_FROM | FAN_DELETE));
          Emit(path, subtree, on_notice);
        } else {
          // An event on the directory itself (attributes, deleted, moved).
          bool subtree = md->mask & (FAN_DELETE_SELF | FAN_MOVE_SELF);
          Emit(dir, subtree, on_notice);
        }
        break;
      }
      p += hdr->len;
    }
  }

  void Emit(const std::string& path, bool subtree, const std::function<void(Notice)>& on_notice) {
    // Only paths under a root matter; a root's ancestors matter only when they are the root.
    if (filter_.RootOf(path) == nullptr) {
      // A directory above a root was moved or deleted: the root may be gone.
      for (const auto& r : filter_.roots()) {
        if (subtree && IsUnder(r.path, path)) on_notice({Notice::Kind::kSubtree, r.path, ""});
      }
      return;
    }
    on_notice({subtree ? Notice::Kind::kSubtree : Notice::Kind::kPath, path, ""});
  }

  bool Resolve(const struct file_handle* handle, std::string& out) {
    // The handle is not aligned in the buffer; copy it.
    std::vector<char> copy(sizeof(struct file_handle) + handle->handle_bytes);
    std::memcpy(copy.data(), handle, copy.size());
    auto* h = reinterpret_cast<struct file_handle*>(copy.data());
    for (const auto& mfd : mount_fds_) {
      int fd = ::open_by_handle_at(mfd.get(), h, O_PATH | O_CLOEXEC);
      if (fd < 0) continue;
      UniqueFd guard(fd);
      // A directory that is gone has no links left. (Its /proc name ends in " (deleted)", but so
      // can a live directory's: the name is not evidence.)
      struct stat st {};
      if (::fstat(fd, &st) != 0 || st.st_nlink == 0) return false;
      char link[64];
      std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
      std::string target(PATH_MAX + 1, '\0');
      ssize_t n = ::readlink(link, target.data(), target.size());
      if (n <= 0 || static_cast<size_t>(n) >= target.size()) return false;
      target.resize(static_cast<size_t>(n));
      out = std::move(target);
      return true;
    }
    return false;
  }

  const PathFilter& filter_;
  UniqueFd fd_;
  std::vector<UniqueFd> mount_fds_;
  uint64_t unresolved_ = 0;
};

}  // namespace

Result<std::unique_ptr<Watcher>> CreateFanotifyWatcher(const PathFilter& filter) {
  int fd = ::fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
                           O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fd < 0)
    return ErrnoStatus(errno, "fanotify_init(FAN_REPORT_DFID_NAME)").WithContext("fanotify");
  UniqueFd guard(fd);
  std::vector<UniqueFd> mount_fds;
  std::map<std::pair<int32_t, int32_t>, bool> seen_fs;
  for (const auto& root : filter.roots()) {
    std::string at = ParentThatExists(root.path);
    struct statfs sf {};
    if (::statfs(at.c_str(), &sf) != 0) continue;
    auto key = std::make_pair(sf.f_fsid.__val[0], sf.f_fsid.__val[1]);
    if (seen_fs[key]) continue;
    if (::fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kMask, AT_FDCWD, at.c_str()) != 0) {
      return ErrnoStatus(errno, fmt::format("fanotify_mark(FAN_MARK_FILESYSTEM, {})", at));
    }
    seen_fs[key] = true;
    int mfd = ::open(at.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mfd < 0) {
      // `at` is a file root; open its directory.
      std::string dir = at.substr(0, at.rfind('/'));
      mfd = ::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (mfd >= 0) mount_fds.emplace_back(mfd);
  }
  return std::unique_ptr<Watcher>(
      new FanotifyWatcher(filter, std::move(guard), std::move(mount_fds)));
}

}  // namespace ward::watch

#include <fmt/format.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "agent/core/watch/watcher.h"
#include "common/file_system.h"

namespace ward::watch {
namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY |
                           IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF |
                           IN_DONT_FOLLOW | IN_EXCL_UNLINK;
constexpr auto kRetryEvery = std::chrono::seconds(2);  // missing roots, on the clock

class InotifyWatcher final : public Watcher {
 public:
  InotifyWatcher(const PathFilter& filter, const Clock& clock, UniqueFd fd)
      : filter_(filter), clock_(clock), fd_(std::move(fd)) {}

  std::string_view Name() const override { return "inotify"; }

  // Adds the watches for every root now, before the caller's first full look, so that nothing
  // changed after that look can be missed. Degradations are held until Run().
  void AddInitialWatches() {
    std::function<void(Notice)> hold = [this](Notice n) { held_.push_back(std::move(n)); };
    on_notice_ = &hold;
    for (const auto& r : filter_.roots()) AddRoot(r.path);
    on_notice_ = nullptr;
  }

  void Run(std::stop_token stop, const std::function<void(Notice)>& on_notice) override {
    on_notice_ = &on_notice;
    for (auto& n : held_) on_notice(std::move(n));
    held_.clear();
    alignas(struct inotify_event) char buf[64 * 1024];
    auto last_retry = clock_.SteadyNow();
    while (!stop.stop_requested()) {
      struct pollfd pfd {
        fd_.get(), POLLIN, 0
      };
      int pr = ::poll(&pfd, 1, 100);
      auto now = clock_.SteadyNow();
      if (now - last_retry >= kRetryEvery) {
        last_retry = now;
        RetryMissingRoots();
      }
      if (pr <= 0) continue;
      ssize_t len = ::read(fd_.get(), buf, sizeof buf);
      if (len <= 0) continue;
      for (char* p = buf; p < buf + len;) {
        auto* ev = reinterpret_cast<struct inotify_event*>(p);
        Handle(*ev);
        p += sizeof(struct inotify_event) + ev->len;
      }
    }
  }

 private:
  void Handle(const struct inotify_event& ev) {
    if (ev.mask & IN_Q_OVERFLOW) {
      // Directories created in what was lost have no watch yet: add every missing one first
      // (adding an existing watch is harmless), then have everything looked at again.
      for (const auto& r : filter_.roots()) AddRoot(r.path);
      (*on_notice_)({Notice::Kind::kRescanAll, "", "inotify queue overflow"});
      return;
    }
    auto it = wd_path_.find(ev.wd);
    if (it == wd_path_.end()) return;
    std::string dir = it->second;
    if (ev.mask & IN_IGNORED) {
      wd_path_.erase(it);
      path_wd_.erase(dir);
      return;
    }
    if (ev.len == 0 || ev.name[0] == '\0') {
      // The watched directory (or file root) itself.
      bool subtree = ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF);
      if (subtree) {
        ForgetSubtree(dir);
        missing_roots_dirty_ = true;
      }
      Emit(dir, subtree);
      return;
    }
    std::string path = dir == "/" ? "/" + std::string(ev.name) : dir + "/" + ev.name;
    bool is_dir = ev.mask & IN_ISDIR;
    if (is_dir && (ev.mask & (IN_CREATE | IN_MOVED_TO))) {
      AddTree(path);  // before the notice, so nothing created inside it is missed
      Emit(path, true);
      return;
    }
    if (is_dir && (ev.mask & (IN_DELETE | IN_MOVED_FROM))) {
      ForgetSubtree(path);
      Emit(path, true);
      return;
    }
    Emit(path, false);
  }

  void Emit(const std::string& path, bool subtree) {
    if (filter_.RootOf(path) == nullptr) return;
    (*on_notice_)({subtree ? Notice::Kind::kSubtree : Notice::Kind::kPath, path, ""});
  }

  void AddRoot(const std::string& root) {
    struct stat st {};
    if (::lstat(root.c_str(), &st) != 0) {
      missing_roots_.push_back(root);
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      AddTree(root);
    } else {
      AddWatch(root);
    }
  }

  void RetryMissingRoots() {
    if (missing_roots_.empty() && !missing_roots_dirty_) return;
    missing_roots_dirty_ = false;
    std::vector<std::string> still;
    std::vector<std::string> roots = std::move(missing_roots_);
    for (const auto& r : filter_.roots()) {
      if (path_wd_.count(r.path) == 0) roots.push_back(r.path);
    }
    missing_roots_.clear();
    for (const auto& r : roots) {
      struct stat st {};
      if (::lstat(r.c_str(), &st) != 0) {
        still.push_back(r);
        continue;
      }
      if (path_wd_.count(r) != 0) continue;
      AddRoot(r);
      Emit(r, true);
    }
    for (auto& s : still) {
      if (std::find(missing_roots_.begin(), missing_roots_.end(), s) == missing_roots_.end()) {
        missing_roots_.push_back(std::move(s));
      }
    }
  }

  bool AddWatch(const std::string& path) {
    int wd = ::inotify_add_watch(fd_.get(), path.c_str(), kMask);
    if (wd < 0) {
      if (errno == ENOSPC) {
        (*on_notice_)(
            {Notice::Kind::kWarning, path,
             fmt::format("inotify watch limit reached at {} (fs.inotify.max_user_watches); "
                         "this directory is polled instead",
                         path)});
      } else if (errno != ENOENT && errno != ENOTDIR) {
        (*on_notice_)({Notice::Kind::kWarning, path,
                       fmt::format("cannot watch {} ({}); this directory is polled instead", path,
                                   std::strerror(errno))});
      }
      return false;
    }
    wd_path_[wd] = path;
    path_wd_[path] = wd;
    return true;
  }

  void AddTree(const std::string& top) {
    std::vector<std::string> stack{top};
    while (!stack.empty()) {
      std::string dir = std::move(stack.back());
      stack.pop_back();
      const WatchRoot* root = filter_.RootOf(dir);
      if (root == nullptr || filter_.Excluded(*root, dir)) continue;
      if (!AddWatch(dir)) continue;
      if (!root->recursive && dir != root->path) continue;
      if (!root->recursive) continue;
      auto entries = RealFileSystem().ListDir(dir);
      if (!entries) continue;
      for (const auto& e : *entries) {
        std::string child = dir == "/" ? "/" + e.name : dir + "/" + e.name;
        bool is_dir = e.type == FileType::kDirectory;
        if (e.type == FileType::kUnknown) {
          struct stat st {};
          is_dir = ::lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (is_dir) stack.push_back(std::move(child));
      }
    }
  }

  void ForgetSubtree(const std::string& dir) {
    for (auto it = path_wd_.begin(); it != path_wd_.end();) {
      if (IsUnder(it->first, dir)) {
        ::inotify_rm_watch(fd_.get(), it->second);
        wd_path_.erase(it->second);
        it = path_wd_.erase(it);
      } else {
        ++it;
      }
    }
  }

  const PathFilter& filter_;
  const Clock& clock_;
  UniqueFd fd_;
  const std::function<void(Notice)>* on_notice_ = nullptr;
  std::unordered_map<int, std::string> wd_path_;
  std::unordered_map<std::string, int> path_wd_;
  std::vector<std::string> missing_roots_;
  bool missing_roots_dirty_ = false;
  std::vector<Notice> held_;
};

}  // namespace

Result<std::unique_ptr<Watcher>> CreateInotifyWatcher(const PathFilter& filter,
                                                      const Clock& clock) {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "inotify_init1");
  auto w = std::make_unique<InotifyWatcher>(filter, clock, UniqueFd(fd));
  w->AddInitialWatches();
  return std::unique_ptr<Watcher>(std::move(w));
}

}  // namespace ward::watch

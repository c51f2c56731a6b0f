// FaultyFileSystem: wraps a real FileSystem and fails the operations a test picks, on paths that
// contain a chosen substring. Thread-safe.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <tuple>

#include "common/file_system.h"

namespace ward::test {

class FaultyFileSystem final : public FileSystem {
 public:
  enum class Op { kLstat, kListDir, kOpen, kReadLink, kReadFile, kWrite, kRename, kRemove, kMkdir };

  explicit FaultyFileSystem(FileSystem& base = RealFileSystem()) : base_(base) {}

  // Operation `op` on any path containing `needle` fails with `err` (an errno value).
  void FailOn(Op op, std::string needle, int err) {
    std::lock_guard lock(mu_);
    faults_.insert({op, std::move(needle), err});
  }
  void Clear() {
    std::lock_guard lock(mu_);
    faults_.clear();
  }

  Result<FileStat> Lstat(const std::string& p) override {
    if (auto s = Fault(Op::kLstat, p); !s.ok()) return s;
    return base_.Lstat(p);
  }
  Result<std::vector<DirEntry>> ListDir(const std::string& p) override {
    if (auto s = Fault(Op::kListDir, p); !s.ok()) return s;
    return base_.ListDir(p);
  }
  Result<UniqueFd> OpenForRead(const std::string& p) override {
    if (auto s = Fault(Op::kOpen, p); !s.ok()) return s;
    return base_.OpenForRead(p);
  }
  Result<std::string> ReadLink(const std::string& p) override {
    if (auto s = Fault(Op::kReadLink, p); !s.ok()) return s;
    return base_.ReadLink(p);
  }
  Result<std::string> ReadFile(const std::string& p, uint64_t max) override {
    if (auto s = Fault(Op::kReadFile, p); !s.ok()) return s;
    return base_.ReadFile(p, max);
  }
  Status WriteFileAtomic(const std::string& p, std::string_view d, uint32_t m) override {
    WARD_RETURN_IF_ERROR(Fault(Op::kWrite, p));
    return base_.WriteFileAtomic(p, d, m);
  }
  Status Rename(const std::string& a, const std::string& b) override {
    WARD_RETURN_IF_ERROR(Fault(Op::kRename, a));
    return base_.Rename(a, b);
  }
  Status Remove(const std::string& p) override {
    WARD_RETURN_IF_ERROR(Fault(Op::kRemove, p));
    return base_.Remove(p);
  }
  Status CreateDirectories(const std::string& p, uint32_t m) override {
    WARD_RETURN_IF_ERROR(Fault(Op::kMkdir, p));
    return base_.CreateDirectories(p, m);
  }

 private:
  struct Rule {
    Op op;
    std::string needle;
    int err;
    bool operator<(const Rule& o) const {
      return std::tie(op, needle, err) < std::tie(o.op, o.needle, o.err);
    }
  };
  Status Fault(Op op, const std::string& path) {
    std::lock_guard lock(mu_);
    for (const auto& r : faults_) {
      if (r.op == op && path.find(r.needle) != std::string::npos) {
        return ErrnoStatus(r.err, "injected fault on " + path);
      }
    }
    return Status::Ok();
  }
  FileSystem& base_;
  std::mutex mu_;
  std::set<Rule> faults_;
};

}  // namespace ward::test

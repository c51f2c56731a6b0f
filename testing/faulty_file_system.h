// FaultyFileSystem: wraps a real FileSystem and fails the operations a test picks, on paths that
// contain a chosen substring. Directories it opens fail the same way, on the full path of each
// entry: Directory::StatAt and Stat are kLstat, ReadLinkAt kReadLink, OpenForReadAt kOpen, and
// opening or listing a directory (OpenDir, OpenDirAt, List) is kListDir. Files it creates
// (CreateExclusive, kCreate) fail their Append/Sync as kWrite. SetSpaceLeft() models a disk that
// fills up: writes beyond it fail with ENOSPC (an Append writes what fits first). Thread-safe.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/file_system.h"

namespace ward::test {

class FaultyFileSystem final : public FileSystem {
 public:
  enum class Op {
    kLstat,
    kListDir,
    kOpen,
    kReadLink,
    kReadFile,
    kWrite,
    kRename,
    kRemove,
    kMkdir,
    kCreate
  };

  explicit FaultyFileSystem(FileSystem& base = RealFileSystem()) : base_(base) {}

  // Operation `op` on any path containing `needle` fails with `err` (an errno value).
  void FailOn(Op op, std::string needle, int err) {
    std::lock_guard lock(mu_);
    faults_.insert({op, std::move(needle), err});
  }
  void Clear() {
    std::lock_guard lock(mu_);
    faults_.clear();
    space_left_.reset();
  }
  // Bytes that may still be written (WriteFileAtomic, WritableFile::Append) before ENOSPC;
  // nullopt: no limit.
  void SetSpaceLeft(std::optional<uint64_t> bytes) {
    std::lock_guard lock(mu_);
    space_left_ = bytes;
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
    if (TakeSpace(d.size()) < d.size()) return ErrnoStatus(ENOSPC, "injected disk full on " + p);
    return base_.WriteFileAtomic(p, d, m);
  }
  Result<std::unique_ptr<WritableFile>> CreateExclusive(const std::string& p, uint32_t m) override {
    if (auto s = Fault(Op::kCreate, p); !s.ok()) return s;
    WARD_ASSIGN_OR_RETURN(auto file, base_.CreateExclusive(p, m));
    return std::unique_ptr<WritableFile>(
        std::make_unique<FaultyWritableFile>(*this, std::move(file)));
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
  Result<std::unique_ptr<Directory>> OpenDir(const std::string& p) override {
    if (auto s = Fault(Op::kListDir, p); !s.ok()) return s;
    WARD_ASSIGN_OR_RETURN(auto dir, base_.OpenDir(p));
    return Wrap(std::move(dir));
  }

 private:
  // The base file system's directory, with this object's faults.
  class FaultyDirectory final : public Directory {
   public:
    FaultyDirectory(FaultyFileSystem& fs, std::unique_ptr<Directory> base)
        : fs_(fs), base_(std::move(base)) {}
    const std::string& path() const override { return base_->path(); }
    Result<FileStat> Stat() override {
      if (auto s = fs_.Fault(Op::kLstat, path()); !s.ok()) return s;
      return base_->Stat();
    }
    bool IsPseudoFs() override { return base_->IsPseudoFs(); }
    Result<std::vector<DirEntry>> List() override {
      if (auto s = fs_.Fault(Op::kListDir, path()); !s.ok()) return s;
      return base_->List();
    }
    Result<FileStat> StatAt(const std::string& n) override {
      if (auto s = fs_.Fault(Op::kLstat, JoinPath(path(), n)); !s.ok()) return s;
      return base_->StatAt(n);
    }
    Result<std::string> ReadLinkAt(const std::string& n) override {
      if (auto s = fs_.Fault(Op::kReadLink, JoinPath(path(), n)); !s.ok()) return s;
      return base_->ReadLinkAt(n);
    }
    Result<UniqueFd> OpenForReadAt(const std::string& n) override {
      if (auto s = fs_.Fault(Op::kOpen, JoinPath(path(), n)); !s.ok()) return s;
      return base_->OpenForReadAt(n);
    }
    Result<std::unique_ptr<Directory>> OpenDirAt(const std::string& n) override {
      if (auto s = fs_.Fault(Op::kListDir, JoinPath(path(), n)); !s.ok()) return s;
      WARD_ASSIGN_OR_RETURN(auto dir, base_->OpenDirAt(n));
      return fs_.Wrap(std::move(dir));
    }

   private:
    FaultyFileSystem& fs_;
    std::unique_ptr<Directory> base_;
  };

  // The base file system's file, with this object's write faults and space.
  class FaultyWritableFile final : public WritableFile {
   public:
    FaultyWritableFile(FaultyFileSystem& fs, std::unique_ptr<WritableFile> base)
        : fs_(fs), base_(std::move(base)) {}
    const std::string& path() const override { return base_->path(); }
    Status Append(std::string_view data) override {
      WARD_RETURN_IF_ERROR(fs_.Fault(Op::kWrite, path()));
      size_t fits = fs_.TakeSpace(data.size());
      WARD_RETURN_IF_ERROR(base_->Append(data.substr(0, fits)));
      if (fits < data.size()) return ErrnoStatus(ENOSPC, "injected disk full on " + path());
      return Status::Ok();
    }
    Status SetOwner(uint32_t uid, uint32_t gid) override { return base_->SetOwner(uid, gid); }
    Status SetMode(uint32_t mode) override { return base_->SetMode(mode); }
    Status SetMtime(int64_t ns) override { return base_->SetMtime(ns); }
    Status Sync() override {
      WARD_RETURN_IF_ERROR(fs_.Fault(Op::kWrite, path()));
      return base_->Sync();
    }

   private:
    FaultyFileSystem& fs_;
    std::unique_ptr<WritableFile> base_;
  };

  // How many of `want` bytes fit in the space left (all when there is no limit); takes them.
  size_t TakeSpace(size_t want) {
    std::lock_guard lock(mu_);
    if (!space_left_) return want;
    size_t fits = static_cast<size_t>(std::min<uint64_t>(*space_left_, want));
    *space_left_ -= fits;
    return fits;
  }

  std::unique_ptr<Directory> Wrap(std::unique_ptr<Directory> dir) {
    return std::make_unique<FaultyDirectory>(*this, std::move(dir));
  }

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
  std::optional<uint64_t> space_left_;
};

}  // namespace ward::test

#include "agent/updates/installer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "agent/updates/cdiff.h"
#include "common/hash.h"

namespace ward::updates {
namespace {

namespace fs = std::filesystem;

Status Errno(std::string_view what, const fs::path& p) {
  return Unavailable(fmt::format("{} {}: {}", what, p.string(), std::strerror(errno)));
}

Status WriteAll(int fd, std::string_view data, const fs::path& p) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", p);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Creates `p` (which must not exist), writes `data`, fsyncs.
Status WriteNewFile(const fs::path& p, std::string_view data, mode_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return Errno("create", p);
  Status s = WriteAll(fd, data, p);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("fsync", p);
  ::close(fd);
  if (!s.ok()) ::unlink(p.c_str());
  return s;
}

Result<std::string> ReadSmallFile(const fs::path& p, size_t limit) {
  int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Errno("open", p);
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) break;
  }
  ::close(fd);
  if (out.size() > limit) return InvalidArgument(fmt::format("{}: too large", p.string()));
  return out;
}

// SHA-256 (hex) and size of a file, read without following a symbolic link.
Result<std::pair<std::string, uint64_t>> HashFile(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Errno("open", p);
  Sha256 h;
  std::vector<uint8_t> buf(1 << 20);
  uint64_t n = 0;
  auto d = Sha256Fd(fd, buf, h, &n);
  ::close(fd);
  if (!d) return d.error();
  return std::make_pair(DigestHex(*d), n);
}

std::string VersionName(int64_t v) { return fmt::format("v{}", v); }

// The files of the version a directory holds, from its .manifest.json (name -> sha256).
std::vector<FileEntry> HeldFiles(const fs::path& dir) {
  auto text = ReadSmallFile(dir / ".manifest.json", kMaxManifestBytes);
  if (!text) return {};
  auto m = ParseManifest(*text);
  return m ? m->files : std::vector<FileEntry>{};
}

// Makes `f` from the held file `from` and the cdiff f.delta names; returns its bytes, checked
// against the manifest's size and SHA-256. Nothing is written here.
Result<std::string> Patch(const FileEntry& f, const fs::path& from, const FetchFn& fetch,
                          uint64_t* fetched) {
  FileEntry d;
  d.name = f.name + ".cdiff";
  d.sha256 = f.delta->sha256;
  d.size = f.delta->size;
  WARD_ASSIGN_OR_RETURN(std::string cdiff, fetch(d));
  *fetched += cdiff.size();
  if (cdiff.size() != d.size || DigestHex(Sha256::Of(cdiff)) != d.sha256) {
    return DataLoss("the cdiff differs from the signed manifest (size or SHA-256)");
  }
  WARD_ASSIGN_OR_RETURN(std::string old_bytes, ReadSmallFile(from, kMaxFileBytes));
  if (DigestHex(Sha256::Of(old_bytes)) != f.delta->from_sha256) {
    return DataLoss("the held file is not the one the cdiff applies to");
  }
  WARD_ASSIGN_OR_RETURN(cdiff::Database db, cdiff::ReadDatabase(old_bytes));
  WARD_ASSIGN_OR_RETURN(std::string script, cdiff::ScriptOf(cdiff));
  WARD_RETURN_IF_ERROR(cdiff::ApplyScript(script, db.files));
  WARD_ASSIGN_OR_RETURN(std::string out, cdiff::WriteCanonical(db.files));
  if (out.size() != f.size || DigestHex(Sha256::Of(out)) != f.sha256) {
    return DataLoss(fmt::format(
        "applying the cdiff gives {} bytes that are not the file the signed manifest names",
        out.size()));
  }
  return out;
}

}  // namespace

Installer::Installer(std::filesystem::path state_dir) : root_(UpdatesRoot(state_dir)) {}

fs::path Installer::KindDir(std::string_view kind) const { return root_ / std::string(kind); }

int64_t Installer::Current(std::string_view kind) const {
  std::error_code ec;
  fs::path target = fs::read_symlink(KindDir(kind) / "current", ec);
  if (ec) return 0;
  std::string t = target.filename().string();
  if (t.size() < 2 || t[0] != 'v') return 0;
  int64_t v = 0;
  for (size_t i = 1; i < t.size(); ++i) {
    if (t[i] < '0' || t[i] > '9' || v > (int64_t{1} << 50)) return 0;
    v = v * 10 + (t[i] - '0');
  }
  return v;
}

Result<PublicKey> Installer::PinKey(std::string_view offered_b64) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  ::chmod(root_.c_str(), 0700);
  const fs::path file = root_ / "update_key";
  auto pinned = ReadSmallFile(file, 4096);
  if (pinned) {
    WARD_ASSIGN_OR_RETURN(PublicKey k, PublicKeyFromBase64(*pinned));
    if (!offered_b64.empty() && offered_b64 != *pinned) {
      return PermissionDenied(fmt::format(
          "the manager offers update key {} but {} is pinned ({}); remove that file to accept "
          "a new key",
          offered_b64, *pinned, file.string()));
    }
    return k;
  }
  if (offered_b64.empty()) return FailedPrecondition("no update key pinned and none offered");
  WARD_ASSIGN_OR_RETURN(PublicKey k, PublicKeyFromBase64(offered_b64));
  const fs::path tmp = root_ / "update_key.tmp";
  ::unlink(tmp.c_str());
  WARD_RETURN_IF_ERROR(WriteNewFile(tmp, offered_b64, 0600));
  if (::rename(tmp.c_str(), file.c_str()) != 0) return Errno("rename", file);
  return k;
}

Result<StageReport> Installer::Stage(const Manifest& m, const FetchFn& fetch,
                                     const FormatCheck& check) {
  const fs::path kind_dir = KindDir(m.kind);
  std::error_code ec;
  fs::create_directories(kind_dir, ec);
  if (ec) return Unavailable(fmt::format("create {}: {}", kind_dir.string(), ec.message()));
  ::chmod(root_.c_str(), 0700);
  const fs::path partial = kind_dir / (VersionName(m.version) + ".partial");
  const fs::path final_dir = kind_dir / VersionName(m.version);
  fs::remove_all(partial, ec);
  if (::mkdir(partial.c_str(), 0700) != 0) return Errno("create", partial);
  // Files the version in force holds, by SHA-256: copied instead of fetched.
  const fs::path current = kind_dir / "current";
  std::vector<FileEntry> held = HeldFiles(current);

  StageReport report;
  auto fail = [&](Status s) -> Result<StageReport> {
    fs::remove_all(partial, ec);
    return s;
  };
  for (const auto& f : m.files) {
    if (Status s = CheckFileName(m.kind, f.name); !s.ok()) {
      return fail(InvalidArgument(fmt::format("file '{}': {}", f.name, s.message())));
    }
    const fs::path dest = partial / f.name;
    bool reused = false;
    for (const auto& h : held) {
      // A hard link: versions never change a file in place. Checked from disk below.
      if (h.sha256 == f.sha256 && h.size == f.size &&
          ::link((current / h.name).c_str(), dest.c_str()) == 0) {
        reused = true;
        break;
      }
    }
    if (reused) {
      ++report.files_reused;
      continue;
    }
    if (f.delta) {
      auto from = std::find_if(held.begin(), held.end(), [&](const FileEntry& h) {
        return h.sha256 == f.delta->from_sha256;
      });
      if (from != held.end()) {
        uint64_t fetched = 0;
        auto patched = Patch(f, current / from->name, fetch, &fetched);
        report.bytes_fetched += fetched;
        if (patched) {
          if (Status s = WriteNewFile(dest, *patched, 0600); !s.ok()) return fail(s);
          ++report.files_patched;
          report.bytes_patched += patched->size();
          continue;
        }
        report.delta_fallbacks.push_back(fmt::format("{}: {}", f.name, patched.error().ToString()));
      }
    }
    auto bytes = fetch(f);
    if (!bytes) return fail(bytes.error().WithContext(fmt::format("fetch {}", f.name)));
    if (bytes->size() != f.size) {
      return fail(DataLoss(
          fmt::format("file {}: {} bytes where the signed manifest says {} (truncated or changed)",
                      f.name, bytes->size(), f.size)));
    }
    if (std::string got = DigestHex(Sha256::Of(*bytes)); got != f.sha256) {
      return fail(DataLoss(fmt::format("file {}: SHA-256 {} where the signed manifest says {}",
                                       f.name, got, f.sha256)));
    }
    if (Status s = WriteNewFile(dest, *bytes, 0600); !s.ok()) return fail(s);
    ++report.files_fetched;
    report.bytes_fetched += bytes->size();
  }
  // What was written is checked once more from disk, then its format.
  for (const auto& f : m.files) {
    auto h = HashFile(partial / f.name);
    if (!h) return fail(h.error());
    if (h->first != f.sha256 || h->second != f.size) {
      return fail(DataLoss(fmt::format("file {}: changed on disk while staging", f.name)));
    }
    if (check) {
      if (Status s = check(m.kind, partial / f.name); !s.ok()) {
        return fail(s.WithContext(fmt::format("file {}", f.name)));
      }
    }
  }
  if (Status s = WriteNewFile(partial / ".manifest.json", SerializeManifest(m), 0600); !s.ok()) {
    return fail(s);
  }
  if (Current(m.kind) == m.version) {
    return fail(FailedPrecondition(fmt::format("{} v{} is already in force", m.kind, m.version)));
  }
  fs::remove_all(final_dir, ec);
  if (::rename(partial.c_str(), final_dir.c_str()) != 0) return fail(Errno("rename", partial));
  report.dir = final_dir;
  return report;
}

Result<int64_t> Installer::Activate(std::string_view kind, int64_t version) {
  const int64_t before = Current(kind);
  const fs::path dir = KindDir(kind);
  if (!fs::is_directory(dir / VersionName(version))) {
    return NotFound(fmt::format("{} v{} is not staged", kind, version));
  }
  const fs::path tmp = dir / "current.tmp";
  ::unlink(tmp.c_str());
  if (::symlink(VersionName(version).c_str(), tmp.c_str()) != 0) return Errno("symlink", tmp);
  if (::rename(tmp.c_str(), (dir / "current").c_str()) != 0) return Errno("rename", tmp);
  return before;
}

Status Installer::Restore(std::string_view kind, int64_t version) {
  if (version == 0) {
    ::unlink((KindDir(kind) / "current").c_str());
    return Status::Ok();
  }
  auto r = Activate(kind, version);
  return r.status();
}

void Installer::Prune(std::string_view kind, int64_t keep) {
  const int64_t current = Current(kind);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(KindDir(kind), ec)) {
    std::string n = e.path().filename().string();
    if (n == "current" || n == VersionName(current) || n == VersionName(keep)) continue;
    if (n.starts_with("v")) fs::remove_all(e.path(), ec);
  }
}

}  // namespace ward::updates

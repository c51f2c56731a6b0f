#include "manager/services/updates.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "agent/updates/cdiff.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"

namespace ward::manager {
namespace {

namespace fs = std::filesystem;

Status Errno(std::string_view what, const fs::path& p) {
  return Unavailable(fmt::format("{} {}: {}", what, p.string(), std::strerror(errno)));
}

Status WriteFileSynced(const fs::path& p, std::string_view data) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd < 0) return Errno("create", p);
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Errno("write", p);
      ::close(fd);
      return s;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  Status s = ::fsync(fd) == 0 ? Status::Ok() : Errno("fsync", p);
  ::close(fd);
  return s;
}

Result<std::string> ReadWhole(const fs::path& p, uint64_t limit) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Unavailable(fmt::format("read {}: cannot open", p.string()));
  std::string out((std::istreambuf_iterator<char>(in)), {});
  if (out.size() > limit) return InvalidArgument(fmt::format("{}: too large", p.string()));
  return out;
}

std::string TempName(const fs::path& dir) {
  uint8_t r[8];
  (void)RandomBytes(r);
  std::string n = ".tmp-";
  for (uint8_t b : r) n += fmt::format("{:02x}", b);
  return (dir / n).string();
}

// The part of a file name before its extension ("daily.cld" -> "daily").
std::string_view Stem(std::string_view name) { return name.substr(0, name.rfind('.')); }

// The canonical form of a ClamAV .cld/.cud (agent/updates/cdiff.h), or nullopt when `bytes` is
// not one that parses (it is then published as it is, and never gets a delta).
std::optional<std::string> CanonicalContainer(std::string_view name, std::string_view bytes) {
  if (!updates::cdiff::IsRewritableContainer(name)) return std::nullopt;
  auto db = updates::cdiff::ReadDatabase(bytes);
  if (!db) return std::nullopt;
  auto out = updates::cdiff::WriteCanonical(db->files);
  if (!out) return std::nullopt;
  return std::move(*out);
}

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Result<std::unique_ptr<UpdateRepository>> UpdateRepository::Open(fs::path dir,
                                                                 const updates::KeyPair& key) {
  std::error_code ec;
  fs::create_directories(dir / "blobs", ec);
  if (ec) return Unavailable(fmt::format("create {}: {}", (dir / "blobs").string(), ec.message()));
  for (std::string_view kind : updates::kKinds) {
    fs::create_directories(dir / std::string(kind), ec);
    if (ec) return Unavailable(fmt::format("create {}: {}", dir.string(), ec.message()));
  }
  return std::unique_ptr<UpdateRepository>(new UpdateRepository(std::move(dir), key));
}

std::string UpdateRepository::PublicKeyBase64() const {
  return updates::PublicKeyToBase64(key_.public_key);
}

updates::SignedManifest UpdateRepository::SignText(std::string text) const {
  std::string sig = updates::Sign(text, key_);
  return {std::move(text), std::move(sig)};
}

void UpdateRepository::Refresh(std::string_view kind) {
  // REQUIRES: mu_ held.
  const fs::path kdir = dir_ / std::string(kind);
  std::error_code ec;
  auto mtime = fs::last_write_time(kdir, ec);
  if (ec) return;
  auto it = kinds_.find(kind);
  if (it != kinds_.end() && it->second.mtime == mtime) return;
  KindState st;
  st.mtime = mtime;
  for (const auto& e : fs::directory_iterator(kdir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.ends_with(".json") || name.starts_with(".")) continue;
    auto text = ReadWhole(e.path(), 2 * updates::kMaxManifestBytes);
    if (!text) continue;
    auto sm = updates::ParseSignedManifest(*text);
    if (!sm) continue;
    auto m = updates::VerifyAndParse(*sm, key_.public_key, kind);
    if (!m) {
      spdlog::error("update bundle {}: {} (not offered)", e.path().string(), m.error().ToString());
      continue;
    }
    st.versions[m->version] = UpdateBundle{std::move(*m), std::move(*sm)};
  }
  kinds_[std::string(kind)] = std::move(st);
}

std::vector<UpdateBundle> UpdateRepository::Latest() {
  std::lock_guard lock(mu_);
  std::vector<UpdateBundle> out;
  for (std::string_view kind : updates::kKinds) {
    Refresh(kind);
    auto it = kinds_.find(kind);
    if (it != kinds_.end() && !it->second.versions.empty()) {
      out.push_back(it->second.versions.rbegin()->second);
    }
  }
  return out;
}

std::vector<UpdateBundle> UpdateRepository::List(std::string_view kind) {
  std::lock_guard lock(mu_);
  std::vector<UpdateBundle> out;
  for (std::string_view k : updates::kKinds) {
    if (!kind.empty() && k != kind) continue;
    Refresh(k);
    for (const auto& [v, b] : kinds_[std::string(k)].versions) out.push_back(b);
  }
  return out;
}

Result<UpdateBundle> UpdateRepository::Get(std::string_view kind, int64_t version) {
  if (!updates::IsKind(kind)) return NotFound(fmt::format("no bundle kind '{}'", kind));
  std::lock_guard lock(mu_);
  Refresh(kind);
  auto& versions = kinds_[std::string(kind)].versions;
  auto it = versions.find(version);
  if (it == versions.end()) return NotFound(fmt::format("no {} bundle v{}", kind, version));
  return it->second;
}

Status UpdateRepository::StoreBlob(std::string_view bytes, std::string* sha256) {
  *sha256 = DigestHex(Sha256::Of(bytes));
  const fs::path final_path = dir_ / "blobs" / *sha256;
  std::error_code ec;
  if (fs::exists(final_path, ec)) return Status::Ok();
  const std::string tmp = TempName(dir_ / "blobs");
  WARD_RETURN_IF_ERROR(WriteFileSynced(tmp, bytes));
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    Status s = Errno("rename", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

Result<UpdateBundle> UpdateRepository::Commit(updates::Manifest m,
                                              std::chrono::system_clock::time_point now) {
  // REQUIRES: mu_ held; m.files set. Takes the next free version (link(2) fails on a taken one).
  const fs::path kdir = dir_ / m.kind;
  m.created = FormatTimestamp(now);
  for (int attempt = 0; attempt < 100; ++attempt) {
    Refresh(m.kind);
    auto& versions = kinds_[m.kind].versions;
    m.version = versions.empty() ? 1 : versions.rbegin()->first + 1;
    updates::SignedManifest sm{updates::SerializeManifest(m), ""};
    sm.signature = updates::Sign(sm.manifest, key_);
    const std::string tmp = TempName(kdir);
    WARD_RETURN_IF_ERROR(WriteFileSynced(tmp, updates::SignedManifestToJson(sm)));
    const fs::path final_path = kdir / fmt::format("{}.json", m.version);
    int rc = ::link(tmp.c_str(), final_path.c_str());
    int err = errno;
    ::unlink(tmp.c_str());
    if (rc == 0) {
      kinds_[m.kind].mtime = {};  // re-read at the next look
      spdlog::info("update bundle {} v{}: {} file(s)", m.kind, m.version, m.files.size());
      return UpdateBundle{m, sm};
    }
    if (err != EEXIST) {
      errno = err;
      return Errno("link", final_path);
    }
    kinds_[m.kind].mtime = {};  // another node took this version: look again
  }
  return Unavailable("could not take a new bundle version");
}

Result<UpdateBundle> UpdateRepository::Publish(
    std::string_view kind, const std::vector<std::pair<std::string, std::string>>& files,
    bool replace_all, std::chrono::system_clock::time_point now) {
  if (!updates::IsKind(kind)) {
    return InvalidArgument(
        fmt::format("unknown bundle kind '{}' (clamav, yara, crs, rules)", kind));
  }
  for (const auto& [name, bytes] : files) {
    if (Status s = updates::CheckFileName(kind, name); !s.ok()) {
      return InvalidArgument(fmt::format("file '{}': {}", name, s.message()));
    }
  }
  std::vector<updates::FileEntry> entries;
  // ClamAV .cld/.cud are published in canonical form, so that an agent applying a cdiff writes
  // the very same bytes (docs/updates.md, "Incremental ClamAV updates").
  std::map<std::string, std::string> canonical;
  for (const auto& [name, bytes] : files) {
    std::string_view published = bytes;
    if (kind == "clamav") {
      if (auto c = CanonicalContainer(name, bytes)) published = canonical[name] = std::move(*c);
    }
    updates::FileEntry e;
    e.name = name;
    e.size = published.size();
    WARD_RETURN_IF_ERROR(StoreBlob(published, &e.sha256));
    entries.push_back(std::move(e));
  }
  std::lock_guard lock(mu_);
  Refresh(kind);
  updates::Manifest m;
  m.kind = std::string(kind);
  auto& versions = kinds_[m.kind].versions;
  if (!replace_all && !versions.empty()) m.files = versions.rbegin()->second.manifest.files;
  for (auto& f : m.files) f.delta.reset();  // deltas lead from the version before only
  if (!versions.empty()) {
    const auto& previous = versions.rbegin()->second.manifest.files;
    for (auto& e : entries) {
      if (auto c = canonical.find(e.name); c != canonical.end()) {
        e.delta = MakeDelta(previous, e, c->second);
      }
    }
  }
  for (auto& e : entries) {
    auto it = std::find_if(m.files.begin(), m.files.end(),
                           [&](const updates::FileEntry& f) { return f.name == e.name; });
    if (it != m.files.end()) {
      *it = e;
    } else {
      m.files.push_back(e);
    }
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  if (m.files.size() > updates::kMaxFiles) return InvalidArgument("too many files in one bundle");
  return Commit(std::move(m), now);
}

std::optional<updates::Delta> UpdateRepository::MakeDelta(
    const std::vector<updates::FileEntry>& previous, const updates::FileEntry& entry,
    std::string_view bytes) {
  // The file of the version before with the same stem ("daily.cvd" before "daily.cld").
  auto from = std::find_if(previous.begin(), previous.end(), [&](const updates::FileEntry& f) {
    return updates::cdiff::IsContainer(f.name) && Stem(f.name) == Stem(entry.name);
  });
  if (from == previous.end() || from->sha256 == entry.sha256) return std::nullopt;
  auto old_bytes = ReadWhole(dir_ / "blobs" / from->sha256, updates::kMaxFileBytes);
  if (!old_bytes) return std::nullopt;
  auto old_db = updates::cdiff::ReadDatabase(*old_bytes);
  auto new_db = updates::cdiff::ReadDatabase(bytes);
  if (!old_db || !new_db) return std::nullopt;
  auto script = updates::cdiff::MakeScript(old_db->files, new_db->files);
  if (!script) {
    spdlog::info("update bundle clamav: no cdiff for {}: {}", entry.name, script.error().message());
    return std::nullopt;
  }
  // Offered only when applying it as an agent does gives the published bytes exactly.
  std::string cdiff =
      updates::cdiff::WriteCdiff(*script, updates::cdiff::HeaderVersion(new_db->header));
  auto applied = updates::cdiff::ScriptOf(cdiff);
  std::map<std::string, std::string> files = old_db->files;
  if (!applied || !updates::cdiff::ApplyScript(*applied, files).ok()) return std::nullopt;
  auto rebuilt = updates::cdiff::WriteCanonical(files);
  if (!rebuilt || *rebuilt != bytes || cdiff.size() >= bytes.size()) return std::nullopt;
  updates::Delta d;
  d.from_sha256 = from->sha256;
  d.size = cdiff.size();
  if (!StoreBlob(cdiff, &d.sha256).ok()) return std::nullopt;
  spdlog::info("update bundle clamav: {} as a cdiff of {} bytes (whole file {} bytes)", entry.name,
               cdiff.size(), bytes.size());
  return d;
}

Result<std::optional<UpdateBundle>> UpdateRepository::ImportDirectory(
    std::string_view kind, const fs::path& dir, std::chrono::system_clock::time_point now,
    std::vector<std::string>* skipped) {
  if (!updates::IsKind(kind)) return InvalidArgument(fmt::format("unknown bundle kind '{}'", kind));
  std::error_code ec;
  std::vector<std::pair<std::string, std::string>> files;
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    std::error_code sec;
    if (!e.is_regular_file(sec) || !updates::CheckFileName(kind, name).ok()) {
      if (skipped != nullptr) skipped->push_back(name);
      continue;
    }
    names.insert(name);
  }
  if (ec) return Unavailable(fmt::format("read {}: {}", dir.string(), ec.message()));
  if (names.empty()) {
    return NotFound(fmt::format("{} holds no {} file", dir.string(), kind));
  }
  // Unchanged when every file's size and hash equal the latest version's.
  std::vector<updates::FileEntry> latest;
  {
    std::lock_guard lock(mu_);
    Refresh(kind);
    auto& versions = kinds_[std::string(kind)].versions;
    if (!versions.empty()) latest = versions.rbegin()->second.manifest.files;
  }
  for (const auto& name : names) {
    WARD_ASSIGN_OR_RETURN(std::string bytes, ReadWhole(dir / name, updates::kMaxFileBytes));
    files.emplace_back(name, std::move(bytes));
  }
  bool same = latest.size() == files.size();
  for (size_t i = 0; same && i < files.size(); ++i) {
    auto it = std::find_if(latest.begin(), latest.end(),
                           [&](const auto& f) { return f.name == files[i].first; });
    // A .cld/.cud is compared in the form it is published in (canonical).
    std::optional<std::string> c;
    if (kind == "clamav") c = CanonicalContainer(files[i].first, files[i].second);
    const std::string& published = c ? *c : files[i].second;
    same = it != latest.end() && it->size == published.size() &&
           it->sha256 == DigestHex(Sha256::Of(published));
  }
  if (same) return std::optional<UpdateBundle>();
  WARD_ASSIGN_OR_RETURN(UpdateBundle b, Publish(kind, files, true, now));
  return std::optional<UpdateBundle>(std::move(b));
}

Result<fs::path> UpdateRepository::FilePath(std::string_view kind, std::string_view sha256) {
  if (!IsSha256Hex(sha256) || !updates::IsKind(kind)) return NotFound("no such file");
  std::lock_guard lock(mu_);
  Refresh(kind);
  for (const auto& [v, b] : kinds_[std::string(kind)].versions) {
    for (const auto& f : b.manifest.files) {
      if (f.sha256 == sha256 || (f.delta && f.delta->sha256 == sha256)) {
        return dir_ / "blobs" / std::string(sha256);
      }
    }
  }
  return NotFound("no such file");
}

}  // namespace ward::manager

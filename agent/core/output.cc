#include "agent/core/output.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "common/log.h"

namespace ward::agent {

void JsonLinesOutput::Write(const Event& event) {
  std::string line = event.ToJson();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stream_);
  std::fflush(stream_);
}

Result<std::unique_ptr<RotatingFileOutput>> RotatingFileOutput::Open(std::filesystem::path path,
                                                                     uint64_t max_size, int keep) {
  std::unique_ptr<RotatingFileOutput> out(new RotatingFileOutput(std::move(path), max_size, keep));
  WARD_RETURN_IF_ERROR(out->Reopen());
  return out;
}

RotatingFileOutput::~RotatingFileOutput() {
  if (file_) std::fclose(file_);
}

Status RotatingFileOutput::Reopen() {
  if (file_) std::fclose(file_);
  // Events are state: 0600 whatever the umask (rotated files keep the mode).
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("open {}", path_.string()));
  file_ = ::fdopen(fd, "a");
  if (file_ == nullptr) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, fmt::format("open {}", path_.string()));
  }
  std::error_code ec;
  size_ = std::filesystem::file_size(path_, ec);
  if (ec) size_ = 0;
  return Status::Ok();
}

void RotatingFileOutput::Rotate() {
  std::error_code ec;
  std::fclose(file_);
  file_ = nullptr;
  auto name = [&](int i) { return std::filesystem::path(fmt::format("{}.{}", path_.string(), i)); };
  std::filesystem::remove(name(keep_), ec);
  for (int i = keep_ - 1; i >= 1; --i) std::filesystem::rename(name(i), name(i + 1), ec);
  std::filesystem::rename(path_, name(1), ec);
  if (Status s = Reopen(); !s.ok()) spdlog::warn("event file output: {}", s.ToString());
}

void RotatingFileOutput::Write(const Event& event) {
  if (file_ == nullptr) return;
  std::string line = event.ToJson();
  line += '\n';
  if (size_ > 0 && size_ + line.size() > max_size_) {
    Rotate();
    if (file_ == nullptr) return;
  }
  std::fwrite(line.data(), 1, line.size(), file_);
  size_ += line.size();
}

void RotatingFileOutput::Flush() {
  if (file_) std::fflush(file_);
}

}  // namespace ward::agent

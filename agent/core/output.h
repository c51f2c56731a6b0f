// Outputs: where the agent's events go locally. Falco-style: a tiny interface, one class each.
// Thread-safety: Write() is called from the event queue's single dispatch thread only.
#pragma once

#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "common/event.h"
#include "common/status.h"

namespace ward::agent {

class Output {
 public:
  virtual ~Output() = default;
  virtual void Write(const Event& event) = 0;
  virtual void Flush() {}
};

// One JSON line per event on a stdio stream (stdout by default), flushed per event.
class JsonLinesOutput final : public Output {
 public:
  explicit JsonLinesOutput(FILE* stream = stdout) : stream_(stream) {}
  void Write(const Event& event) override;

 private:
  FILE* stream_;
};

// One JSON line per event in a file, rotated when it reaches max_size: events.jsonl becomes
// events.jsonl.1, .1 becomes .2, ... and the oldest beyond `keep` is removed.
class RotatingFileOutput final : public Output {
 public:
  static Result<std::unique_ptr<RotatingFileOutput>> Open(std::filesystem::path path,
                                                          uint64_t max_size, int keep);
  ~RotatingFileOutput() override;
  void Write(const Event& event) override;
  void Flush() override;

 private:
  RotatingFileOutput(std::filesystem::path path, uint64_t max_size, int keep)
      : path_(std::move(path)), max_size_(max_size), keep_(keep) {}
  Status Reopen();
  void Rotate();

  std::filesystem::path path_;
  uint64_t max_size_;
  int keep_;
  FILE* file_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace ward::agent

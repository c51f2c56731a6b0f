// RecordingSink: an EventSink that keeps every event, and lets a test wait for one that matches
// (a condition with a deadline, never a sleep). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "common/event_sink.h"

namespace ward::test {

class RecordingSink final : public EventSink {
 public:
  void Emit(Event event) override {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
    cv_.notify_all();
  }

  std::vector<Event> Events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

  // Waits until an event satisfies pred; returns it, or nullopt at the deadline.
  std::optional<Event> WaitFor(const std::function<bool(const Event&)>& pred,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    std::optional<Event> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (pred(e)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  void Clear() {
    std::lock_guard lock(mu_);
    events_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
};

}  // namespace ward::test

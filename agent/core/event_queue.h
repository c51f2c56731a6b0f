// EventQueue: the agent's in-process event bus. Modules Emit() into it from any thread; it never
// blocks them: when the queue is full the event is dropped and counted, and once there is room
// again a `ward.events_dropped` event says how many were lost. One dispatch thread stamps each
// event with host/agent fields and hands it to the outputs and to in-process subscribers.
// Thread-safety: Emit() from any thread; Start/Stop from the owner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/core/event_bus.h"
#include "agent/core/output.h"
#include "common/event_sink.h"

namespace ward::agent {

// Adds host.name and agent.* to an event that lacks them.
void StampAgentFields(Event& e, const std::string& host_name);

// Hands each event to outputs synchronously on the caller's thread (for CLI commands).
class DirectSink final : public EventSink {
 public:
  explicit DirectSink(std::string host_name) : host_name_(std::move(host_name)) {}
  void AddOutput(std::unique_ptr<Output> out) { outputs_.push_back(std::move(out)); }
  void Emit(Event event) override;
  uint64_t count() const { return count_; }

 private:
  std::mutex mu_;
  std::string host_name_;
  std::vector<std::unique_ptr<Output>> outputs_;
  uint64_t count_ = 0;
};

class EventQueue final : public EventSink, public EventBus {
 public:
  EventQueue(size_t capacity, std::string host_name, const Clock& clock);
  ~EventQueue() override;

  void AddOutput(std::unique_ptr<Output> out);

  void Start();
  // Delivers what is queued, then stops the dispatch thread.
  void Stop();

  // EventSink
  void Emit(Event event) override;

  // EventBus: callbacks run on the dispatch thread for every event, after the outputs.
  int Subscribe(std::function<void(const Event&)> fn) override;
  void Unsubscribe(int id) override;

  uint64_t dropped() const { return dropped_total_.load(); }
  uint64_t delivered() const { return delivered_.load(); }
  // Events waiting: queued, or taken by the dispatch thread and not yet through every output.
  // With delivered(), what the agent's watchdog probe uses to tell a stuck dispatch thread.
  uint64_t pending();

 private:
  void Loop();

  const size_t capacity_;
  const std::string host_name_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  bool stopping_ = false;
  uint64_t dropped_since_report_ = 0;
  std::atomic<uint64_t> dropped_total_{0};
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> taken_{0};  // events the dispatch thread took (incl. its own reports)
  std::vector<std::unique_ptr<Output>> outputs_;
  std::mutex sub_mu_;  // held while subscribers run, so Unsubscribe waits for a running call
  std::vector<std::pair<int, std::function<void(const Event&)>>> subscribers_;
  int next_sub_id_ = 0;
  std::thread thread_;
};

}  // namespace ward::agent

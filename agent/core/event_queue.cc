#include "agent/core/event_queue.h"

#include <fmt/format.h>

#include "agent/version.h"
#include "common/log.h"

namespace ward::agent {

void StampAgentFields(Event& e, const std::string& host_name) {
  if (!e.Has("host.name")) e.Set("host.name", host_name);
  if (!e.Has("agent.type")) {
    e.Set("agent.type", "ward-agent");
    e.Set("agent.version", std::string(kVersion));
  }
}

void DirectSink::Emit(Event event) {
  std::lock_guard lock(mu_);
  StampAgentFields(event, host_name_);
  for (auto& out : outputs_) {
    out->Write(event);
    out->Flush();
  }
  ++count_;
}

EventQueue::EventQueue(size_t capacity, std::string host_name, const Clock& clock)
    : capacity_(capacity), host_name_(std::move(host_name)), clock_(clock) {}

EventQueue::~EventQueue() { Stop(); }

void EventQueue::AddOutput(std::unique_ptr<Output> out) { outputs_.push_back(std::move(out)); }

int EventQueue::Subscribe(std::function<void(const Event&)> fn) {
  std::lock_guard lock(sub_mu_);
  int id = next_sub_id_++;
  subscribers_.emplace_back(id, std::move(fn));
  return id;
}

void EventQueue::Unsubscribe(int id) {
  std::lock_guard lock(sub_mu_);
  std::erase_if(subscribers_, [id](const auto& s) { return s.first == id; });
}

void EventQueue::Start() {
  WARD_CHECK(!thread_.joinable());
  thread_ = std::thread([this] { Loop(); });
}

void EventQueue::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventQueue::Emit(Event event) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= capacity_) {
      ++dropped_since_report_;
      ++dropped_total_;
      return;
    }
    queue_.push_back(std::move(event));
  }
  cv_.notify_one();
}

uint64_t EventQueue::pending() {
  std::lock_guard lock(mu_);
  return queue_.size() + (taken_.load() - delivered_.load());
}

void EventQueue::Loop() {
  std::vector<Event> batch;
  for (;;) {
    uint64_t dropped = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) break;
      while (!queue_.empty()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      dropped = dropped_since_report_;
      dropped_since_report_ = 0;
    }
    if (dropped > 0) {
      spdlog::warn("event queue full: {} event(s) dropped", dropped);
      Event e = Event::Make(clock_, "ward", "info", "events_dropped", Severity::kHigh);
      e.Set("message",
            fmt::format("the in-process event queue was full; {} event(s) dropped", dropped));
      e.Set("ward.dropped_events", dropped);
      batch.push_back(std::move(e));
    }
    taken_ += batch.size();
    for (auto& e : batch) {
      StampAgentFields(e, host_name_);
      for (auto& out : outputs_) out->Write(e);
      {
        std::lock_guard lock(sub_mu_);
        for (auto& [id, fn] : subscribers_) fn(e);
      }
      ++delivered_;
    }
    for (auto& out : outputs_) out->Flush();
    batch.clear();
  }
  for (auto& out : outputs_) out->Flush();
}

}  // namespace ward::agent

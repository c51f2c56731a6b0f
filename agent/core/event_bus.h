// EventBus: in-process subscription to every event the agent emits (e.g. autoheal reacting to
// integrity's real-time events without a second file watcher).
// Thread-safety: Subscribe/Unsubscribe from any thread. Callbacks run on the bus's dispatch
// thread, must not block for long, and are never running once Unsubscribe() has returned.
#pragma once

#include <functional>

#include "common/event.h"

namespace ward::agent {

class EventBus {
 public:
  virtual ~EventBus() = default;
  // Returns an id for Unsubscribe().
  virtual int Subscribe(std::function<void(const Event&)> fn) = 0;
  virtual void Unsubscribe(int id) = 0;
};

}  // namespace ward::agent

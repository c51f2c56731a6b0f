// EventSink: where a producer hands its events. Implementations are thread-safe and never block
// the caller for long (a bounded queue drops and counts instead of waiting).
#pragma once

#include "common/event.h"

namespace ward {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Emit(Event event) = 0;
};

}  // namespace ward

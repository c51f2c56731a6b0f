#include "agent/transport/debug_emit.h"

#include <chrono>

#include "common/event.h"
#include "common/log.h"

namespace ward::agent::transport {

std::jthread StartDebugEmitter(EventSink& sink, const Clock& clock, uint64_t count, double rate) {
  return std::jthread([&sink, &clock, count, rate](std::stop_token stop) {
    auto start = std::chrono::steady_clock::now();
    uint64_t i = 0;
    for (; i < count && !stop.stop_requested(); ++i) {
      if (rate > 0) {
        auto due = start + std::chrono::microseconds(static_cast<int64_t>(1e6 * i / rate));
        std::this_thread::sleep_until(due);
      } else if (i % 1000 == 999) {
        // Let the dispatch thread keep up: the in-process queue is bounded and drops when full.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      Event e = Event::Make(clock, "ward", "info", "debug_synthetic", Severity::kLow);
      e.Set("ward.debug.seq", i);
      sink.Emit(std::move(e));
    }
    // What a test counts against what reached the manager (tests/package/run: an upgrade while
    // events flow loses none).
    spdlog::info("debug-emit: {} event(s) emitted", i);
  });
}

}  // namespace ward::agent::transport

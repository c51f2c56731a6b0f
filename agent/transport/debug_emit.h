// A test tool, not a feature: `ward-agent run --debug-emit N [--debug-emit-rate R]` makes the
// agent emit N synthetic events (event.module "ward", event.action "debug_synthetic", severity low,
// `ward.debug.seq` = 0..N-1) into its own event queue at R events per second (0 = as fast as the
// queue takes them), for the transport's reliability tests and benchmarks (bench/transport/).
// When it stops (all emitted, or the agent stopping) it logs "debug-emit: K event(s) emitted".
#pragma once

#include <stop_token>
#include <thread>

#include "common/clock.h"
#include "common/event_sink.h"

namespace ward::agent::transport {

std::jthread StartDebugEmitter(EventSink& sink, const Clock& clock, uint64_t count, double rate);

}  // namespace ward::agent::transport

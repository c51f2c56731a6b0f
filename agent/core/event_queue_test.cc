#include "agent/core/event_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/version.h"
#include "testing/fake_clock.h"

namespace ward::agent {
namespace {

using namespace std::chrono_literals;

constexpr auto kDeadline = 10s;

// What an output saw, shared between the test and the output it owns. Thread-safe. Optionally
// holds each Write() at a gate until the test opens it, so the queue can be filled without sleeps.
class OutputLog {
 public:
  explicit OutputLog(bool gated = false) : gate_open_(!gated) {}

  void Record(const Event& e) {
    std::unique_lock lock(mu_);
    events_.push_back(e);
    cv_.notify_all();
    cv_.wait(lock, [&] { return gate_open_; });
  }
  void RecordFlush() {
    std::lock_guard lock(mu_);
    ++flushes_;
  }
  void OpenGate() {
    std::lock_guard lock(mu_);
    gate_open_ = true;
    cv_.notify_all();
  }
  // Waits (with a deadline) until at least n events were written; false at the deadline.
  bool WaitForCount(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return events_.size() >= n; });
  }
  std::vector<Event> Events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  int flushes() const {
    std::lock_guard lock(mu_);
    return flushes_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool gate_open_;
  std::vector<Event> events_;
  int flushes_ = 0;
};

class LogOutput final : public Output {
 public:
  explicit LogOutput(OutputLog& log) : log_(log) {}
  void Write(const Event& event) override { log_.Record(event); }
  void Flush() override { log_.RecordFlush(); }

 private:
  OutputLog& log_;
};

Event Numbered(const Clock& clock, int n) {
  Event e = Event::Make(clock, "test", "info", "numbered", Severity::kInfo);
  e.Set("test.seq", n);
  return e;
}

// Runs a function on scope exit.
class Cleanup {
 public:
  explicit Cleanup(std::function<void()> fn) : fn_(std::move(fn)) {}
  ~Cleanup() { fn_(); }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;

 private:
  std::function<void()> fn_;
};

std::vector<int> Seqs(const std::vector<Event>& events) {
  std::vector<int> out;
  for (const auto& e : events) {
    const auto& v = e.Get("test.seq");
    out.push_back(v.is_number_integer() ? v.get<int>() : -1);
  }
  return out;
}

TEST(EventQueue, DeliversEventsToOutputsInOrder) {
  test::FakeClock clock;
  OutputLog log;
  EventQueue q(1024, "host-a", clock);
  q.AddOutput(std::make_unique<LogOutput>(log));
  q.Start();
  std::vector<int> expected;
  for (int i = 0; i < 200; ++i) {
    q.Emit(Numbered(clock, i));
    expected.push_back(i);
  }
  ASSERT_TRUE(log.WaitForCount(200));
  q.Stop();
  EXPECT_EQ(Seqs(log.Events()), expected);
  EXPECT_EQ(q.delivered(), 200u);
  EXPECT_EQ(q.dropped(), 0u);
  EXPECT_GE(log.flushes(), 1);
}

TEST(EventQueue, DeliversToEveryOutput) {
  test::FakeClock clock;
  OutputLog a;
  OutputLog b;
  EventQueue q(64, "host-a", clock);
  q.AddOutput(std::make_unique<LogOutput>(a));
  q.AddOutput(std::make_unique<LogOutput>(b));
  q.Start();
  for (int i = 0; i < 5; ++i) q.Emit(Numbered(clock, i));
  q.Stop();
  EXPECT_EQ(Seqs(a.Events()), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Seqs(b.Events()), (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(EventQueue, KeepsEachProducersOrderAcrossThreads) {
  test::FakeClock clock;
  OutputLog log;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  EventQueue q(kThreads * kPerThread, "host-a", clock);
  q.AddOutput(std::make_unique<LogOutput>(log));
  q.Start();
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) q.Emit(Numbered(clock, t * 10'000 + i));
    });
  }
  for (auto& p : producers) p.join();
  ASSERT_TRUE(log.WaitForCount(kThreads * kPerThread));
  q.Stop();
  std::vector<int> next(kThreads, 0);
  for (int seq : Seqs(log.Events())) {
    int t = seq / 10'000;
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    EXPECT_EQ(seq % 10'000, next[t]) << "thread " << t;
    next[t] = seq % 10'000 + 1;
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);
  EXPECT_EQ(q.dropped(), 0u);
}

TEST(EventQueue, StampsHostNameAndAgentFields) {
  test::FakeClock clock;
  OutputLog log;
  EventQueue q(16, "host-a", clock);
  q.AddOutput(std::make_unique<LogOutput>(log));
  q.Start();
  q.Emit(Numbered(clock, 0));
  Event own = Numbered(clock, 1);
  own.Set("host.name", "other-host");
  q.Emit(own);
  q.Stop();

  auto events = log.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].GetString("host.name"), "host-a");
  EXPECT_EQ(events[0].GetString("agent.type"), "ward-agent");
  EXPECT_EQ(events[0].GetString("agent.version"), std::string(kVersion));
  // A host name the producer set is kept.
  EXPECT_EQ(events[1].GetString("host.name"), "other-host");
  EXPECT_EQ(events[1].GetString("agent.type"), "ward-agent");
}

TEST(EventQueue, FullQueueDropsWithoutBlockingCountsAndReportsTheDrops) {
  test::FakeClock clock;
  OutputLog log(/*gated=*/true);
  constexpr size_t kCapacity = 4;
  constexpr int kDropped = 3;
  EventQueue q(kCapacity, "host-a", clock);
  q.AddOutput(std::make_unique<LogOutput>(log));
  std::mutex mu;
  std::condition_variable cv;
  bool producer_done = false;
  std::thread producer;
  // On any exit (a failed ASSERT included), release the dispatch thread and the producer first.
  Cleanup cleanup([&] {
    log.OpenGate();
    if (producer.joinable()) producer.join();
  });
  q.Start();

  // Event 0 is taken by the dispatch thread, which then blocks inside the output.
  q.Emit(Numbered(clock, 0));
  ASSERT_TRUE(log.WaitForCount(1));

  // Fill the queue, then overflow it, from a producer that must never block.
  producer = std::thread([&] {
    for (int i = 1; i <= static_cast<int>(kCapacity) + kDropped; ++i) q.Emit(Numbered(clock, i));
    std::lock_guard lock(mu);
    producer_done = true;
    cv.notify_all();
  });
  bool returned;
  {
    std::unique_lock lock(mu);
    returned = cv.wait_for(lock, kDeadline, [&] { return producer_done; });
  }
  EXPECT_TRUE(returned) << "Emit() blocked while the output was stalled";
  EXPECT_EQ(q.dropped(), static_cast<uint64_t>(kDropped));
  EXPECT_EQ(log.Events().size(), 1u);  // still stuck on event 0

  log.OpenGate();
  ASSERT_TRUE(log.WaitForCount(1 + kCapacity + 1));

  // One more event after the report: no second report, the count is not repeated.
  q.Emit(Numbered(clock, 100));
  ASSERT_TRUE(log.WaitForCount(1 + kCapacity + 2));
  q.Stop();

  auto events = log.Events();
  ASSERT_EQ(events.size(), 1 + kCapacity + 2);
  // The first kCapacity + 1 events arrive in order; the overflowing ones are gone.
  for (int i = 0; i <= static_cast<int>(kCapacity); ++i) {
    EXPECT_EQ(events[i].Get("test.seq"), i);
  }
  const Event& report = events[kCapacity + 1];
  EXPECT_EQ(report.GetString("event.action"), "events_dropped");
  EXPECT_EQ(report.Module(), "ward");
  EXPECT_EQ(report.Get("ward.dropped_events"), kDropped);
  EXPECT_EQ(report.severity(), Severity::kHigh);
  EXPECT_EQ(report.GetString("@timestamp"), "2027-01-15T08:00:00.000Z");  // the queue's clock
  EXPECT_EQ(report.GetString("host.name"), "host-a");
  EXPECT_EQ(events.back().Get("test.seq"), 100);

  int reports = 0;
  for (const auto& e : events) reports += e.GetString("event.action") == "events_dropped";
  EXPECT_EQ(reports, 1);
  EXPECT_EQ(q.dropped(), static_cast<uint64_t>(kDropped));
  EXPECT_EQ(q.delivered(), 1 + kCapacity + 2);
}

// pending() counts the event a stuck output holds, not only the queued ones: the agent's
// watchdog probe (StallDetector over pending/delivered) sees a dispatch thread stuck on its
// last event even when nothing new arrives.
TEST(EventQueue, PendingCountsQueuedAndInFlightEvents) {
  test::FakeClock clock;
  OutputLog log(/*gated=*/true);
  EventQueue q(16, "host-a", clock);
  q.AddOutput(std::make_unique<LogOutput>(log));
  Cleanup cleanup([&] { log.OpenGate(); });
  q.Start();
  EXPECT_EQ(q.pending(), 0u);
  q.Emit(Numbered(clock, 0));
  ASSERT_TRUE(log.WaitForCount(1));  // taken, stuck inside the output
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(q.delivered(), 0u);
  q.Emit(Numbered(clock, 1));
  q.Emit(Numbered(clock, 2));
  EXPECT_EQ(q.pending(), 3u);
  log.OpenGate();
  ASSERT_TRUE(log.WaitForCount(3));
  q.Stop();
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_EQ(q.delivered(), 3u);
}

TEST(EventQueue, CallsSubscribersForEveryEventAfterOutputs) {
  test::FakeClock clock;
  OutputLog log;
  std::mutex mu;
  std::vector<int> seen_a;
  std::vector<int> seen_b;
  std::vector<size_t> outputs_when_called;
  EventQueue q(16, "host-a", clock);
  q.AddOutput(std::make_unique<LogOutput>(log));
  q.Subscribe([&](const Event& e) {
    std::lock_guard lock(mu);
    seen_a.push_back(e.Get("test.seq").get<int>());
    outputs_when_called.push_back(log.Events().size());
    // Subscribers see the stamped event.
    EXPECT_EQ(e.GetString("host.name"), "host-a");
  });
  q.Subscribe([&](const Event& e) {
    std::lock_guard lock(mu);
    seen_b.push_back(e.Get("test.seq").get<int>());
  });
  q.Start();
  for (int i = 0; i < 3; ++i) q.Emit(Numbered(clock, i));
  q.Stop();

  std::lock_guard lock(mu);
  EXPECT_EQ(seen_a, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(seen_b, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(outputs_when_called, (std::vector<size_t>{1, 2, 3}));
}

TEST(EventQueue, StopDeliversWhatIsQueued) {
  test::FakeClock clock;
  OutputLog log;
  EventQueue q(64, "host-a", clock);
  q.AddOutput(std::make_unique<LogOutput>(log));
  for (int i = 0; i < 10; ++i) q.Emit(Numbered(clock, i));  // queued before the thread runs
  q.Start();
  q.Stop();
  EXPECT_EQ(Seqs(log.Events()), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(q.delivered(), 10u);
}

TEST(EventQueue, DestructorStopsTheDispatchThread) {
  test::FakeClock clock;
  OutputLog log;
  {
    EventQueue q(64, "host-a", clock);
    q.AddOutput(std::make_unique<LogOutput>(log));
    q.Start();
    q.Emit(Numbered(clock, 7));
  }
  EXPECT_EQ(Seqs(log.Events()), (std::vector<int>{7}));
}

TEST(DirectSink, WritesAndFlushesSynchronouslyOnTheCallersThread) {
  test::FakeClock clock;
  OutputLog a;
  OutputLog b;
  DirectSink sink("host-b");
  sink.AddOutput(std::make_unique<LogOutput>(a));
  sink.AddOutput(std::make_unique<LogOutput>(b));

  sink.Emit(Numbered(clock, 1));
  // No waiting: the event is already there when Emit() returns.
  ASSERT_EQ(a.Events().size(), 1u);
  ASSERT_EQ(b.Events().size(), 1u);
  EXPECT_EQ(a.flushes(), 1);
  EXPECT_EQ(sink.count(), 1u);
  EXPECT_EQ(a.Events()[0].Get("test.seq"), 1);
  EXPECT_EQ(a.Events()[0].GetString("host.name"), "host-b");
  EXPECT_EQ(a.Events()[0].GetString("agent.type"), "ward-agent");

  sink.Emit(Numbered(clock, 2));
  EXPECT_EQ(Seqs(a.Events()), (std::vector<int>{1, 2}));
  EXPECT_EQ(Seqs(b.Events()), (std::vector<int>{1, 2}));
  EXPECT_EQ(sink.count(), 2u);
}

TEST(StampAgentFields, FillsOnlyMissingFields) {
  test::FakeClock clock;
  Event e = Numbered(clock, 0);
  StampAgentFields(e, "h1");
  EXPECT_EQ(e.GetString("host.name"), "h1");
  EXPECT_EQ(e.GetString("agent.type"), "ward-agent");
  EXPECT_EQ(e.GetString("agent.version"), std::string(kVersion));

  Event relayed = Numbered(clock, 1);
  relayed.Set("host.name", "h2").Set("agent.type", "other-agent");
  StampAgentFields(relayed, "h1");
  EXPECT_EQ(relayed.GetString("host.name"), "h2");
  EXPECT_EQ(relayed.GetString("agent.type"), "other-agent");
}

}  // namespace
}  // namespace ward::agent

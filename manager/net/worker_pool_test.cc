#include "manager/net/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace ward::manager {
namespace {

TEST(WorkerPool, RefusesPastItsQueueAndRunsQueuedJobsAtShutdown) {
  WorkerPool pool(1, 2);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> started;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.set_value();
    gate.wait();
    ++ran;
  }));
  started.get_future().wait();  // the one worker is busy; the queue is empty
  EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
  EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
  EXPECT_FALSE(pool.TrySubmit([&] { ++ran; }));  // queue full: refused, never blocks
  release.set_value();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(pool.TrySubmit([&] { ++ran; }));  // shut down
}

}  // namespace
}  // namespace ward::manager

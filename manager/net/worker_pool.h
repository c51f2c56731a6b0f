// WorkerPool: a fixed set of threads running jobs from a bounded queue. The manager's network
// front (manager/api/server.h) hands every complete request to it, so the synchronous handlers
// never run on the event loop and a burst of requests waits in a queue of known size instead of
// growing without bound.
// Thread-safety: TrySubmit/Shutdown from any thread. Jobs run on the pool's threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ward::manager {

class WorkerPool {
 public:
  // REQUIRES: threads >= 1, capacity >= 1.
  WorkerPool(int threads, size_t capacity);
  ~WorkerPool();  // Shutdown()

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`; false (job not queued) when the queue holds `capacity` jobs or the pool is
  // shutting down. Never blocks.
  bool TrySubmit(std::function<void()> job);
  // Refuses new jobs, runs the queued ones to the end and joins the threads. Idempotent.
  void Shutdown();

  size_t queued() const;

 private:
  void Loop();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ward::manager

// SessionPool: SOCI sessions connected on demand, up to the URL's pool size; a session marked
// broken is discarded and replaced on the next Acquire.
// Thread-safety: Acquire() from many threads; a Lease is used by one thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/status.h"
#include "manager/store/soci/statement_cache.h"
#include "manager/store/soci_includes.h"
#include "manager/store/store_url.h"

namespace ward::manager::soci_backend {

class SessionPool {
 public:
  explicit SessionPool(StoreUrl url) : url_(std::move(url)) {}

  class Lease {
   public:
    Lease(SessionPool* pool, SessionPtr s) : pool_(pool), s_(std::move(s)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), s_(std::move(o.s_)), broken_(o.broken_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (s_) pool_->Release(std::move(s_), broken_);
    }
    soci::session& session() { return *s_; }
    void MarkBroken() { broken_ = true; }

   private:
    SessionPool* pool_;
    SessionPtr s_;
    bool broken_ = false;
  };

  // A session: an idle one, else a new connection while fewer than pool_size exist, else waits.
  // kUnavailable / kPermissionDenied when a new connection fails.
  Result<Lease> Acquire();

  // A new connection outside the pool (the SQLite writer, admin statements), set up as pooled
  // ones are (SQLite pragmas, PostgreSQL message level, MySQL strict mode and READ COMMITTED).
  Result<SessionPtr> Connect();

  const StoreUrl& url() const { return url_; }

 private:
  void Release(SessionPtr s, bool broken);

  StoreUrl url_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SessionPtr> free_;
  int created_ = 0;
};

}  // namespace ward::manager::soci_backend

#include "agent/transport/spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "agent/transport/channel.h"
#include "agent/transport/spool_output.h"
#include "testing/fake_clock.h"
#include "testing/recording_sink.h"
#include "testing/temp_dir.h"

namespace ward::agent::transport {
namespace {

using ward::test::FakeClock;
using ward::test::TempDir;

Event Numbered(const Clock& clock, int64_t n, Severity sev = Severity::kLow, size_t pad = 0) {
  Event e = Event::Make(clock, "test", "info", "numbered", sev);
  e.Set("ward.debug.seq", n);
  if (pad > 0) e.Set("message", std::string(pad, 'x'));
  return e;
}

int64_t SeqOf(const SpooledEvent& s) {
  auto e = Event::FromJson(s.json);
  EXPECT_TRUE(e.has_value());
  return e ? e->Get("ward.debug.seq").get<int64_t>() : -1;
}

// A real, small file system (tmpfs) that a test fills up to the last byte.
class SmallFs {
 public:
  SmallFs(std::string dir, const std::string& size) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~SmallFs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  // Writes filler files until the file system refuses (ENOSPC).
  void Fill() {
    for (;;) {
      std::string f = dir_ + "/filler" + std::to_string(fillers_++);
      int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ASSERT_GE(fd, 0);
      std::string block(4096, 'f');
      bool full = false;
      for (int j = 0; j < 256; ++j) {
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
          full = true;
          break;
        }
      }
      ::close(fd);
      if (full) return;
    }
  }
  void Unfill() {
    for (int i = 0; i < fillers_; ++i) ::unlink((dir_ + "/filler" + std::to_string(i)).c_str());
    fillers_ = 0;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
  int fillers_ = 0;
};

std::vector<SpooledEvent> All(Spool& spool) {
  auto r = spool.Peek(1'000'000, SIZE_MAX);
  EXPECT_TRUE(r.has_value());
  return r ? *r : std::vector<SpooledEvent>{};
}

TEST(Spool, KeepsEventsInOrderUntilAcknowledged) {
  TempDir dir;
  FakeClock clock;
  auto spool = Spool::Open(dir.Sub("spool.db"), kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(spool.has_value()) << spool.error().ToString();
  std::vector<Event> batch;
  for (int i = 0; i < 1200; ++i) batch.push_back(Numbered(clock, i));
  ASSERT_TRUE((*spool)->Append(batch).ok());
  EXPECT_EQ((*spool)->Stats().depth, 1200u);

  auto first = (*spool)->Peek(500, SIZE_MAX);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(SeqOf((*first)[i]), i);
  // Peeking again without an ack returns the same batch: nothing leaves before the manager's 200.
  auto again = (*spool)->Peek(500, SIZE_MAX);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->front().seq, first->front().seq);
  EXPECT_EQ((*spool)->Stats().depth, 1200u);

  ASSERT_TRUE((*spool)->Ack(first->front().seq, first->back().seq).ok());
  EXPECT_EQ((*spool)->Stats().depth, 700u);
  auto next = (*spool)->Peek(500, SIZE_MAX);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(SeqOf(next->front()), 500);
}

TEST(Spool, PeekRespectsTheByteLimitButAlwaysReturnsOneEvent) {
  TempDir dir;
  FakeClock clock;
  auto spool = Spool::Open(dir.Sub("spool.db"), kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(spool.has_value());
  std::vector<Event> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Numbered(clock, i, Severity::kLow, 1000));
  ASSERT_TRUE((*spool)->Append(batch).ok());
  auto r = (*spool)->Peek(500, 3500);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), 2u);  // each event is ~1.2 kB of JSON
  auto one = (*spool)->Peek(500, 10);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->size(), 1u);
}

TEST(Spool, SurvivesReopenWithCountersIntact) {
  TempDir dir;
  FakeClock clock;
  {
    auto spool = Spool::Open(dir.Sub("spool.db"), kDefaultSpoolMaxBytes, clock);
    ASSERT_TRUE(spool.has_value());
    ASSERT_TRUE((*spool)->Append({Numbered(clock, 1), Numbered(clock, 2)}).ok());
  }
  auto spool = Spool::Open(dir.Sub("spool.db"), kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(spool.has_value());
  EXPECT_EQ((*spool)->Stats().depth, 2u);
  EXPECT_GT((*spool)->Stats().bytes, 100u);
  auto all = All(**spool);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(SeqOf(all[0]), 1);
}

TEST(Spool, WhenFullDropsLowestSeverityOldestFirstAndSaysExactlyHowMany) {
  TempDir dir;
  FakeClock clock;
  const uint64_t max = 1 << 20;
  auto spool = Spool::Open(dir.Sub("spool.db"), max, clock);
  ASSERT_TRUE(spool.has_value());
  // 100 high-severity events first (oldest), then info events until well past the bound.
  std::vector<Event> high;
  for (int i = 0; i < 100; ++i) high.push_back(Numbered(clock, i, Severity::kHigh, 1000));
  ASSERT_TRUE((*spool)->Append(high).ok());
  int next = 100;
  for (int round = 0; round < 20; ++round) {
    std::vector<Event> info;
    for (int i = 0; i < 100; ++i) info.push_back(Numbered(clock, next++, Severity::kInfo, 1000));
    ASSERT_TRUE((*spool)->Append(info).ok());
    EXPECT_LE((*spool)->Stats().bytes, max);
  }
  auto all = All(**spool);
  uint64_t stated = 0;
  std::vector<int64_t> info_left;
  int high_left = 0;
  for (const auto& s : all) {
    auto e = Event::FromJson(s.json);
    ASSERT_TRUE(e.has_value());
    if (e->GetString("event.action") == "spool_dropped") {
      stated += e->Get("ward.dropped_events").get<uint64_t>();
      EXPECT_EQ(e->severity(), Severity::kHigh);
      continue;
    }
    int64_t seq = e->Get("ward.debug.seq").get<int64_t>();
    if (seq < 100) {
      ++high_left;
    } else {
      info_left.push_back(seq);
    }
  }
  // Every high-severity event is still there; the info events left are the newest ones.
  EXPECT_EQ(high_left, 100);
  ASSERT_FALSE(info_left.empty());
  for (size_t i = 1; i < info_left.size(); ++i) EXPECT_EQ(info_left[i], info_left[i - 1] + 1);
  EXPECT_EQ(info_left.back(), next - 1);
  // The drop events state exactly how many were dropped, and the counter agrees.
  uint64_t dropped = static_cast<uint64_t>(2000 - info_left.size());
  EXPECT_EQ(stated, dropped);
  EXPECT_EQ((*spool)->Stats().dropped, dropped);
}

TEST(Spool, DropsAnEventLargerThanTheWholeSpoolAndCountsIt) {
  TempDir dir;
  FakeClock clock;
  auto spool = Spool::Open(dir.Sub("spool.db"), 1 << 20, clock);
  ASSERT_TRUE(spool.has_value());
  ASSERT_TRUE((*spool)->Append({Numbered(clock, 1, Severity::kHigh, 2 << 20)}).ok());
  auto all = All(**spool);
  ASSERT_EQ(all.size(), 1u);
  auto e = Event::FromJson(all[0].json);
  EXPECT_EQ(e->GetString("event.action"), "spool_dropped");
  EXPECT_EQ(e->Get("ward.dropped_events").get<int>(), 1);
}

TEST(Spool, AckOfEventsEvictedMeanwhileIsHarmless) {
  TempDir dir;
  FakeClock clock;
  auto spool = Spool::Open(dir.Sub("spool.db"), 1 << 20, clock);
  ASSERT_TRUE(spool.has_value());
  std::vector<Event> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(Numbered(clock, i, Severity::kInfo, 1000));
  ASSERT_TRUE((*spool)->Append(batch).ok());
  auto inflight = (*spool)->Peek(500, SIZE_MAX);
  ASSERT_TRUE(inflight.has_value());
  // While the batch is in flight, more important events push some of it out.
  std::vector<Event> more;
  for (int i = 0; i < 600; ++i) more.push_back(Numbered(clock, 1000 + i, Severity::kHigh, 1000));
  ASSERT_TRUE((*spool)->Append(more).ok());
  ASSERT_TRUE((*spool)->Ack(inflight->front().seq, inflight->back().seq).ok());
  auto left = All(**spool);
  for (const auto& s : left) {
    auto e = Event::FromJson(s.json);
    if (e->GetString("event.action") == "spool_dropped") continue;
    EXPECT_GE(e->Get("ward.debug.seq").get<int>(), 1000);
  }
  EXPECT_EQ((*spool)->Stats().depth, left.size());
}

TEST(Spool, AnEventStoredBeforeKill9IsThereAfter) {
  TempDir dir;
  std::string path = dir.Sub("spool.db");
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipefd[0]);
    FakeClock clock;
    auto spool = Spool::Open(path, kDefaultSpoolMaxBytes, clock);
    if (!spool) ::_exit(3);
    for (int64_t n = 0;; n += 50) {
      std::vector<Event> batch;
      for (int i = 0; i < 50; ++i) batch.push_back(Numbered(clock, n + i));
      if (!(*spool)->Append(batch).ok()) ::_exit(4);
      int64_t done = n + 50;  // every seq below `done` is committed
      if (::write(pipefd[1], &done, sizeof done) != sizeof done) ::_exit(5);
    }
  }
  ::close(pipefd[1]);
  int64_t committed = 0;
  while (committed < 5000) {
    int64_t v = 0;
    ASSERT_EQ(::read(pipefd[0], &v, sizeof v), static_cast<ssize_t>(sizeof v));
    committed = v;
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  // Whatever was reported after the kill still counts as committed.
  int64_t v = 0;
  while (::read(pipefd[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) committed = v;
  ::close(pipefd[0]);

  FakeClock clock;
  auto spool = Spool::Open(path, kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(spool.has_value()) << spool.error().ToString();
  auto all = All(**spool);
  ASSERT_GE(static_cast<int64_t>(all.size()), committed);
  for (int64_t i = 0; i < committed; ++i) ASSERT_EQ(SeqOf(all[static_cast<size_t>(i)]), i);
  EXPECT_EQ((*spool)->Stats().depth, all.size());
}

TEST(SpoolOutput, StoresADispatchRoundInOneGoAndWakesTheSender) {
  TempDir dir;
  FakeClock clock;
  auto spool = Spool::Open(dir.Sub("spool.db"), kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(spool.has_value());
  int woken = 0;
  SpoolOutput out(**spool, [&] { ++woken; });
  out.Write(Numbered(clock, 1));
  out.Write(Numbered(clock, 2));
  EXPECT_EQ((*spool)->Stats().depth, 0u);
  out.Flush();
  EXPECT_EQ((*spool)->Stats().depth, 2u);
  EXPECT_EQ(woken, 1);
  out.Flush();  // nothing new: no wake-up
  EXPECT_EQ(woken, 1);
}

}  // namespace
}  // namespace ward::agent::transport

namespace ward::agent::transport {
namespace {

std::vector<Event> NumberedBatch(const Clock& clock, int from, int n, size_t pad = 200) {
  std::vector<Event> out;
  for (int i = from; i < from + n; ++i) out.push_back(Numbered(clock, i, Severity::kLow, pad));
  return out;
}

// Issue #13: on a full disk the delete of a delivered batch could not be written, so the sender
// sent the same batch forever. Delivered events must leave (or at least never be sent again).
TEST(SpoolDiskFull, DeliveredBatchesLeaveOnAFullDisk) {
  TempDir dir;
  SmallFs fs(dir.Sub("small"), "8m");
  ASSERT_TRUE(fs.mounted()) << "mount tmpfs: " << std::strerror(errno);
  FakeClock clock;
  auto spool = Spool::Open(dir.Sub("small/spool.db"), kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(spool.has_value()) << spool.error().ToString();
  ASSERT_TRUE((*spool)->Append(NumberedBatch(clock, 0, 2000)).ok());
  fs.Fill();

  auto first = (*spool)->Peek(500, SIZE_MAX);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  ASSERT_EQ(first->size(), 500u);
  ASSERT_TRUE((*spool)->Ack(first->front().seq, first->back().seq).ok());
  EXPECT_EQ((*spool)->Stats().depth, 1500u);
  auto second = (*spool)->Peek(500, SIZE_MAX);
  ASSERT_TRUE(second.has_value());
  ASSERT_FALSE(second->empty());
  EXPECT_EQ(SeqOf(second->front()), 500);  // not the delivered batch again

  // Still full (the reserve is used up): the next ack cannot be written at all, and still the
  // batch is never peeked again; the delete happens with the next write that succeeds.
  fs.Fill();
  ASSERT_TRUE((*spool)->Ack(second->front().seq, second->back().seq).ok());
  EXPECT_EQ((*spool)->Stats().depth, 1000u);
  auto third = (*spool)->Peek(500, SIZE_MAX);
  ASSERT_TRUE(third.has_value());
  ASSERT_FALSE(third->empty());
  EXPECT_EQ(SeqOf(third->front()), 1000);

  EXPECT_FALSE((*spool)->Append(NumberedBatch(clock, 2000, 3000)).ok()) << "the disk is not full";
  fs.Unfill();
  ASSERT_TRUE((*spool)->Append(NumberedBatch(clock, 5000, 1)).ok());
  spool->reset();
  auto reopened = Spool::Open(dir.Sub("small/spool.db"), kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ((*reopened)->Stats().depth, 1001u);  // both delivered batches are gone on disk
  auto all = All(**reopened);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(SeqOf(all.front()), 1000);
}

// What the disk refuses is held in memory (bounded), shown in the stats the heartbeat carries,
// counted when it has to be given up, and stated by a spool_dropped event once writes succeed.
TEST(SpoolDiskFull, UnstoredEventsAreCountedShownAndReported) {
  TempDir dir;
  SmallFs fs(dir.Sub("small"), "8m");
  ASSERT_TRUE(fs.mounted());
  FakeClock clock;
  auto spool = Spool::Open(dir.Sub("small/spool.db"), kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(spool.has_value());
  int stored = 0, trouble = 0;
  SpoolOutput out(
      **spool, [&] { ++stored; }, [&] { ++trouble; }, 100);
  fs.Fill();
  for (const Event& e : NumberedBatch(clock, 0, 150, 1000)) out.Write(e);
  out.Flush();
  EXPECT_EQ(stored, 0);
  EXPECT_EQ(trouble, 1);  // the manager is told at once (heartbeat soon)
  SpoolStats st = (*spool)->Stats();
  EXPECT_EQ(st.unstored, 100u);
  EXPECT_EQ(st.dropped, 50u);
  EXPECT_FALSE(st.write_error.empty());
  EXPECT_EQ(out.lost(), 50u);
  // What the heartbeat tells the manager (sent at once: on_trouble wakes it).
  ward::test::RecordingSink events;
  Channel channel(Identity{}, ChannelOptions{}, **spool, events, clock, ChannelHooks{});
  nlohmann::json status = channel.BuildStatus();
  EXPECT_EQ(status["spool_dropped"], 50) << status.dump();
  EXPECT_EQ(status["spool"]["dropped"], 50) << status.dump();
  EXPECT_EQ(status["spool"]["unstored"], 100) << status.dump();
  EXPECT_EQ(status["spool"]["healthy"], false) << status.dump();
  EXPECT_FALSE(status["spool"].value("write_error", "").empty()) << status.dump();

  fs.Unfill();
  out.Flush();
  status = channel.BuildStatus();
  EXPECT_EQ(status["spool"]["healthy"], true) << status.dump();
  EXPECT_EQ(status["spool"]["unstored"], 0) << status.dump();
  EXPECT_FALSE(status["spool"].contains("write_error")) << status.dump();
  EXPECT_EQ(stored, 1);
  st = (*spool)->Stats();
  EXPECT_EQ(st.unstored, 0u);
  EXPECT_TRUE(st.write_error.empty());
  EXPECT_EQ(st.dropped, 50u);
  auto all = All(**spool);
  ASSERT_EQ(all.size(), 101u);
  auto note = Event::FromJson(all.back().json);
  ASSERT_TRUE(note.has_value());
  EXPECT_EQ(note->Get("event.action"), "spool_dropped");
  EXPECT_EQ(note->Get("ward.dropped_events").get<uint64_t>(), 50u);
  EXPECT_EQ(note->Get("ward.unstored_events").get<uint64_t>(), 50u);
}

// Issue #13: events held in memory at shutdown were discarded without a trace.
TEST(SpoolDiskFull, ShutdownWritesHeldEventsWithTheReserveOrCountsThem) {
  TempDir dir;
  SmallFs fs(dir.Sub("small"), "16m");
  ASSERT_TRUE(fs.mounted());
  FakeClock clock;
  {
    auto spool = Spool::Open(dir.Sub("small/spool.db"), kDefaultSpoolMaxBytes, clock);
    ASSERT_TRUE(spool.has_value());
    SpoolOutput out(**spool, {});
    fs.Fill();
    for (const Event& e : NumberedBatch(clock, 0, 1000, 500)) out.Write(e);
    out.Flush();
    EXPECT_EQ((*spool)->Stats().unstored, 1000u);
    out.Close();  // about 0.7 MB: fits in the reserve
    EXPECT_EQ(out.pending(), 0u);
    EXPECT_EQ((*spool)->Stats().dropped, 0u);
    EXPECT_EQ((*spool)->Stats().depth, 1000u);
  }
  fs.Unfill();
  {
    auto spool = Spool::Open(dir.Sub("small/spool.db"), kDefaultSpoolMaxBytes, clock);
    ASSERT_TRUE(spool.has_value());
    EXPECT_EQ((*spool)->Stats().depth, 1000u);
    auto all = All(**spool);
    ASSERT_FALSE(all.empty());
    ASSERT_TRUE((*spool)->Ack(all.front().seq, all.back().seq).ok());
    SpoolOutput out(**spool, {});
    fs.Fill();
    // Far more than the reserve holds: counted as dropped, persisted, reported at the next start.
    for (const Event& e : NumberedBatch(clock, 0, 8000, 1000)) out.Write(e);
    out.Flush();
    out.Close();
    EXPECT_EQ((*spool)->Stats().dropped, 8000u);
  }
  fs.Unfill();
  auto spool = Spool::Open(dir.Sub("small/spool.db"), kDefaultSpoolMaxBytes, clock);
  ASSERT_TRUE(spool.has_value());
  EXPECT_EQ((*spool)->Stats().dropped, 8000u);
  ASSERT_TRUE((*spool)->Append(NumberedBatch(clock, 9000, 1)).ok());
  auto all = All(**spool);
  ASSERT_EQ(all.size(), 2u);
  auto note = Event::FromJson(all.back().json);
  ASSERT_TRUE(note.has_value());
  EXPECT_EQ(note->Get("event.action"), "spool_dropped");
  EXPECT_EQ(note->Get("ward.dropped_events").get<uint64_t>(), 8000u);
}

TEST(SpoolFiles, SpoolAndItsWalAreCreated0600WhateverTheUmask) {
  TempDir dir;
  FakeClock clock;
  mode_t old = ::umask(0);
  auto spool = Spool::Open(dir.Sub("spool.db"), kDefaultSpoolMaxBytes, clock);
  ::umask(old);
  ASSERT_TRUE(spool.has_value());
  ASSERT_TRUE((*spool)->Append(NumberedBatch(clock, 0, 3)).ok());
  for (const char* name : {"spool.db", "spool.db-wal", "spool.db-shm", "spool.db-reserve"}) {
    struct stat st {};
    ASSERT_EQ(::stat(dir.Sub(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
}

}  // namespace
}  // namespace ward::agent::transport

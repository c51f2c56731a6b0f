// SIEM forwarding (docs/siem.md): every enabled forwarder of every tenant is fed its tenant's
// events, in commit order, from its durable cursor in the database.
//
// At-least-once: a batch is read after the cursor, its end is recorded as in flight, it is sent
// and the cursor moves past it only once the receiver's TCP stack has acknowledged every byte
// (SyslogSender::WaitAcknowledged). A failure (receiver down, broken connection, manager killed)
// leaves the cursor where it was, so the batch is sent again: events in it may then arrive twice,
// and they are counted in SiemForwarder::resent. UDP cannot tell: there the cursor moves once the
// datagrams are sent. The next batch is read before the cursor moves, so that moving past one
// batch and marking the next in flight are one write (Store::AdvanceSiemCursorAndBegin).
//
// Several manager nodes: each forwarder is forwarded by the one node holding its lease
// ("siem:<forwarder id>", Store::TryAcquireLease); a node that dies loses it after lease_ttl and
// another takes over from the cursor. Cursor moves are compare-and-set, so a node that lost its
// lease without noticing cannot move the cursor back or skip.
//
// Thread-safety: ForwarderPump is used by one thread; SiemForwarding owns its threads and is
// started and stopped from one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "manager/siem/format.h"
#include "manager/siem/syslog_sender.h"
#include "manager/store/store.h"

namespace ward::manager::siem {

struct ForwardingOptions {
  int batch = 10'000;                              // events per read, send and cursor move
  std::chrono::milliseconds idle_poll{250};        // wait when a forwarder has nothing to send
  std::chrono::milliseconds refresh{2000};         // forwarder list / configuration re-read
  std::chrono::seconds lease_ttl{30};              // a dead node's forwarders move after this
  std::chrono::milliseconds retry_min{250};        // back-off after a failure, doubling ...
  std::chrono::milliseconds retry_max{15'000};     // ... up to this
  std::chrono::milliseconds send_timeout{10'000};  // connect, each write, acknowledgement
};

// The RFC 5424 message for one stored event in the forwarder's format (header: facility of the
// forwarder, severity from event.severity, the event's @timestamp, host.name as HOSTNAME,
// APP-NAME "ward", MSGID event.module).
std::string SiemSyslogMessage(const SiemForwarder& f, const StoredEvent& e);
// The same message appended to `out`, formatted from e.doc_text with `formatter` (the
// forwarders' path, format.h SiemFormatter); `scratch` is reused between calls.
void AppendSiemSyslogMessage(std::string& out, const SiemForwarder& f, const StoredEvent& e,
                             SiemFormatter& formatter, std::string& scratch);

// Moves one forwarder's cursor forward, one batch per Step().
class ForwarderPump {
 public:
  ForwarderPump(Store& store, const Clock& clock, SiemForwarder forwarder,
                ForwardingOptions options);

  // One batch: the number of events the cursor moved past (0: nothing to send). Errors:
  // kUnavailable / kInvalidArgument (receiver unreachable, TLS refused, a write failed: recorded
  // as the forwarder's last_error, the cursor stays, the next Step reconnects);
  // kFailedPrecondition (another node moved the cursor: stop forwarding this one).
  Result<int> Step();

  const SiemForwarder& forwarder() const { return f_; }

 private:
  Status Fail(Status s);

  Store& store_;
  const Clock& clock_;
  SiemForwarder f_;
  ForwardingOptions options_;
  std::unique_ptr<SyslogSender> sender_;
  SiemFormatter formatter_;
  std::vector<SiemEvent> pending_;  // the next batch, its in-flight mark recorded
  bool suspect_ = true;             // the last batch may have been sent in part: count a resend
};

class SiemForwarding {
 public:
  SiemForwarding(Store& store, const Clock& clock, ForwardingOptions options, std::string node_id);
  ~SiemForwarding();

  void Start();
  void Stop();  // stops every worker and releases this node's leases; idempotent

 private:
  struct Worker;
  void Loop();
  void RunWorker(Worker* w);
  bool Sleep(std::chrono::milliseconds d);  // false when stopping

  Store& store_;
  const Clock& clock_;
  ForwardingOptions options_;
  std::string node_id_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  std::map<std::string, std::unique_ptr<Worker>> workers_;  // by forwarder id
};

}  // namespace ward::manager::siem

#include "agent/net/nfqueue.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/log.h"

namespace ward::net {

Result<std::unique_ptr<NfQueue>> NfQueue::Open(uint16_t queue, bool fail_open,
                                               VerdictFirst verdict_first, Handler handler) {
  auto q = std::unique_ptr<NfQueue>(new NfQueue());
  q->verdict_first_ = verdict_first;
  q->handler_ = std::move(handler);
  q->h_ = nfq_open();
  if (q->h_ == nullptr) return ErrnoStatus(errno, "nfq_open");
  q->qh_ = nfq_create_queue(q->h_, queue, &NfQueue::Callback, q.get());
  if (q->qh_ == nullptr) {
    return ErrnoStatus(errno, fmt::format("NFQUEUE {}: bind (is another agent running?)", queue));
  }
  if (nfq_set_mode(q->qh_, NFQNL_COPY_PACKET, 0xffff) < 0) {
    return ErrnoStatus(errno, "nfq_set_mode");
  }
  nfq_set_queue_maxlen(q->qh_, 8192);
  uint32_t flags = fail_open ? NFQA_CFG_F_FAIL_OPEN : 0;
  if (nfq_set_queue_flags(q->qh_, NFQA_CFG_F_FAIL_OPEN, flags) < 0 && fail_open) {
    return ErrnoStatus(errno, "NFQUEUE fail-open flag");
  }
  int fd = nfq_fd(q->h_);
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  return q;
}

Result<std::unique_ptr<NfQueue>> NfQueue::Open(uint16_t queue, bool fail_open,
                                               VerdictHandler handler) {
  WARD_ASSIGN_OR_RETURN(auto q, Open(queue, fail_open, VerdictFirst::kNone, Handler()));
  q->verdict_handler_ = std::move(handler);
  if (nfq_set_queue_flags(q->qh_, NFQA_CFG_F_UID_GID, NFQA_CFG_F_UID_GID) < 0) {
    spdlog::warn("NFQUEUE {}: no uid/gid of packets ({})", queue, std::strerror(errno));
  }
  return q;
}

NfQueue::~NfQueue() {
  if (qh_ != nullptr) nfq_destroy_queue(qh_);
  if (h_ != nullptr) nfq_close(h_);
}

int NfQueue::Callback(nfq_q_handle* qh, ::nfgenmsg* /*msg*/, ::nfq_data* nfa, void* data) {
  auto* self = static_cast<NfQueue*>(data);
  nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == nullptr) return 0;
  uint32_t id = ntohl(ph->packet_id);
  unsigned char* payload = nullptr;
  int len = nfq_get_payload(nfa, &payload);
  if (self->verdict_handler_) {
    PacketInfo info;
    if (len > 0 && payload != nullptr) {
      info.packet =
          std::string_view(reinterpret_cast<const char*>(payload), static_cast<size_t>(len));
    }
    info.outbound = ph->hook == NF_INET_LOCAL_OUT;
    uint32_t id_value = 0;
    if (nfq_get_uid(nfa, &id_value) > 0) info.uid = id_value;
    if (nfq_get_gid(nfa, &id_value) > 0) info.gid = id_value;
    info.mark = nfq_get_nfmark(nfa);
    Verdict v = self->verdict_handler_(info);
    switch (v.kind) {
      case Verdict::Kind::kDrop:
        return nfq_set_verdict(qh, id, NF_DROP, 0, nullptr);
      case Verdict::Kind::kRepeat:
        return nfq_set_verdict2(qh, id, NF_REPEAT, v.mark, 0, nullptr);
      case Verdict::Kind::kAccept:
        break;
    }
    if (!v.replace.empty()) {
      return nfq_set_verdict(qh, id, NF_ACCEPT, static_cast<uint32_t>(v.replace.size()),
                             reinterpret_cast<const unsigned char*>(v.replace.data()));
    }
    return nfq_set_verdict(qh, id, NF_ACCEPT, 0, nullptr);
  }
  const uint32_t info = nfq_get_skbinfo(nfa);
  const bool verify =
      (info & NFQA_SKB_CSUM_NOTVERIFIED) != 0 && (info & NFQA_SKB_CSUMNOTREADY) == 0;
  const bool first =
      self->verdict_first_ == VerdictFirst::kAll ||
      (self->verdict_first_ == VerdictFirst::kOutbound && ph->hook == NF_INET_LOCAL_OUT);
  if (first) {
    int rc = nfq_set_verdict(qh, id, NF_ACCEPT, 0, nullptr);
    if (len > 0 && payload != nullptr) {
      self->copy_.assign(reinterpret_cast<const char*>(payload), static_cast<size_t>(len));
      self->handler_(self->copy_, verify);
    }
    return rc;
  }
  bool accept = true;
  if (len > 0 && payload != nullptr) {
    accept = self->handler_(
        std::string_view(reinterpret_cast<const char*>(payload), static_cast<size_t>(len)), verify);
  }
  return nfq_set_verdict(qh, id, accept ? NF_ACCEPT : NF_DROP, 0, nullptr);
}

Status NfQueue::Run(std::stop_token stop, const Clock& clock, const std::function<bool()>& idle) {
  int fd = nfq_fd(h_);
  // Blocking reads that time out every 100 ms (for `stop` and idle()): one recv per packet, no
  // poll and no EAGAIN round per wake-up.
  timeval tv{0, 100'000};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
    return ErrnoStatus(errno, "NFQUEUE receive timeout");
  }
  std::vector<char> buf(256 * 1024);
  auto last_idle = clock.SteadyNow();
  while (!stop.stop_requested()) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      nfq_handle_packet(h_, buf.data(), static_cast<int>(n));
    } else if (n < 0 && errno == ENOBUFS) {
      spdlog::warn("NFQUEUE: overrun (packets were handled by the fail policy)");
    } else if (n < 0 && (errno == EBADF || errno == ENOTSOCK || errno == EINVAL)) {
      return ErrnoStatus(errno, "recv NFQUEUE");
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      // Anything else is taken as transient (as a timeout): the queue keeps being read.
      spdlog::warn("recv NFQUEUE: {}", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // no busy loop
    }
    auto now = clock.SteadyNow();
    if (n <= 0 || now - last_idle >= std::chrono::milliseconds(100)) {
      last_idle = now;
      if (idle && idle()) break;
    }
  }
  return Status::Ok();
}

RawSender::RawSender() {
  fd4_ = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  fd6_ = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
}

RawSender::~RawSender() {
  if (fd4_ >= 0) ::close(fd4_);
  if (fd6_ >= 0) ::close(fd6_);
}

bool RawSender::Send(std::string_view pkt, bool v6) {
  if (v6) {
    if (fd6_ < 0 || pkt.size() < 40) return false;
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    std::memcpy(&to.sin6_addr, pkt.data() + 24, 16);
    return ::sendto(fd6_, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
           static_cast<ssize_t>(pkt.size());
  }
  if (fd4_ < 0 || pkt.size() < 20) return false;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  std::memcpy(&to.sin_addr, pkt.data() + 16, 4);
  return ::sendto(fd4_, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
         static_cast<ssize_t>(pkt.size());
}

}  // namespace ward::net

// Syslog to a remote receiver (docs/siem.md): RFC 5424 messages over UDP (RFC 5426), TCP
// (RFC 6587 octet counting) or TLS (RFC 5425, octet counting). Used by the SIEM forwarders and by
// alert channels of type syslog.
//
// Delivery: TCP and TLS have no application-level acknowledgement in syslog. WaitAcknowledged()
// is the strongest promise the transport can give: the receiver's TCP stack has acknowledged
// every byte sent (the socket's send queue is empty, SIOCOUTQ). A caller that advances a durable
// cursor only after it returns Ok loses nothing when the receiver is down, restarts, or the
// connection breaks; only a receiver that dies holding bytes it had already acknowledged can lose
// them (the at-least-once limit of plain syslog). UDP promises nothing: a datagram may be lost.
//
// Thread-safety: one SyslogSender is used by one thread at a time. Every call blocks for at most
// SyslogTarget::timeout per step (connect, handshake, each write, the wait for acknowledgement).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ward::manager::siem {

enum class SyslogTransport { kUdp, kTcp, kTls };

// "udp", "tcp", "tls".
std::string_view SyslogTransportName(SyslogTransport t);
bool ParseSyslogTransport(std::string_view s, SyslogTransport& out);

struct SyslogTarget {
  SyslogTransport transport = SyslogTransport::kTcp;
  std::string host;  // a name or an IPv4/IPv6 address
  uint16_t port = 0;
  std::chrono::milliseconds timeout{10'000};
  // TLS only. The receiver's certificate must chain to one of `ca_pem` (PEM, one or more
  // certificates; "" = the system's trust store) and match `server_name` ("" = `host`; a name is
  // checked against DNS names, an address against IP addresses). verify = false skips both
  // checks (laboratories only).
  std::string ca_pem;
  std::string server_name;
  bool verify = true;
};

// The RFC 5424 header of one message.
struct SyslogHeader {
  int facility = 16;  // 0..23; 16 = local0
  int severity = 5;   // 0 emergency .. 7 debug
  std::chrono::system_clock::time_point timestamp;
  std::string hostname;  // "" = "-"
  std::string app_name = "ward";
  std::string procid;  // "" = "-"
  std::string msgid;   // "" = "-"
};

// Appends "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG" to `out`. TIMESTAMP is UTC with
// microseconds ("2026-12-07T11:35:52.123456Z"). Header fields keep only printable US-ASCII
// (33..126; anything else becomes '_') and are cut to RFC 5424's lengths (255/48/128/32); an
// empty field is "-". MSG follows as given (no BOM: CEF and LEEF need not be UTF-8).
void AppendRfc5424(std::string& out, const SyslogHeader& h, std::string_view msg);

// The syslog severity (0..7) for a Ward event.severity (0 info .. 4 critical): 6, 5, 4, 3, 2.
int SyslogSeverityFor(int event_severity);

class SyslogSender {
 public:
  // Resolves, connects and (TLS) completes the handshake with verification. kInvalidArgument for
  // an unusable target (empty host, port 0, a CA that does not parse), kUnavailable when the
  // receiver cannot be reached or the handshake or verification fails (message says which).
  static Result<std::unique_ptr<SyslogSender>> Connect(const SyslogTarget& target);
  ~SyslogSender();
  SyslogSender(const SyslogSender&) = delete;
  SyslogSender& operator=(const SyslogSender&) = delete;

  // Sends each message (an RFC 5424 message, e.g. from AppendRfc5424) in order: octet-counted
  // ("LEN SP MSG") on TCP/TLS, one datagram each on UDP (a message longer than 65,507 bytes is
  // kInvalidArgument on UDP and nothing is sent). kUnavailable when the connection broke or the
  // receiver closed it (detected before writing); the sender is then unusable: Connect again.
  Status Send(std::span<const std::string> messages);
  // TCP and TLS: writes `framed`, messages already octet-counted ("<length> <message>" each),
  // as Send would (callers stream a large batch in pieces while they format the rest).
  // kInvalidArgument on UDP.
  Status SendFramed(std::string_view framed);

  // TCP/TLS: waits until the receiver's TCP stack has acknowledged every byte sent so far;
  // kUnavailable when the connection broke or `timeout` passed first. UDP: Ok at once.
  Status WaitAcknowledged();

  const SyslogTarget& target() const { return target_; }
  uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  struct Tls;
  explicit SyslogSender(SyslogTarget target);
  Status WriteAll(std::string_view data);
  Status CheckPeerOpen();

  SyslogTarget target_;
  int fd_ = -1;
  std::unique_ptr<Tls> tls_;
  uint64_t bytes_sent_ = 0;
  bool broken_ = false;
  std::string buffer_;
};

}  // namespace ward::manager::siem

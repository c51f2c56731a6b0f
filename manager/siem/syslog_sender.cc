#include "manager/siem/syslog_sender.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace ward::manager::siem {

namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

std::string OpenSslError(std::string_view what) {
  std::string msg(what);
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  return msg;
}

// Milliseconds left until `deadline` (0 when past).
int MillisLeft(SteadyTime deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1'000'000));
}

// Waits for `events` on fd until the deadline: true when ready, false on timeout.
bool WaitFd(int fd, short events, SteadyTime deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = MillisLeft(deadline);
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

void AppendField(std::string& out, std::string_view v, size_t max) {
  if (v.empty()) {
    out += '-';
    return;
  }
  v = v.substr(0, max);
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 33 && u <= 126) ? c : '_';
  }
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

bool IsIpAddress(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

}  // namespace

struct SyslogSender::Tls {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
  std::unique_ptr<SSL, SslFree> ssl;
};

std::string_view SyslogTransportName(SyslogTransport t) {
  switch (t) {
    case SyslogTransport::kUdp:
      return "udp";
    case SyslogTransport::kTcp:
      return "tcp";
    case SyslogTransport::kTls:
      return "tls";
  }
  return "tcp";
}

bool ParseSyslogTransport(std::string_view s, SyslogTransport& out) {
  if (s == "udp") {
    out = SyslogTransport::kUdp;
  } else if (s == "tcp") {
    out = SyslogTransport::kTcp;
  } else if (s == "tls") {
    out = SyslogTransport::kTls;
  } else {
    return false;
  }
  return true;
}

int SyslogSeverityFor(int event_severity) {
  switch (event_severity) {
    case 0:
      return 6;  // informational
    case 1:
      return 5;  // notice
    case 2:
      return 4;  // warning
    case 3:
      return 3;  // error
    default:
      return event_severity > 3 ? 2 : 6;  // critical; negative: informational
  }
}

void AppendRfc5424(std::string& out, const SyslogHeader& h, std::string_view msg) {
  const int facility = std::clamp(h.facility, 0, 23);
  const int severity = std::clamp(h.severity, 0, 7);
  out += fmt::format("<{}>1 ", facility * 8 + severity);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(h.timestamp.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  long long frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  out += fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  AppendField(out, h.hostname, 255);
  out += ' ';
  AppendField(out, h.app_name, 48);
  out += ' ';
  AppendField(out, h.procid, 128);
  out += ' ';
  AppendField(out, h.msgid, 32);
  out += " - ";
  out += msg;
}

SyslogSender::SyslogSender(SyslogTarget target) : target_(std::move(target)) {}

SyslogSender::~SyslogSender() {
  if (tls_ && tls_->ssl && !broken_) SSL_shutdown(tls_->ssl.get());  // best effort close_notify
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<SyslogSender>> SyslogSender::Connect(const SyslogTarget& target) {
  if (target.host.empty()) return InvalidArgument("syslog target: empty host");
  if (target.port == 0) return InvalidArgument("syslog target: port 0");
  const std::string where =
      fmt::format("{}://{}:{}", SyslogTransportName(target.transport), target.host, target.port);
  const bool udp = target.transport == SyslogTransport::kUdp;
  std::unique_ptr<SyslogSender> s(new SyslogSender(target));
  const SteadyTime deadline = std::chrono::steady_clock::now() + target.timeout;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(target.port);
  int gai = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    return Unavailable(fmt::format("{}: resolve: {}", where, gai_strerror(gai)));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (!WaitFd(fd, POLLOUT, deadline)) {
        last_error = "connect timed out";
        ::close(fd);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    s->fd_ = fd;
    break;
  }
  ::freeaddrinfo(res);
  if (s->fd_ < 0) return Unavailable(fmt::format("{}: connect: {}", where, last_error));
  if (!udp) {
    int one = 1;
    ::setsockopt(s->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (target.transport != SyslogTransport::kTls) return s;

  // TLS: verify the chain against the given CAs (or the system's) and the name.
  ERR_clear_error();
  auto tls = std::make_unique<Tls>();
  tls->ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!tls->ctx) return Internal(OpenSslError("SSL_CTX_new"));
  SSL_CTX_set_min_proto_version(tls->ctx.get(), TLS1_2_VERSION);
  if (target.verify) {
    SSL_CTX_set_verify(tls->ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (target.ca_pem.empty()) {
      if (SSL_CTX_set_default_verify_paths(tls->ctx.get()) != 1) {
        return Internal(OpenSslError("system trust store"));
      }
    } else {
      BIO* bio = BIO_new_mem_buf(target.ca_pem.data(), static_cast<int>(target.ca_pem.size()));
      X509_STORE* store = SSL_CTX_get_cert_store(tls->ctx.get());
      int added = 0;
      while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        if (X509_STORE_add_cert(store, cert) == 1) ++added;
        X509_free(cert);
      }
      BIO_free(bio);
      ERR_clear_error();  // the end of the PEM data is reported as an error
      if (added == 0) return InvalidArgument("syslog target: ca_pem holds no certificate");
    }
  }
  tls->ssl.reset(SSL_new(tls->ctx.get()));
  if (!tls->ssl) return Internal(OpenSslError("SSL_new"));
  SSL_set_fd(tls->ssl.get(), s->fd_);
  const std::string& name = target.server_name.empty() ? target.host : target.server_name;
  if (IsIpAddress(name)) {
    if (target.verify) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl.get()), name.c_str());
    }
  } else {
    SSL_set_tlsext_host_name(tls->ssl.get(), name.c_str());
    if (target.verify) SSL_set1_host(tls->ssl.get(), name.c_str());
  }
  for (;;) {
    int rc = SSL_connect(tls->ssl.get());
    if (rc == 1) break;
    int err = SSL_get_error(tls->ssl.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!WaitFd(s->fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        return Unavailable(fmt::format("{}: TLS handshake timed out", where));
      }
      continue;
    }
    long verify = SSL_get_verify_result(tls->ssl.get());
    if (verify != X509_V_OK) {
      ERR_clear_error();
      return Unavailable(fmt::format("{}: TLS certificate not accepted: {}", where,
                                     X509_verify_cert_error_string(verify)));
    }
    return Unavailable(OpenSslError(fmt::format("{}: TLS handshake", where)));
  }
  s->tls_ = std::move(tls);
  return s;
}

Status SyslogSender::CheckPeerOpen() {
  if (broken_) return Unavailable("syslog connection broken earlier");
  if (target_.transport == SyslogTransport::kUdp) return Status::Ok();
  // A receiver sends nothing on a syslog connection: readable means it closed (EOF, reset, or a
  // TLS close_notify/alert).
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
        (p.revents & (POLLHUP | POLLERR)) != 0) {
      broken_ = true;
      return Unavailable(
          fmt::format("{}:{}: the receiver closed the connection", target_.host, target_.port));
    }
    if (n > 0 && !tls_) {
      // Unexpected bytes from a plain TCP receiver: ignore them.
      char sink[512];
      while (::recv(fd_, sink, sizeof sink, MSG_DONTWAIT) > 0) {
      }
    }
  }
  return Status::Ok();
}

Status SyslogSender::WriteAll(std::string_view data) {
  const SteadyTime deadline = std::chrono::steady_clock::now() + target_.timeout;
  while (!data.empty()) {
    if (tls_) {
      ERR_clear_error();
      size_t written = 0;
      int rc = SSL_write_ex(tls_->ssl.get(), data.data(), data.size(), &written);
      if (rc == 1) {
        data.remove_prefix(written);
        bytes_sent_ += written;
        continue;
      }
      int err = SSL_get_error(tls_->ssl.get(), rc);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        if (!WaitFd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
          broken_ = true;
          return Unavailable("syslog TLS write timed out");
        }
        continue;
      }
      broken_ = true;
      return Unavailable(OpenSslError("syslog TLS write"));
    }
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      bytes_sent_ += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFd(fd_, POLLOUT, deadline)) {
        broken_ = true;
        return Unavailable("syslog write timed out");
      }
      continue;
    }
    broken_ = true;
    return ErrnoStatus(errno, "syslog write").WithContext(target_.host);
  }
  return Status::Ok();
}

Status SyslogSender::Send(std::span<const std::string> messages) {
  WARD_RETURN_IF_ERROR(CheckPeerOpen());
  if (target_.transport == SyslogTransport::kUdp) {
    for (const auto& m : messages) {
      if (m.size() > 65'507) {
        return InvalidArgument(
            fmt::format("syslog message of {} bytes is too long for UDP", m.size()));
      }
    }
    const SteadyTime deadline = std::chrono::steady_clock::now() + target_.timeout;
    for (const auto& m : messages) {
      for (;;) {
        ssize_t n = ::send(fd_, m.data(), m.size(), MSG_NOSIGNAL);
        if (n >= 0) {
          bytes_sent_ += static_cast<uint64_t>(n);
          break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          if (!WaitFd(fd_, POLLOUT, deadline)) return Unavailable("syslog UDP send timed out");
          continue;
        }
        // ECONNREFUSED: an ICMP port unreachable came back for an earlier datagram.
        broken_ = true;
        return ErrnoStatus(errno, "syslog UDP send").WithContext(target_.host);
      }
    }
    return Status::Ok();
  }
  // Octet counting, all messages in as few writes as possible.
  constexpr size_t kChunk = 256 * 1024;
  buffer_.clear();
  for (const auto& m : messages) {
    fmt::format_to(std::back_inserter(buffer_), "{} ", m.size());
    buffer_ += m;
    if (buffer_.size() >= kChunk) {
      WARD_RETURN_IF_ERROR(WriteAll(buffer_));
      buffer_.clear();
    }
  }
  if (!buffer_.empty()) WARD_RETURN_IF_ERROR(WriteAll(buffer_));
  buffer_.clear();
  return Status::Ok();
}

Status SyslogSender::SendFramed(std::string_view framed) {
  if (target_.transport == SyslogTransport::kUdp) {
    return InvalidArgument("syslog: octet-counted framing is for TCP and TLS");
  }
  WARD_RETURN_IF_ERROR(CheckPeerOpen());
  return WriteAll(framed);
}

Status SyslogSender::WaitAcknowledged() {
  if (target_.transport == SyslogTransport::kUdp) return CheckPeerOpen();
  const SteadyTime deadline = std::chrono::steady_clock::now() + target_.timeout;
  auto delay = std::chrono::microseconds(50);
  for (;;) {
    WARD_RETURN_IF_ERROR(CheckPeerOpen());
    int queued = 0;
    if (::ioctl(fd_, SIOCOUTQ, &queued) != 0) {
      broken_ = true;
      return ErrnoStatus(errno, "syslog SIOCOUTQ");
    }
    if (queued == 0) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      broken_ = true;
      return Unavailable(fmt::format("{}:{}: {} bytes not acknowledged by the receiver in time",
                                     target_.host, target_.port, queued));
    }
    // Nothing to poll for: an acknowledgement changes no readiness. Back off up to 5 ms.
    ::usleep(static_cast<useconds_t>(delay.count()));
    delay = std::min<std::chrono::microseconds>(delay * 2, std::chrono::milliseconds(5));
  }
}

}  // namespace ward::manager::siem

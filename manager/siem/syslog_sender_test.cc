#include "manager/siem/syslog_sender.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace ward::manager::siem {
namespace {

SyslogTarget Target(SyslogTransport t, uint16_t port,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  SyslogTarget target;
  target.transport = t;
  target.host = "127.0.0.1";
  target.port = port;
  target.timeout = timeout;
  return target;
}

// A loopback listener on port 0 (TCP or UDP).
class Listener {
 public:
  explicit Listener(bool udp) {
    fd_ = ::socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (!udp) {
      EXPECT_EQ(::listen(fd_, 4), 0);
    }
  }
  ~Listener() {
    if (conn_ >= 0) ::close(conn_);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int Accept() {
    conn_ = ::accept(fd_, nullptr, nullptr);
    return conn_;
  }
  // Reads from the accepted connection until `n` bytes arrived (or 5 s passed).
  std::string ReadBytes(size_t n) {
    std::string out;
    while (out.size() < n) {
      pollfd p{conn_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      char buf[65536];
      ssize_t r = ::recv(conn_, buf, sizeof buf, 0);
      if (r <= 0) break;
      out.append(buf, static_cast<size_t>(r));
    }
    return out;
  }
  std::string ReadDatagram() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return {};
    char buf[65536];
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    return r > 0 ? std::string(buf, static_cast<size_t>(r)) : std::string();
  }
  void CloseConnection() {
    ::close(conn_);
    conn_ = -1;
  }

 private:
  int fd_ = -1;
  int conn_ = -1;
  uint16_t port_ = 0;
};

TEST(Rfc5424, HeaderHasPriorityTimestampAndSanitisedFields) {
  SyslogHeader h;
  h.facility = 16;
  h.severity = 3;
  h.timestamp =
      std::chrono::system_clock::time_point(std::chrono::microseconds(1'765'107'352'123'456));
  h.hostname = "web 01\n";
  h.app_name = "ward";
  h.msgid = "ips";
  std::string out;
  AppendRfc5424(out, h, "CEF:0|x");
  EXPECT_EQ(out, "<131>1 2025-12-07T11:35:52.123456Z web_01_ ward - ips - CEF:0|x");
}

TEST(Rfc5424, EventSeverityMapsToSyslogSeverity) {
  EXPECT_EQ(SyslogSeverityFor(0), 6);
  EXPECT_EQ(SyslogSeverityFor(2), 4);
  EXPECT_EQ(SyslogSeverityFor(4), 2);
}

TEST(SyslogSender, TcpMessagesAreOctetCountedInOrder) {
  Listener l(false);
  auto s = SyslogSender::Connect(Target(SyslogTransport::kTcp, l.port()));
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  ASSERT_GE(l.Accept(), 0);
  std::vector<std::string> msgs = {"<134>1 - - - - - one", "<134>1 - - - - - two with a\nnewline",
                                   std::string(100'000, 'x')};
  ASSERT_TRUE((*s)->Send(msgs).ok());
  ASSERT_TRUE((*s)->WaitAcknowledged().ok());
  std::string want;
  for (const auto& m : msgs) want += std::to_string(m.size()) + " " + m;
  EXPECT_EQ(l.ReadBytes(want.size()), want);
  EXPECT_EQ((*s)->bytes_sent(), want.size());
}

TEST(SyslogSender, UdpSendsOneDatagramPerMessage) {
  Listener l(true);
  auto s = SyslogSender::Connect(Target(SyslogTransport::kUdp, l.port()));
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  std::vector<std::string> msgs = {"<134>1 - - - - - a", "<134>1 - - - - - b"};
  ASSERT_TRUE((*s)->Send(msgs).ok());
  EXPECT_EQ(l.ReadDatagram(), msgs[0]);
  EXPECT_EQ(l.ReadDatagram(), msgs[1]);
  std::vector<std::string> too_long = {std::string(70'000, 'y')};
  EXPECT_EQ((*s)->Send(too_long).code(), StatusCode::kInvalidArgument);
}

TEST(SyslogSender, ReceiverThatClosedIsReportedBeforeWriting) {
  Listener l(false);
  auto s = SyslogSender::Connect(Target(SyslogTransport::kTcp, l.port()));
  ASSERT_TRUE(s.has_value());
  ASSERT_GE(l.Accept(), 0);
  l.CloseConnection();
  // The FIN arrives asynchronously; wait for it to be seen rather than sleeping a fixed time.
  Status st = Status::Ok();
  for (int i = 0; i < 500 && st.ok(); ++i) {
    st = (*s)->WaitAcknowledged();
    if (st.ok()) ::usleep(1000);
  }
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  std::vector<std::string> msgs = {"x"};
  EXPECT_EQ((*s)->Send(msgs).code(), StatusCode::kUnavailable);
}

TEST(SyslogSender, NoReceiverIsUnavailable) {
  uint16_t port;
  {
    Listener l(false);
    port = l.port();
  }
  auto s = SyslogSender::Connect(Target(SyslogTransport::kTcp, port));
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), StatusCode::kUnavailable);
  SyslogTarget no_host = Target(SyslogTransport::kTcp, 514);
  no_host.host.clear();
  auto bad = SyslogSender::Connect(no_host);
  EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
}

TEST(SyslogSender, TlsRefusesAReceiverThatDoesNotSpeakTls) {
  Listener l(false);
  SyslogTarget t = Target(SyslogTransport::kTls, l.port(), std::chrono::milliseconds(500));
  auto s = SyslogSender::Connect(t);  // the listener never answers the ClientHello
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ward::manager::siem

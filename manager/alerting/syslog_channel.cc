// The syslog alert channel (issue 19): one RFC 5424 message per notification through the SIEM
// forwarders' sender (manager/siem/syslog_sender.h, branch s7-siem): UDP, TCP or TLS with octet
// counting; MSG is the webhook's JSON document (docs/alerts.md "Channels").
#include <fmt/format.h>

#include "manager/alerting/senders.h"
#include "manager/siem/syslog_sender.h"

namespace ward::manager::alerting {

using json = nlohmann::json;

namespace {

class SyslogChannelSender final : public Sender {
 public:
  explicit SyslogChannelSender(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  SendResult Send(const json& config, const AlertMessage& m) override {
    siem::SyslogTarget target;
    if (!siem::ParseSyslogTransport(config.value("transport", "tcp"), target.transport)) {
      return {false, true, "config.transport: expected udp, tcp or tls"};
    }
    target.host = config.value("host", "");
    target.port = static_cast<uint16_t>(config.value("port", 0));
    target.timeout = timeout_;
    target.ca_pem = config.value("ca_pem", "");
    target.server_name = config.value("server_name", "");
    auto sender = siem::SyslogSender::Connect(target);
    if (!sender) return {false, false, sender.error().ToString()};
    siem::SyslogHeader h;
    h.facility = config.value("facility", 16);
    h.severity = siem::SyslogSeverityFor(m.alert.severity);
    h.timestamp = m.sent_at;
    h.hostname = m.hostname;
    h.msgid = "alert";
    std::string msg;
    siem::AppendRfc5424(msg, h,
                        WebhookJson(m).dump(-1, ' ', false, json::error_handler_t::replace));
    std::vector<std::string> batch{std::move(msg)};
    if (Status s = (*sender)->Send(batch); !s.ok()) return {false, false, s.ToString()};
    if (Status s = (*sender)->WaitAcknowledged(); !s.ok()) return {false, false, s.ToString()};
    return {true, false, fmt::format("sent over {}", siem::SyslogTransportName(target.transport))};
  }

 private:
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<Sender> MakeSyslogSender(std::chrono::milliseconds timeout) {
  return std::make_unique<SyslogChannelSender>(timeout);
}

}  // namespace ward::manager::alerting

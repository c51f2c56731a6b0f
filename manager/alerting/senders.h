// Notification senders (issue 19, docs/alerts.md "Channels"): what one delivery attempt to one
// channel does. Webhooks (JSON signed with HMAC-SHA256, or a Slack / Teams body) and e-mail
// (SMTP with STARTTLS and AUTH, plain text + HTML, per recipient language) go through libcurl.
//
// A sender never throws and never blocks longer than its timeout; it reports what happened as
// a sentence for the delivery log ("HTTP 200", "connect: Couldn't connect to server").
// Thread-safety: Send() may run from many threads at once (one curl handle per call).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "manager/store/store.h"

namespace ward::manager::alerting {

// One notification, rendered for every kind of channel.
struct AlertMessage {
  std::string delivery_id;  // the outbox row's id: receivers de-duplicate on it
  Alert alert;
  std::string rule_id;
  std::string rule_name;
  std::string tenant_name;
  std::string hostname;  // the agent's, when known
  TimePoint sent_at;
};

// The outcome of one attempt: ok, or not with why; `permanent` when retrying cannot help
// (e.g. the webhook answered 4xx other than 408/429).
struct SendResult {
  bool ok = false;
  bool permanent = false;
  std::string detail;
};

class Sender {
 public:
  virtual ~Sender() = default;
  // `config` is the channel's configuration with its secrets opened.
  virtual SendResult Send(const nlohmann::json& config, const AlertMessage& m) = 0;
};

// The JSON document a webhook receives ("format": "json"), and its Slack/Teams forms.
nlohmann::json WebhookJson(const AlertMessage& m);
nlohmann::json SlackJson(const AlertMessage& m);
nlohmann::json TeamsJson(const AlertMessage& m);
// "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body): the X-Ward-Signature header.
std::string WebhookSignature(std::string_view secret, std::string_view timestamp,
                             std::string_view body);

// Subject, plain text and HTML of an alert in "en" or "ja".
struct MailText {
  std::string subject;
  std::string text;
  std::string html;
};
MailText RenderMail(const AlertMessage& m, std::string_view language);
// A complete RFC 5322 message (multipart/alternative, UTF-8, base64 bodies, RFC 2047 subject).
std::string MimeMessage(std::string_view from, const std::vector<std::string>& to,
                        const MailText& text, std::string_view message_id, TimePoint date);
// A file attached to a message (scheduled reports, docs/reports.md).
struct MailAttachment {
  std::string filename;  // ASCII; anything else becomes '_'
  std::string content_type;
  std::string bytes;
};
// The same with attachments: multipart/mixed of the multipart/alternative text and each
// attachment (base64). No attachments: exactly the message above.
std::string MimeMessage(std::string_view from, const std::vector<std::string>& to,
                        const MailText& text, std::string_view message_id, TimePoint date,
                        const std::vector<MailAttachment>& attachments);
// Sends one prepared `message` through the SMTP server of an e-mail channel's `config` (secrets
// opened: url, starttls, username, password, ca_pem), envelope from `from` to `to`, as the
// e-mail channel does. Thread-safe.
SendResult SendMail(const nlohmann::json& config, const std::string& from,
                    const std::vector<std::string>& to, const std::string& message,
                    std::chrono::milliseconds timeout);

// Validates a channel's configuration for `kind` ("webhook", "email"); the error names the field
// ("config.url: ..."). Secrets are "secret" (webhook) and "password" (email).
std::optional<std::string> CheckChannelConfig(std::string_view kind, const nlohmann::json& config);

std::unique_ptr<Sender> MakeWebhookSender(std::chrono::milliseconds timeout);
std::unique_ptr<Sender> MakeEmailSender(std::chrono::milliseconds timeout);
// Syslog (RFC 5424 over UDP/TCP/TLS through manager/siem's sender; syslog_channel.cc): config
// {"transport": "udp"|"tcp"|"tls", "host", "port", "ca_pem", "server_name", "facility"}.
std::unique_ptr<Sender> MakeSyslogSender(std::chrono::milliseconds timeout);

}  // namespace ward::manager::alerting

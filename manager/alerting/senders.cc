#include "manager/alerting/senders.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "common/clock.h"
#include "common/hash.h"
#include "common/html_escape.h"
#include "common/text.h"

namespace ward::manager::alerting {

using json = nlohmann::json;

namespace {

constexpr std::string_view kSeverityEn[] = {"info", "low", "medium", "high", "critical"};
constexpr std::string_view kSeverityJa[] = {"情報", "低", "中", "高", "緊急"};

std::string_view SeverityName(int s, bool ja) {
  int i = std::clamp(s, 0, 4);
  return ja ? kSeverityJa[i] : kSeverityEn[i];
}

// Header values carry no line breaks (no header injection through a title or an address).
std::string OneLine(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), '\r', ' ');
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

std::string Summary(const AlertMessage& m) {
  return fmt::format("[Ward] {} alert on {}: {}", SeverityName(m.alert.severity, false),
                     m.hostname.empty() ? m.alert.agent_id : m.hostname, m.alert.title);
}

void InitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlFree>;
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  size_t len = size * n;
  if (s->size() < 512) s->append(data, std::min(len, 512 - s->size()));
  return len;
}

struct Upload {
  std::string_view data;
  size_t pos = 0;
};

size_t ReadUpload(char* buf, size_t size, size_t n, void* in) {
  auto* u = static_cast<Upload*>(in);
  size_t len = std::min(size * n, u->data.size() - u->pos);
  std::memcpy(buf, u->data.data() + u->pos, len);
  u->pos += len;
  return len;
}

void CommonOptions(CURL* c, const json& config, std::chrono::milliseconds timeout, curl_blob* ca) {
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(timeout.count(), 10000)));
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (config.contains("ca_pem") && config["ca_pem"].is_string()) {
    const std::string& pem = config["ca_pem"].get_ref<const std::string&>();
    ca->data = const_cast<char*>(pem.data());
    ca->len = pem.size();
    ca->flags = CURL_BLOB_COPY;
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, ca);
  }
}

std::string CurlError(CURLcode rc, const char* errbuf) {
  return errbuf[0] != '\0' ? fmt::format("{}: {}", curl_easy_strerror(rc), errbuf)
                           : std::string(curl_easy_strerror(rc));
}

std::string StringOr(const json& config, const char* key, std::string fallback) {
  auto it = config.find(key);
  return it != config.end() && it->is_string() ? it->get<std::string>() : fallback;
}

class WebhookSender final : public Sender {
 public:
  explicit WebhookSender(std::chrono::milliseconds timeout) : timeout_(timeout) { InitCurl(); }

  SendResult Send(const json& config, const AlertMessage& m) override {
    const std::string format = StringOr(config, "format", "json");
    json doc = format == "slack" ? SlackJson(m) : format == "teams" ? TeamsJson(m) : WebhookJson(m);
    const std::string body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
    const std::string ts = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(m.sent_at.time_since_epoch()).count());
    curl_slist* raw = nullptr;
    raw = curl_slist_append(raw, "Content-Type: application/json; charset=utf-8");
    raw = curl_slist_append(raw, "User-Agent: ward-manager");
    raw = curl_slist_append(raw, ("X-Ward-Delivery: " + m.delivery_id).c_str());
    raw = curl_slist_append(raw, ("X-Ward-Timestamp: " + ts).c_str());
    const std::string secret = StringOr(config, "secret", "");
    if (!secret.empty()) {
      raw = curl_slist_append(raw,
                              ("X-Ward-Signature: " + WebhookSignature(secret, ts, body)).c_str());
    }
    SlistPtr headers(raw);
    CurlPtr c(curl_easy_init());
    if (!c) return {false, false, "curl_easy_init failed"};
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_blob ca{};
    CommonOptions(c.get(), config, timeout_, &ca);
    std::string url = StringOr(config, "url", "");
    std::string answer;
    curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, &Collect);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &answer);
    CURLcode rc = curl_easy_perform(c.get());
    if (rc != CURLE_OK) return {false, false, CurlError(rc, errbuf)};
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return {true, false, fmt::format("HTTP {}", status)};
    bool permanent = status >= 400 && status < 500 && status != 408 && status != 429;
    return {false, permanent, fmt::format("HTTP {}", status)};
  }

 private:
  std::chrono::milliseconds timeout_;
};

class EmailSender final : public Sender {
 public:
  explicit EmailSender(std::chrono::milliseconds timeout) : timeout_(timeout) { InitCurl(); }

  SendResult Send(const json& config, const AlertMessage& m) override {
    // One message per language, to that language's recipients.
    std::map<std::string, std::vector<std::string>> by_language;
    for (const json& r : config.value("recipients", json::array())) {
      by_language[r.value("language", "en")].push_back(r.value("address", ""));
    }
    std::vector<std::string> done;
    for (const auto& [language, to] : by_language) {
      MailText text = RenderMail(m, language);
      std::string from = StringOr(config, "from", "");
      std::string message = MimeMessage(
          from, to, text, fmt::format("{}.{}@ward", m.delivery_id, language), m.sent_at);
      SendResult r = SendOne(config, from, to, message);
      if (!r.ok) {
        if (!done.empty()) r.detail += fmt::format(" (sent before: {})", fmt::join(done, ", "));
        return r;
      }
      done.push_back(fmt::format("{} to {} recipient(s)", language, to.size()));
    }
    return {true, false, fmt::format("250 sent: {}", fmt::join(done, ", "))};
  }

 private:
  SendResult SendOne(const json& config, const std::string& from,
                     const std::vector<std::string>& to, const std::string& message) {
    return SendMail(config, from, to, message, timeout_);
  }

  std::chrono::milliseconds timeout_;
};

std::string HostOf(const AlertMessage& m) {
  return m.hostname.empty() ? m.alert.agent_id : m.hostname;
}

}  // namespace

json WebhookJson(const AlertMessage& m) {
  const Alert& a = m.alert;
  return {{"type", "alert.opened"},
          {"delivery_id", m.delivery_id},
          {"sent_at", FormatTimestamp(m.sent_at)},
          {"tenant", {{"id", a.tenant_id}, {"name", m.tenant_name}}},
          {"rule", {{"id", m.rule_id}, {"name", m.rule_name}}},
          {"alert",
           {{"id", a.id},
            {"source", a.source},
            {"rule_key", a.rule_key},
            {"agent_id", a.agent_id},
            {"hostname", m.hostname},
            {"module", a.module},
            {"title", a.title},
            {"severity", a.severity},
            {"severity_name", SeverityName(a.severity, false)},
            {"state", AlertStateName(a.state)},
            {"count", a.count},
            {"first_seen", FormatTimestamp(a.first_seen)},
            {"last_seen", FormatTimestamp(a.last_seen)},
            {"first_event_id", a.first_event_id},
            {"last_event_id", a.last_event_id}}}};
}

json SlackJson(const AlertMessage& m) {
  return {{"text", fmt::format("{}\nrule: {} · module: {} · first seen {} · alert {}", Summary(m),
                               m.rule_name, m.alert.module, FormatTimestamp(m.alert.first_seen),
                               m.alert.id)}};
}

json TeamsJson(const AlertMessage& m) {
  return {{"@type", "MessageCard"},
          {"@context", "https://schema.org/extensions"},
          {"summary", Summary(m)},
          {"themeColor", m.alert.severity >= 4   ? "B00020"
                         : m.alert.severity >= 3 ? "E65100"
                                                 : "1565C0"},
          {"title", Summary(m)},
          {"sections",
           json::array({{{"facts", json::array({{{"name", "Rule"}, {"value", m.rule_name}},
                                                {{"name", "Host"}, {"value", HostOf(m)}},
                                                {{"name", "Module"}, {"value", m.alert.module}},
                                                {{"name", "Alert"}, {"value", m.alert.id}}})}}})}};
}

std::string WebhookSignature(std::string_view secret, std::string_view timestamp,
                             std::string_view body) {
  auto h = HmacSha256::Create(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(secret.data()), secret.size()));
  if (!h) return "";
  std::string signed_text;
  signed_text.reserve(timestamp.size() + 1 + body.size());
  signed_text.append(timestamp).append(".").append(body);
  return "sha256=" + DigestHex((*h)->Compute(signed_text));
}

MailText RenderMail(const AlertMessage& m, std::string_view language) {
  const bool ja = language == "ja";
  const Alert& a = m.alert;
  const std::string host = HostOf(m);
  MailText t;
  struct Line {
    std::string label;
    std::string value;
  };
  std::vector<Line> lines;
  if (ja) {
    t.subject =
        fmt::format("[Ward] {} のアラート ({}): {}", host, SeverityName(a.severity, true), a.title);
    lines = {{"アラート", a.title},
             {"重大度", std::string(SeverityName(a.severity, true))},
             {"ホスト", host},
             {"モジュール", a.module},
             {"ルール", m.rule_name},
             {"初回検知", FormatTimestamp(a.first_seen)},
             {"件数", std::to_string(a.count)},
             {"アラートID", a.id}};
  } else {
    t.subject = Summary(m);
    lines = {{"Alert", a.title},
             {"Severity", std::string(SeverityName(a.severity, false))},
             {"Host", host},
             {"Module", a.module},
             {"Rule", m.rule_name},
             {"First seen", FormatTimestamp(a.first_seen)},
             {"Events", std::to_string(a.count)},
             {"Alert id", a.id}};
  }
  t.subject = OneLine(t.subject);
  t.text = ja ? "Ward が新しいアラートを検知しました。\n\n" : "Ward raised a new alert.\n\n";
  t.html = "<!DOCTYPE html><html><body><p>" +
           HtmlEscaped(ja ? "Ward が新しいアラートを検知しました。" : "Ward raised a new alert.") +
           "</p><table>";
  for (const Line& l : lines) {
    t.text += fmt::format("{}: {}\n", l.label, l.value);
    t.html += fmt::format("<tr><th align=\"left\">{}</th><td>{}</td></tr>", HtmlEscaped(l.label),
                          HtmlEscaped(l.value));
  }
  t.html += "</table></body></html>";
  return t;
}

std::string MimeMessage(std::string_view from, const std::vector<std::string>& to,
                        const MailText& text, std::string_view message_id, TimePoint date) {
  return MimeMessage(from, to, text, message_id, date, {});
}

std::string MimeMessage(std::string_view from, const std::vector<std::string>& to,
                        const MailText& text, std::string_view message_id, TimePoint date,
                        const std::vector<MailAttachment>& attachments) {
  auto wrap = [](const std::string& b64) {
    std::string out;
    for (size_t i = 0; i < b64.size(); i += 76) out += b64.substr(i, 76) + "\r\n";
    return out;
  };
  std::time_t tt = std::chrono::system_clock::to_time_t(date);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char date_buf[64];
  std::strftime(date_buf, sizeof(date_buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  const std::string boundary = fmt::format("ward-{}", message_id);
  std::string m;
  m += fmt::format("From: {}\r\n", OneLine(from));
  m += fmt::format("To: {}\r\n", OneLine(fmt::format("{}", fmt::join(to, ", "))));
  m += fmt::format("Subject: =?UTF-8?B?{}?=\r\n", Base64Encode(text.subject));
  m += fmt::format("Date: {}\r\n", date_buf);
  m += fmt::format("Message-ID: <{}>\r\n", OneLine(message_id));
  m += "MIME-Version: 1.0\r\n";
  const std::string mixed = boundary + "-mixed";
  if (!attachments.empty()) {
    m += fmt::format("Content-Type: multipart/mixed; boundary=\"{}\"\r\n\r\n", mixed);
    m += fmt::format("--{}\r\n", mixed);
  }
  m += fmt::format("Content-Type: multipart/alternative; boundary=\"{}\"\r\n\r\n", boundary);
  m += fmt::format(
      "--{}\r\nContent-Type: text/plain; charset=UTF-8\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n{}",
      boundary, wrap(Base64Encode(text.text)));
  m += fmt::format(
      "--{}\r\nContent-Type: text/html; charset=UTF-8\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n{}",
      boundary, wrap(Base64Encode(text.html)));
  m += fmt::format("--{}--\r\n", boundary);
  if (attachments.empty()) return m;
  for (const MailAttachment& a : attachments) {
    std::string name;
    for (char c : a.filename) {
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
      name += plain ? c : '_';
    }
    m += fmt::format(
        "--{}\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; "
        "filename=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        mixed, OneLine(a.content_type), name, name, wrap(Base64Encode(a.bytes)));
  }
  m += fmt::format("--{}--\r\n", mixed);
  return m;
}

SendResult SendMail(const json& config, const std::string& from, const std::vector<std::string>& to,
                    const std::string& message, std::chrono::milliseconds timeout) {
  InitCurl();
  CurlPtr c(curl_easy_init());
  if (!c) return {false, false, "curl_easy_init failed"};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_blob ca{};
  CommonOptions(c.get(), config, timeout, &ca);
  std::string url = StringOr(config, "url", "");
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  // STARTTLS is required unless the channel says otherwise (smtps:// is TLS from the start).
  curl_easy_setopt(c.get(), CURLOPT_USE_SSL,
                   config.value("starttls", true) ? static_cast<long>(CURLUSESSL_ALL)
                                                  : static_cast<long>(CURLUSESSL_NONE));
  std::string user = StringOr(config, "username", "");
  std::string password = StringOr(config, "password", "");
  if (!user.empty()) {
    curl_easy_setopt(c.get(), CURLOPT_USERNAME, user.c_str());
    curl_easy_setopt(c.get(), CURLOPT_PASSWORD, password.c_str());
  }
  std::string mail_from = "<" + OneLine(from) + ">";
  curl_easy_setopt(c.get(), CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_slist* raw = nullptr;
  for (const std::string& t : to) raw = curl_slist_append(raw, ("<" + OneLine(t) + ">").c_str());
  SlistPtr rcpt(raw);
  curl_easy_setopt(c.get(), CURLOPT_MAIL_RCPT, rcpt.get());
  Upload up{message};
  curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, &ReadUpload);
  curl_easy_setopt(c.get(), CURLOPT_READDATA, &up);
  curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
  CURLcode rc = curl_easy_perform(c.get());
  if (rc == CURLE_OK) return {true, false, "250"};
  long code = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &code);
  bool permanent = rc == CURLE_LOGIN_DENIED || (code >= 500 && code < 600);
  std::string detail = CurlError(rc, errbuf);
  if (code != 0) detail = fmt::format("SMTP {}: {}", code, detail);
  return {false, permanent, detail};
}

std::optional<std::string> CheckChannelConfig(std::string_view kind, const json& c) {
  if (!c.is_object()) return "config: expected an object";
  auto str = [&](const char* key, bool required, size_t max) -> std::optional<std::string> {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) {
      if (required) return fmt::format("config.{}: required", key);
      return std::nullopt;
    }
    if (!it->is_string() || it->get_ref<const std::string&>().size() > max) {
      return fmt::format("config.{}: expected a string of at most {} bytes", key, max);
    }
    return std::nullopt;
  };
  auto only = [&](std::initializer_list<std::string_view> keys) -> std::optional<std::string> {
    for (auto it = c.begin(); it != c.end(); ++it) {
      if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) {
        return fmt::format("config.{}: unknown field", it.key());
      }
    }
    return std::nullopt;
  };
  if (auto e = str("ca_pem", false, 64 * 1024)) return e;
  if (kind == "webhook") {
    if (auto e = only({"url", "format", "secret", "ca_pem"})) return e;
    if (auto e = str("url", true, 2048)) return e;
    const std::string& url = c["url"].get_ref<const std::string&>();
    if (!url.starts_with("https://") && !url.starts_with("http://")) {
      return "config.url: expected an http:// or https:// URL";
    }
    if (auto e = str("format", false, 16)) return e;
    std::string format = StringOr(c, "format", "json");
    if (format != "json" && format != "slack" && format != "teams") {
      return "config.format: expected json, slack or teams";
    }
    if (auto e = str("secret", false, 1024)) return e;
    return std::nullopt;
  }
  if (kind == "email") {
    if (auto e =
            only({"url", "starttls", "username", "password", "from", "recipients", "ca_pem"})) {
      return e;
    }
    if (auto e = str("url", true, 2048)) return e;
    const std::string& url = c["url"].get_ref<const std::string&>();
    if (!url.starts_with("smtp://") && !url.starts_with("smtps://")) {
      return "config.url: expected an smtp:// or smtps:// URL";
    }
    if (c.contains("starttls") && !c["starttls"].is_boolean()) {
      return "config.starttls: expected true or false";
    }
    if (auto e = str("username", false, 255)) return e;
    if (auto e = str("password", false, 1024)) return e;
    if (auto e = str("from", true, 255)) return e;
    if (c["from"].get_ref<const std::string&>().find('@') == std::string::npos) {
      return "config.from: expected an e-mail address";
    }
    auto it = c.find("recipients");
    if (it == c.end() || !it->is_array() || it->empty() || it->size() > 100) {
      return "config.recipients: expected 1..100 recipients";
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& r = (*it)[i];
      std::string field = fmt::format("config.recipients[{}]", i);
      if (!r.is_object()) return field + ": expected {\"address\": ..., \"language\": ...}";
      for (auto k = r.begin(); k != r.end(); ++k) {
        if (k.key() != "address" && k.key() != "language") {
          return fmt::format("{}.{}: unknown field", field, k.key());
        }
      }
      if (!r.contains("address") || !r["address"].is_string() ||
          r["address"].get_ref<const std::string&>().find('@') == std::string::npos ||
          r["address"].get_ref<const std::string&>().size() > 255) {
        return field + ".address: expected an e-mail address";
      }
      std::string lang = r.contains("language") && r["language"].is_string()
                             ? r["language"].get<std::string>()
                             : std::string(r.contains("language") ? "?" : "en");
      if (lang != "en" && lang != "ja") return field + ".language: expected en or ja";
    }
    return std::nullopt;
  }
  if (kind == "syslog") {
    if (auto e = only({"transport", "host", "port", "ca_pem", "server_name", "facility"})) {
      return e;
    }
    if (auto e = str("transport", false, 8)) return e;
    std::string t = StringOr(c, "transport", "tcp");
    if (t != "udp" && t != "tcp" && t != "tls") return "config.transport: expected udp, tcp or tls";
    if (auto e = str("host", true, 255)) return e;
    if (c["host"].get_ref<const std::string&>().empty()) return "config.host: required";
    if (!c.contains("port") || !c["port"].is_number_integer() || c["port"].get<int64_t>() < 1 ||
        c["port"].get<int64_t>() > 65535) {
      return "config.port: expected 1..65535";
    }
    if (auto e = str("server_name", false, 255)) return e;
    if (c.contains("facility") &&
        (!c["facility"].is_number_integer() || c["facility"].get<int64_t>() < 0 ||
         c["facility"].get<int64_t>() > 23)) {
      return "config.facility: expected 0..23";
    }
    return std::nullopt;
  }
  return "kind: expected webhook, email or syslog";
}

std::unique_ptr<Sender> MakeWebhookSender(std::chrono::milliseconds timeout) {
  return std::make_unique<WebhookSender>(timeout);
}
std::unique_ptr<Sender> MakeEmailSender(std::chrono::milliseconds timeout) {
  return std::make_unique<EmailSender>(timeout);
}

}  // namespace ward::manager::alerting

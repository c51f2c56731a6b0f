#include "manager/services/alerts.h"

#include <string_view>

namespace ward::manager {

namespace {

using json = nlohmann::json;

const json* At(const json& doc, std::initializer_list<std::string_view> path) {
  const json* cur = &doc;
  for (std::string_view k : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

// The string at `path`, or the first string of an array there; "" otherwise.
std::string FirstString(const json& doc, std::initializer_list<std::string_view> path) {
  const json* v = At(doc, path);
  if (v == nullptr) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_array() && !v->empty() && (*v)[0].is_string()) return (*v)[0].get<std::string>();
  return "";
}

std::string Cut(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // a whole UTF-8 char
  s.resize(n);
  return s;
}

// The event's document: `doc`, or `doc_text` parsed (ingestion keeps the agent's line as text).
// Only the top-level members an alert reads are kept (rule, ips, message): the rest of a parsed
// line is skipped without being built.
json DocOf(const StoredEvent& e) {
  if (e.doc.is_object()) return e.doc;
  json::parser_callback_t keep = [](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key) {
      const std::string& k = parsed.get_ref<const std::string&>();
      return k == "rule" || k == "ips" || k == "message";  // rule: id, name, description
    }
    return true;
  };
  json doc = json::parse(e.doc_text, keep, /*allow_exceptions=*/false);
  return doc.is_object() ? doc : json::object();
}

}  // namespace

bool IsAlertWorthy(const StoredEvent& e) {
  if (e.severity >= 3) return true;
  if (e.module == "autoheal" && (e.action == "restored" || e.action == "persistent_tampering")) {
    return true;
  }
  if (e.module == "integrity" && e.action == "baseline_tampered") return true;
  // Malware detections (docs/events.md: log, quarantine, delete; `allowed` is not one).
  return e.module == "antimalware" &&
         (e.action == "log" || e.action == "quarantine" || e.action == "delete");
}

namespace {

std::string KeyFrom(const StoredEvent& e, const json& doc) {
  std::string key = e.module + "." + e.action;
  std::string rule = FirstString(doc, {"rule", "id"});
  if (rule.empty()) rule = FirstString(doc, {"rule", "name"});
  if (!rule.empty()) key += ":" + rule;
  return Cut(std::move(key), 255);
}

std::string TitleFrom(const StoredEvent& e, const json& doc) {
  std::string t = FirstString(doc, {"ips", "messages"});
  if (t.empty()) t = FirstString(doc, {"rule", "name"});
  // Log inspection: the OSSEC/Wazuh rule's description, its fields already substituted.
  if (t.empty()) t = FirstString(doc, {"rule", "description"});
  if (t.empty()) t = FirstString(doc, {"message"});
  if (t.empty()) t = e.module + " " + e.action;
  return Cut(std::move(t), 512);
}

}  // namespace

nlohmann::json AlertDocOf(const StoredEvent& e) { return DocOf(e); }
std::string AlertRuleKeyOf(const StoredEvent& e, const nlohmann::json& doc) {
  return KeyFrom(e, doc);
}
std::string AlertTitleOf(const StoredEvent& e, const nlohmann::json& doc) {
  return TitleFrom(e, doc);
}

std::string AlertRuleKey(const StoredEvent& e) { return KeyFrom(e, DocOf(e)); }

std::string AlertTitle(const StoredEvent& e) { return TitleFrom(e, DocOf(e)); }

std::vector<AlertSignal> AlertSignalsFor(const std::vector<StoredEvent>& events,
                                         const std::function<std::string()>& new_id) {
  std::vector<AlertSignal> out;
  for (const StoredEvent& e : events) {
    if (!IsAlertWorthy(e)) continue;
    const json doc = DocOf(e);
    AlertSignal s;
    s.new_alert_id = new_id();
    s.tenant_id = e.tenant_id;
    s.agent_id = e.agent_id;
    s.event_id = e.id;
    s.timestamp = e.timestamp;
    s.rule_key = KeyFrom(e, doc);
    s.module = e.module;
    s.title = TitleFrom(e, doc);
    s.severity = e.severity;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ward::manager

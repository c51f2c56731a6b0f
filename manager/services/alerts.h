// Built-in alert rules (docs/alerts.md): which stored events are severe enough to become alerts,
// and the key they are grouped by. Issue 19's configurable alert rules will add their own
// signals (AlertSignal::source = the rule's id) beside these.
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "manager/store/store.h"

namespace ward::manager {

// Whether a stored event raises a built-in alert: severity high or critical, a healed tampering
// (autoheal restored), a malware detection (antimalware log/quarantine/delete), persistent
// tampering, a tampered baseline. Decided from the extracted columns only (no parsing).
bool IsAlertWorthy(const StoredEvent& e);

// The grouping key of an alert-worthy event: "<module>.<action>" plus ":<rule>" when the event
// names a rule (the first rule.id, else rule.name), at most 255 bytes.
std::string AlertRuleKey(const StoredEvent& e);

// A short title: the first IPS message, the malware signature, the event's message, else the
// action (at most 512 bytes).
std::string AlertTitle(const StoredEvent& e);

// The same from a document already parsed with AlertDocOf (issue 19's rules parse it once).
nlohmann::json AlertDocOf(const StoredEvent& e);  // `doc`, else the members alerts read
std::string AlertRuleKeyOf(const StoredEvent& e, const nlohmann::json& doc);
std::string AlertTitleOf(const StoredEvent& e, const nlohmann::json& doc);

// One signal per alert-worthy event of `events`, each with a fresh id from `new_id`. Only those
// events' documents are parsed (`doc`, else `doc_text`).
std::vector<AlertSignal> AlertSignalsFor(const std::vector<StoredEvent>& events,
                                         const std::function<std::string()>& new_id);

}  // namespace ward::manager

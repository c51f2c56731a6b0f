// The words of reports in English and Japanese: one table of message keys (docs/reports.md lists
// none of them; the table is the record). Thread-safety: immutable data.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "manager/reports/report.h"

namespace ward::manager::reports {

// The message for `key` in `lang`; the key itself when the table has none (a test checks every
// key the reports use is present in both languages).
std::string_view Text(Language lang, std::string_view key);
// Text() with its "{}" replaced by note.arg.
std::string NoteText(Language lang, const Note& note);
// `tmpl` with each "{}" replaced by the next of `args`.
std::string Fill(std::string_view tmpl, std::initializer_list<std::string> args);
// "info", "low", ... / "情報", "低", ...; severity clamped to 0..4.
std::string_view SeverityText(Language lang, int severity);
std::string_view StatusText(Language lang, PciStatus s);
// Every key of the table (tests).
std::vector<std::string_view> AllKeys();

}  // namespace ward::manager::reports

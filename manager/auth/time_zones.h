// Per-user time zones of the console (PATCH /api/v1/session {"time_zone"}): IANA names such as
// "Asia/Tokyo" or "UTC", checked against the system's time zone database (Debian's `tzdata`,
// /usr/share/zoneinfo, or $TZDIR when set): a name is valid when its file there is a TZif file.
// The browser does the formatting (Intl.DateTimeFormat); the manager only refuses names no
// browser would know, so a typo never gets stored.
// Thread-safety: pure functions (read-only file access).
#pragma once

#include <filesystem>
#include <string_view>

namespace ward::manager {

// The time zone database directory: $TZDIR if set, else /usr/share/zoneinfo.
std::filesystem::path ZoneInfoDir();

// True for "UTC" and for every IANA name (letters, digits, '_', '-', '+', '/' between components;
// no "." or ".." component; at most 64 bytes) whose file in `zoneinfo` starts with "TZif".
bool ValidTimeZone(std::string_view name, const std::filesystem::path& zoneinfo = ZoneInfoDir());

}  // namespace ward::manager

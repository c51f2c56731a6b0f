// GeoIP for log inspection: the `srcgeoip` / `dstgeoip` fields that OSSEC/Wazuh rules test
// (<srcgeoip>, <dstgeoip>, same_/different_srcgeoip), looked up in a MaxMind DB file in the
// GeoIP2/GeoLite2-City layout through libmaxminddb. The value is what Wazuh 4.14's analysisd
// shows: "<country iso_code> / <first subdivision's English name>" (or its iso_code), or only the
// country code when the address has no subdivision. Ward ships no database: the operator points
// `loginspect.geoip_db` at one (e.g. GeoLite2-City.mmdb kept current by geoipupdate).
//
// Thread-safety: immutable after Open; Lookup may be called from any number of threads.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ward::agent::loginspect {

class GeoIpDatabase {
 public:
  // Errors: NotFound when the file does not exist, InvalidArgument "<path>: <why>" when it is not
  // a MaxMind DB (libmaxminddb's own verification of the metadata and search tree).
  static Result<std::shared_ptr<const GeoIpDatabase>> Open(const std::filesystem::path& path);
  ~GeoIpDatabase();
  GeoIpDatabase(const GeoIpDatabase&) = delete;
  GeoIpDatabase& operator=(const GeoIpDatabase&) = delete;

  // The display value for an IPv4/IPv6 address in text form, or nullopt when the text is not an
  // address, the address is not in the database, or its entry has no two-letter country code.
  std::optional<std::string> Lookup(std::string_view address) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  struct Handle;
  GeoIpDatabase(std::filesystem::path path, std::unique_ptr<Handle> handle);
  std::filesystem::path path_;
  std::unique_ptr<Handle> handle_;
};

}  // namespace ward::agent::loginspect

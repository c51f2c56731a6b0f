#include "agent/modules/loginspect/geoip.h"

#include <fmt/format.h>
#include <maxminddb.h>

#include <system_error>

namespace ward::agent::loginspect {

struct GeoIpDatabase::Handle {
  MMDB_s mmdb{};
};

namespace {

// A UTF-8 string at `path` inside `entry`, or nullopt.
template <typename... Path>
std::optional<std::string> Utf8(MMDB_entry_s* entry, Path... path) {
  MMDB_entry_data_s data{};
  if (MMDB_get_value(entry, &data, path..., nullptr) != MMDB_SUCCESS) return std::nullopt;
  if (!data.has_data || data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size == 0)
    return std::nullopt;
  return std::string(data.utf8_string, data.data_size);
}

}  // namespace

GeoIpDatabase::GeoIpDatabase(std::filesystem::path path, std::unique_ptr<Handle> handle)
    : path_(std::move(path)), handle_(std::move(handle)) {}

GeoIpDatabase::~GeoIpDatabase() { MMDB_close(&handle_->mmdb); }

Result<std::shared_ptr<const GeoIpDatabase>> GeoIpDatabase::Open(
    const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return NotFound(fmt::format("geoip database {}: no such file", path.string()));
  auto handle = std::make_unique<Handle>();
  int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &handle->mmdb);
  if (rc != MMDB_SUCCESS) {
    return InvalidArgument(fmt::format("geoip database {}: {}", path.string(), MMDB_strerror(rc)));
  }
  // MMDB_open checks the metadata and the tree's bounds; a corrupt record found later makes
  // that lookup fail (no geoip value).
  return std::shared_ptr<const GeoIpDatabase>(new GeoIpDatabase(path, std::move(handle)));
}

std::optional<std::string> GeoIpDatabase::Lookup(std::string_view address) const {
  // MMDB_lookup_string runs getaddrinfo with AI_NUMERICHOST: a name never goes to DNS. It
  // reads a C string: text with a NUL inside is no address (and would be cut at the NUL).
  if (address.find('\0') != std::string_view::npos) return std::nullopt;
  std::string text(address);
  int gai_error = 0;
  int mmdb_error = MMDB_SUCCESS;
  MMDB_lookup_result_s result =
      MMDB_lookup_string(&handle_->mmdb, text.c_str(), &gai_error, &mmdb_error);
  if (gai_error != 0 || mmdb_error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;
  auto country = Utf8(&result.entry, "country", "iso_code");
  if (!country || country->size() != 2) return std::nullopt;
  auto region = Utf8(&result.entry, "subdivisions", "0", "names", "en");
  if (!region) region = Utf8(&result.entry, "subdivisions", "0", "iso_code");
  if (!region) return country;
  return fmt::format("{} / {}", *country, *region);
}

}  // namespace ward::agent::loginspect

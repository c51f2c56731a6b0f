// Tenant-wide IP lists (issue 17): named address lists that firewall policies reference.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

namespace {

constexpr const char* kCols = "tenant_id, name, description, entries, updated_at";
constexpr const char* kSig = "ssssi";
constexpr size_t kListNameMax = 64;

IpList ListFrom(const Row& r) {
  IpList l;
  l.tenant_id = r.S(0);
  l.name = r.S(1);
  l.description = r.S(2);
  json entries = ParseJson(r.S(3), json::array());
  for (const auto& e : entries) {
    if (e.is_string()) l.entries.push_back(e.get<std::string>());
  }
  l.updated_at = FromMicros(r.I(4));
  return l;
}

}  // namespace

Result<std::vector<IpList>> SociStore::ListIpLists(const std::string& tenant_id) {
  return Run("list ip lists", false, [&](soci::session& sql) -> Result<std::vector<IpList>> {
    Params p;
    std::vector<IpList> out;
    Select(sql,
           fmt::format("SELECT {} FROM ip_lists WHERE tenant_id = {} ORDER BY name", kCols,
                       p.S(tenant_id)),
           p, kSig, [&](const Row& r) { out.push_back(ListFrom(r)); });
    return out;
  });
}

Result<IpList> SociStore::GetIpList(const std::string& tenant_id, const std::string& name) {
  return Run("get ip list", false, [&](soci::session& sql) -> Result<IpList> {
    Params p;
    std::optional<IpList> found;
    Select(sql,
           fmt::format("SELECT {} FROM ip_lists WHERE tenant_id = {} AND name = {}", kCols,
                       p.S(tenant_id), p.S(name)),
           p, kSig, [&](const Row& r) { found = ListFrom(r); });
    if (!found) return NotFound("no such ip list");
    return *found;
  });
}

Result<bool> SociStore::PutIpList(const IpList& l) {
  WARD_RETURN_IF_ERROR(CheckLen("ip_list.name", l.name, kListNameMax));
  if (l.name.empty()) return InvalidArgument("ip_list.name: empty");
  WARD_RETURN_IF_ERROR(CheckLen("ip_list.description", l.description, 1024));
  json entries = json::array();
  for (const auto& e : l.entries) entries.push_back(e);
  const std::string text = DumpJson(entries);
  return Run("put ip list", true, [&](soci::session& sql) -> Result<bool> {
    WARD_RETURN_IF_ERROR(GetTenantIn(sql, l.tenant_id, false).status());
    Params u;
    long long changed =
        Exec(sql,
             fmt::format("UPDATE ip_lists SET description = {}, entries = {}, updated_at = {} "
                         "WHERE tenant_id = {} AND name = {}",
                         u.S(l.description), u.S(text), u.I(Micros(l.updated_at)), u.S(l.tenant_id),
                         u.S(l.name)),
             u);
    if (changed > 0) return false;
    // Two writers creating the same name at once: the second INSERT violates the primary key
    // and fails with kAlreadyExists (the API answers 409; a retry takes the UPDATE path).
    Params i;
    Exec(sql,
         fmt::format("INSERT INTO ip_lists ({}) VALUES ({}, {}, {}, {}, {})", kCols,
                     i.S(l.tenant_id), i.S(l.name), i.S(l.description), i.S(text),
                     i.I(Micros(l.updated_at))),
         i);
    return true;
  });
}

Status SociStore::DeleteIpList(const std::string& tenant_id, const std::string& name) {
  return RunStatus("delete ip list", true, [&](soci::session& sql) -> Status {
    Params p;
    long long n = Exec(sql,
                       fmt::format("DELETE FROM ip_lists WHERE tenant_id = {} AND name = {}",
                                   p.S(tenant_id), p.S(name)),
                       p);
    if (n == 0) return NotFound("no such ip list");
    return Status::Ok();
  });
}

}  // namespace ward::manager::soci_backend

#include "manager/store/soci_store.h"

#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

// kNotFound("no such <what>") unless `table` has row `id` in `tenant_id` (locked for update).
Status SociStore::RequireRow(soci::session& sql, std::string_view table,
                             const std::string& tenant_id, const std::string& id,
                             std::string_view what) {
  Params p;
  long long n = SelectInt(sql,
                          fmt::format("SELECT COUNT(*) FROM {} WHERE tenant_id = {} AND id = {}",
                                      table, p.S(tenant_id), p.S(id)),
                          p, 0);
  if (n == 0) return NotFound(fmt::format("no such {}", what));
  return Status::Ok();
}

}  // namespace ward::manager::soci_backend

namespace ward::manager {

using soci_backend::Classify;
using soci_backend::SessionPool;
using soci_backend::SociStore;

Result<std::unique_ptr<Store>> OpenSociStore(const StoreUrl& url) {
  auto store = std::make_unique<SociStore>(url);
  WARD_RETURN_IF_ERROR(store->Ping());
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& url) {
  WARD_ASSIGN_OR_RETURN(StoreUrl parsed, ParseStoreUrl(url));
  return OpenSociStore(parsed);
}

Status RunAdminSql(const std::string& url, const std::vector<std::string>& statements) {
  WARD_ASSIGN_OR_RETURN(StoreUrl parsed, ParseStoreUrl(url));
  parsed.pool_size = 1;
  SessionPool pool(parsed);
  WARD_ASSIGN_OR_RETURN(auto session, pool.Connect());
  for (const auto& s : statements) {
    try {
      *session << s;
    } catch (const std::exception& e) {
      return Classify(parsed.dialect, e, session.get()).status.WithContext(s);
    }
  }
  return Status::Ok();
}

}  // namespace ward::manager

// Leases that coordinate background jobs across manager nodes.
#include <fmt/format.h>

#include "manager/store/soci/soci_store.h"

namespace ward::manager::soci_backend {

Result<bool> SociStore::TryAcquireLease(const std::string& name, const std::string& holder,
                                        TimePoint now, std::chrono::seconds ttl) {
  WARD_RETURN_IF_ERROR(CheckLen("lease.name", name, kNameMax));
  WARD_RETURN_IF_ERROR(CheckLen("lease.holder", holder, kNameMax));
  long long now_us = Micros(now);
  long long until = now_us + std::chrono::duration_cast<std::chrono::microseconds>(ttl).count();
  return Run("acquire lease", true, [&](soci::session& sql) -> Result<bool> {
    Params u;
    Exec(sql,
         fmt::format("UPDATE leases SET holder = {}, expires_at = {} WHERE name = {} AND "
                     "(expires_at <= {} OR holder = {})",
                     u.S(holder), u.I(until), u.S(name), u.I(now_us), u.S(holder)),
         u);
    Params i;
    Exec(sql,
         fmt::format("{} INTO leases (name, holder, expires_at) VALUES ({}, {}, {}){}",
                     InsertIgnore(), i.S(name), i.S(holder), i.I(until), OnConflictIgnore()),
         i);
    Params s;
    bool mine = false;
    Select(sql, fmt::format("SELECT holder, expires_at FROM leases WHERE name = {}", s.S(name)), s,
           "si", [&](const Row& r) { mine = r.S(0) == holder && r.I(1) == until; });
    return mine;
  });
}

Status SociStore::ReleaseLease(const std::string& name, const std::string& holder) {
  return RunStatus("release lease", true, [&](soci::session& sql) -> Status {
    Params p;
    Exec(sql,
         fmt::format("DELETE FROM leases WHERE name = {} AND holder = {}", p.S(name), p.S(holder)),
         p);
    return Status::Ok();
  });
}

}  // namespace ward::manager::soci_backend

#include "manager/store/soci/binding.h"

#include <cctype>

namespace ward::manager::soci_backend {

// SQLite resolves each named placeholder with a linear search while parsing (quadratic for a
// 2,500-value insert); anonymous "?" placeholders are bound by position, in text order.
std::string ForBackend(soci::session& sql, const std::string& q) {
  if (sql.get_backend_name() != "sqlite3") return q;
  std::string out;
  out.reserve(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    if (q[i] == ':' && i + 2 < q.size() && q[i + 1] == 'p' &&
        std::isdigit(static_cast<unsigned char>(q[i + 2]))) {
      out.push_back('?');
      i += 2;
      while (i + 1 < q.size() && std::isdigit(static_cast<unsigned char>(q[i + 1]))) ++i;
    } else {
      out.push_back(q[i]);
    }
  }
  return out;
}

long long Exec(soci::session& sql, const std::string& q, Params& p) {
  soci::statement st(sql);
  p.Bind(st, q);
  st.alloc();
  st.prepare(ForBackend(sql, q));
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}
long long SelectInt(soci::session& sql, const std::string& q, Params& p, long long fallback) {
  long long v = fallback;
  Select(sql, q, p, "i", [&](const Row& r) { v = r.I(0); });
  return v;
}

}  // namespace ward::manager::soci_backend

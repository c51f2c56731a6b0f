#include "manager/store/store_url.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "common/text.h"

namespace ward::manager {
namespace {

Result<std::string> PercentDecode(std::string_view s, std::string_view what) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) {
      return InvalidArgument(fmt::format("database URL: bad percent-encoding in {}", what));
    }
    int hi = HexDigitValue(s[i + 1]), lo = HexDigitValue(s[i + 2]);
    if (hi < 0 || lo < 0) {
      return InvalidArgument(fmt::format("database URL: bad percent-encoding in {}", what));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (out.find('\0') != std::string::npos) {
    return InvalidArgument(fmt::format("database URL: NUL byte in {}", what));
  }
  return out;
}

// A value for libpq's conninfo / SOCI's key=value strings: single-quoted, with \ and ' escaped.
std::string Quote(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

bool ParseInt(std::string_view s, int lo, int hi, int* out) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool ValidDatabaseName(std::string_view db) {
  if (db.empty() || db.size() > 63) return false;
  for (char c : db) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view DialectName(Dialect d) {
  switch (d) {
    case Dialect::kSqlite:
      return "sqlite";
    case Dialect::kPostgres:
      return "postgresql";
    case Dialect::kMysql:
      return "mysql";
  }
  return "?";
}

Result<StoreUrl> ParseStoreUrl(const std::string& url) {
  StoreUrl out;
  if (url.rfind("sqlite:", 0) == 0) {
    std::string path = url.substr(7);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // sqlite:///abs/path
    if (path.empty()) return InvalidArgument("database URL: sqlite: needs a file path");
    if (path == ":memory:") {
      return InvalidArgument("database URL: sqlite::memory: is not supported (use a file)");
    }
    // SOCI's SQLite backend splits its connect string at spaces and has no quoting.
    if (path.find_first_of(std::string("\0'\"\\ \t\n", 7)) != std::string::npos) {
      return InvalidArgument("database URL: sqlite path must not contain spaces, quotes or \\");
    }
    out.dialect = Dialect::kSqlite;
    out.database = path;
    out.pool_size = 8;
    out.connect = fmt::format("db={} timeout=10", path);
    out.redacted = url;
    return out;
  }
  std::string_view rest(url);
  if (rest.rfind("postgresql://", 0) == 0) {
    out.dialect = Dialect::kPostgres;
    rest.remove_prefix(13);
  } else if (rest.rfind("postgres://", 0) == 0) {
    out.dialect = Dialect::kPostgres;
    rest.remove_prefix(11);
  } else if (rest.rfind("mysql://", 0) == 0) {
    out.dialect = Dialect::kMysql;
    rest.remove_prefix(8);
  } else {
    return InvalidArgument(
        "database URL: unknown scheme (expected sqlite:PATH, postgresql://... or mysql://...)");
  }
  out.pool_size = 16;
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string user, password;
  bool has_password = false;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::string_view u = cred, p;
    if (auto colon = cred.find(':'); colon != std::string_view::npos) {
      u = cred.substr(0, colon);
      p = cred.substr(colon + 1);
      has_password = true;
    }
    WARD_ASSIGN_OR_RETURN(user, PercentDecode(u, "user"));
    WARD_ASSIGN_OR_RETURN(password, PercentDecode(p, "password"));
  }
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return InvalidArgument("database URL: missing /database");
  std::string_view hostport = rest.substr(0, slash);
  std::string db(rest.substr(slash + 1));
  if (!ValidDatabaseName(db)) {
    return InvalidArgument("database URL: database name must be 1-63 of [A-Za-z0-9_-]");
  }
  std::string host(hostport);
  int port = out.dialect == Dialect::kPostgres ? 5432 : 3306;
  if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = std::string(hostport.substr(0, colon));
    if (!ParseInt(hostport.substr(colon + 1), 1, 65535, &port)) {
      return InvalidArgument("database URL: port must be 1-65535");
    }
  }
  if (host.empty()) host = "127.0.0.1";
  if (host.find_first_of(std::string("\0'\\ ", 4)) != std::string::npos) {
    return InvalidArgument("database URL: bad host");
  }
  int connect_timeout = 5;
  std::string sslmode;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument(fmt::format("database URL: option '{}' needs a value", kv));
    }
    std::string_view k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "pool") {
      if (!ParseInt(v, 1, 256, &out.pool_size)) {
        return InvalidArgument("database URL: pool must be 1-256");
      }
    } else if (k == "connect_timeout") {
      if (!ParseInt(v, 1, 3600, &connect_timeout)) {
        return InvalidArgument("database URL: connect_timeout must be 1-3600");
      }
    } else if (k == "sslmode" && out.dialect == Dialect::kPostgres) {
      static const std::vector<std::string_view> kModes = {"disable", "allow",     "prefer",
                                                           "require", "verify-ca", "verify-full"};
      if (std::find(kModes.begin(), kModes.end(), v) == kModes.end()) {
        return InvalidArgument("database URL: unknown sslmode");
      }
      sslmode = std::string(v);
    } else {
      return InvalidArgument(fmt::format("database URL: unknown option '{}'", k));
    }
  }
  out.database = db;
  std::string redacted_cred;
  if (!user.empty() || has_password) {
    redacted_cred = fmt::format("{}{}@", user, has_password ? ":***" : "");
  }
  out.redacted =
      fmt::format("{}://{}{}:{}/{}", DialectName(out.dialect), redacted_cred, host, port, db);
  if (out.dialect == Dialect::kPostgres) {
    out.connect = fmt::format("host={} port={} dbname={} connect_timeout={}", Quote(host), port,
                              Quote(db), connect_timeout);
    if (!user.empty()) out.connect += " user=" + Quote(user);
    if (has_password) out.connect += " password=" + Quote(password);
    if (!sslmode.empty()) out.connect += " sslmode=" + sslmode;
  } else {
    out.connect = fmt::format("host={} port={} db={} connect_timeout={} charset=utf8mb4", host,
                              port, db, connect_timeout);
    if (!user.empty()) out.connect += " user=" + Quote(user);
    if (has_password) out.connect += " password=" + Quote(password);
  }
  return out;
}

Result<std::string> WithDatabase(const std::string& url, const std::string& database) {
  WARD_ASSIGN_OR_RETURN(StoreUrl parsed, ParseStoreUrl(url));
  if (parsed.dialect == Dialect::kSqlite) return InvalidArgument("WithDatabase: not for sqlite");
  if (!ValidDatabaseName(database)) return InvalidArgument("WithDatabase: bad database name");
  auto q = url.find('?');
  std::string base = url.substr(0, q);
  std::string query = q == std::string::npos ? "" : url.substr(q);
  auto slash = base.rfind('/');
  return base.substr(0, slash + 1) + database + query;
}

}  // namespace ward::manager

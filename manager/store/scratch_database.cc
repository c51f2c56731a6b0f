#include "manager/store/scratch_database.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "manager/store/soci_store.h"

namespace ward::manager {

Result<std::string> TestServerUrl(Dialect d) {
  const char* var = nullptr;
  switch (d) {
    case Dialect::kSqlite:
      return std::string("sqlite:");
    case Dialect::kPostgres:
      var = "WARD_TEST_POSTGRES_URL";
      break;
    case Dialect::kMysql:
      var = "WARD_TEST_MYSQL_URL";
      break;
  }
  const char* v = std::getenv(var);
  if (v == nullptr || *v == '\0') {
    return FailedPrecondition(fmt::format(
        "{} is not set: run the tests through ctest (tests/databases.cmake starts the servers) "
        "or export the URLs printed by `scripts/test-databases start DIR`",
        var));
  }
  return std::string(v);
}

Result<std::unique_ptr<ScratchDatabase>> ScratchDatabase::Create(Dialect d) {
  static std::atomic<int> counter{0};
  std::unique_ptr<ScratchDatabase> db(new ScratchDatabase());
  db->dialect_ = d;
  if (d == Dialect::kSqlite) {
    std::string tmpl = "/tmp/ward-store-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus(errno, "mkdtemp");
    db->name_ = tmpl;
    db->url_ = "sqlite:" + tmpl + "/ward.db";
    return db;
  }
  WARD_ASSIGN_OR_RETURN(db->server_url_, TestServerUrl(d));
  std::random_device rd;
  db->name_ = fmt::format("ward_t_{}_{}_{:06x}", getpid(), counter++, rd() & 0xffffff);
  WARD_ASSIGN_OR_RETURN(db->url_, WithDatabase(db->server_url_, db->name_));
  std::string create = d == Dialect::kPostgres
                           ? fmt::format("CREATE DATABASE {}", db->name_)
                           : fmt::format(
                                 "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE "
                                 "utf8mb4_bin",
                                 db->name_);
  WARD_RETURN_IF_ERROR(RunAdminSql(db->server_url_, {create}));
  return db;
}

ScratchDatabase::~ScratchDatabase() {
  if (dialect_ == Dialect::kSqlite) {
    std::error_code ec;
    std::filesystem::remove_all(name_, ec);
    return;
  }
  std::string drop = dialect_ == Dialect::kPostgres
                         ? fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_)
                         : fmt::format("DROP DATABASE IF EXISTS {}", name_);
  (void)RunAdminSql(server_url_, {drop});
}

}  // namespace ward::manager

#include "manager/store/soci/errors.h"

#include <string>

namespace ward::manager::soci_backend {

DbError Classify(Dialect d, const std::exception& e, soci::session* sql) {
  DbError out;
  std::string msg = e.what();
  StatusCode code = StatusCode::kInternal;
  if (auto* pe = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
    std::string state = pe->sqlstate();
    if (state == "23505") {
      code = StatusCode::kAlreadyExists;
    } else if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" ||
               state == "57P03") {
      code = StatusCode::kUnavailable;
      out.broken = true;
    } else if (state == "40001" || state == "40P01" || state == "55P03") {
      code = StatusCode::kUnavailable;
      out.retryable = true;
    } else if (state == "28P01" || state == "28000") {
      code = StatusCode::kPermissionDenied;
    } else if (state.rfind("22", 0) == 0) {
      code = StatusCode::kInvalidArgument;
    }
  } else if (auto* me = dynamic_cast<const soci::mysql_soci_error*>(&e)) {
    unsigned n = me->err_num_;
    if (n == 1062 || n == 1586) {
      code = StatusCode::kAlreadyExists;
    } else if (n == 2002 || n == 2003 || n == 2005 || n == 2006 || n == 2013 || n == 2055 ||
               n == 1927 || n == 1053) {
      code = StatusCode::kUnavailable;
      out.broken = true;
    } else if (n == 1213 || n == 1205) {
      code = StatusCode::kUnavailable;
      out.retryable = true;
    } else if (n == 1045 || n == 1044) {
      code = StatusCode::kPermissionDenied;
    } else if (n == 1406 || n == 1366 || n == 1292) {
      code = StatusCode::kInvalidArgument;
    }
  } else if (auto* se = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    int rc = se->result() & 0xff;
    if (rc == 19) {  // SQLITE_CONSTRAINT
      code = msg.find("UNIQUE") != std::string::npos || msg.find("PRIMARY") != std::string::npos
                 ? StatusCode::kAlreadyExists
                 : StatusCode::kInvalidArgument;
    } else if (rc == 5 || rc == 6) {  // BUSY, LOCKED
      code = StatusCode::kUnavailable;
      out.retryable = true;
    } else if (rc == 14 || rc == 10 || rc == 13) {  // CANTOPEN, IOERR, FULL
      code = StatusCode::kUnavailable;
    }
  } else if (auto* ge = dynamic_cast<const soci::soci_error*>(&e)) {
    if (ge->get_error_category() == soci::soci_error::connection_error) {
      code = StatusCode::kUnavailable;
      out.broken = true;
    }
  }
  if (code == StatusCode::kInternal && d != Dialect::kSqlite && sql != nullptr) {
    // Errors raised by a dead connection do not always carry a connection code.
    bool connected = false;
    try {
      connected = sql->is_connected();
    } catch (...) {
    }
    if (!connected) {
      code = StatusCode::kUnavailable;
      out.broken = true;
    }
  }
  out.status = Status(code, msg);
  return out;
}

}  // namespace ward::manager::soci_backend

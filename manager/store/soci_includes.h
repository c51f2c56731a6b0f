// SOCI's headers, included the one way this code base uses them.
//
// Debian's soci-config.h declares SOCI_HAVE_BOOST (the library was built with Boost), but only
// the header-only Boost integrations (fusion/optional/tuple/date_time conversions) depend on it
// and Boost headers are not installed with libsoci-dev. Those integrations are templates that
// change no class layout, so turning them off here is safe and avoids a Boost dependency.
#pragma once

// clang-format off
#include <soci/soci-config.h>
#undef SOCI_HAVE_BOOST
#undef SOCI_HAVE_BOOST_DATE_TIME
#include <soci/soci.h>
#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
// clang-format on

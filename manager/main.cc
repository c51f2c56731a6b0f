// ward-manager: the multi-tenant server and its admin commands. A thin front-end over the
// libraries under manager/ (docs/manager.md).
//   ward-manager init --db URL               schema + primary tenant + its first admin API key
//   ward-manager serve --db URL --listen 127.0.0.1:4119 [--tls-cert F --tls-key F]
//   ward-manager migrate --db URL
//   ward-manager retention --db URL --run-now
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/version.h"
#include "common/clock.h"
#include "common/config_node.h"
#include "common/file_system.h"
#include "common/log.h"
#include "common/service_notify.h"
#include "common/steps.h"
#include "manager/alerting/notifier.h"
#include "manager/api/manager_api.h"
#include "manager/api/server.h"
#include "manager/auth/passwords.h"
#include "manager/auth/secret_box.h"
#include "manager/auth/secrets.h"
#include "manager/jobs/jobs.h"
#include "manager/reports/mailer.h"
#include "manager/services/bootstrap.h"
#include "manager/services/packages.h"
#include "manager/services/tls.h"
#include "manager/services/updates.h"
#include "manager/services/users.h"
#include "manager/siem/forwarding.h"
#include "manager/store/store.h"

namespace ward::manager {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 2;

int Fail(const Status& s) {
  fmt::print(stderr, "ward-manager: {}\n", s.ToString());
  return kExitError;
}

Result<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument(fmt::format("--listen {}: expected HOST:PORT", listen));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  std::string_view p(listen.data() + colon + 1, listen.size() - colon - 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || end != p.data() + p.size() || port < 0 || port > 65535) {
    return InvalidArgument(fmt::format("--listen {}: bad port", listen));
  }
  return std::make_pair(host, port);
}

Result<std::unique_ptr<Store>> OpenInitialised(const std::string& url) {
  WARD_ASSIGN_OR_RETURN(auto store, Store::Open(url));
  WARD_ASSIGN_OR_RETURN(int version, store->SchemaVersion());
  if (version == 0) {
    return FailedPrecondition("the database has no schema: run `ward-manager init --db URL`");
  }
  return store;
}

struct InitOptions {
  std::string db;
  std::string tenant_name = "primary";
  std::string admin_user = "admin";
  std::string admin_password_file;  // "" = generate one and print it
  std::string state_dir;            // "" = no key file now (`serve` creates it in its state dir)
  bool as_json = false;
};

// The update bundles (docs/updates.md), signed with a key derived from manager.key.
Result<std::shared_ptr<UpdateRepository>> OpenUpdates(const std::string& state_dir,
                                                      const std::string& updates_dir,
                                                      const SecretBox& box) {
  const auto seed = box.DeriveKey("ward update bundle signing v1");
  std::filesystem::path dir = updates_dir.empty() ? std::filesystem::path(state_dir) / "updates"
                                                  : std::filesystem::path(updates_dir);
  WARD_ASSIGN_OR_RETURN(auto repo, UpdateRepository::Open(dir, updates::KeyPairFromSeed(seed)));
  return std::shared_ptr<UpdateRepository>(std::move(repo));
}

// Imports `dir` (freshclam's) as a new clamav bundle when it changed.
void ImportClamAv(UpdateRepository& repo, const std::string& dir) {
  auto r = repo.ImportDirectory("clamav", dir, SystemClock().Now());
  if (!r) {
    spdlog::error("import of {} as the clamav bundle: {}", dir, r.error().ToString());
  } else if (*r) {
    spdlog::info("imported {} as clamav bundle v{}", dir, (*r)->manifest.version);
  }
}

// The key that seals secrets the manager stores (the users' TOTP secrets): <state dir>/manager.key.
Result<std::shared_ptr<const SecretBox>> LoadSecretKey(const std::string& state_dir) {
  bool created = false;
  const std::filesystem::path file = std::filesystem::path(state_dir) / "manager.key";
  WARD_ASSIGN_OR_RETURN(SecretBox box, SecretBox::LoadOrCreate(file, &created));
  if (created) spdlog::info("created the manager's secret key {} (0600)", file.string());
  return std::make_shared<const SecretBox>(box);
}

int Init(const InitOptions& o) {
  // The password is read before anything is created, so a bad file leaves no tenant behind.
  std::string password;
  const bool generated = o.admin_password_file.empty();
  if (generated) {
    password = NewPassword();
  } else {
    auto p = ReadPasswordFile(o.admin_password_file);
    if (!p) return Fail(p.error().WithContext("--admin-password-file"));
    password = std::move(*p);
  }
  if (!o.state_dir.empty()) {
    auto key = LoadSecretKey(o.state_dir);
    if (!key) return Fail(key.error().WithContext("the manager's secret key"));
  }
  auto store = Store::Open(o.db);
  if (!store) return Fail(store.error().WithContext("open database"));
  auto b = InitPrimaryTenant(**store, SystemClock(), o.tenant_name);
  if (!b) return Fail(b.error());
  auto user = CreateUserWithPassword(**store, SystemClock(), b->tenant_id, o.admin_user,
                                     Role::kAdmin, password);
  if (!user) {
    (void)(*store)->DeleteTenant(b->tenant_id);
    return Fail(user.error().WithContext("create the first admin user"));
  }
  if (o.as_json) {
    nlohmann::json out{{"tenant_id", b->tenant_id},
                       {"api_key_id", b->api_key_id},
                       {"api_key", b->api_key},
                       {"admin_user", o.admin_user}};
    if (generated) out["admin_password"] = password;
    fmt::print("{}\n", out.dump());
  } else {
    fmt::print("primary tenant: {} ({})\n", o.tenant_name, b->tenant_id);
    fmt::print("admin API key (shown once, store it now): {}\n", b->api_key);
    if (generated) {
      fmt::print("console admin user: {}  password (shown once, store it now): {}\n", o.admin_user,
                 password);
    } else {
      fmt::print("console admin user: {}  (password from {})\n", o.admin_user,
                 o.admin_password_file);
    }
  }
  return kExitOk;
}

struct ServeOptions {
  std::string db;
  std::string listen = "127.0.0.1:4119";
  std::string tls_cert;
  std::string tls_key;
  std::string state_dir = "/var/lib/ward-manager";
  std::string body_limit = "10M";
  std::string agent_body_limit = "16M";
  int key_rate = 500;
  int tenant_rate = 1000;
  int agent_rate = 600;
  int max_batch_events = 1000;
  int threads = 16;
  int max_connections = 10000;
  int max_connections_per_address = 256;
  int auth_failures_per_minute = 30;
  std::string header_timeout = "10s";
  std::string body_timeout = "60s";
  std::string keep_alive_timeout = "5s";
  std::string job_tick = "15s";
  std::string lease_ttl = "60s";
  std::string retention_every = "1h";
  bool no_jobs = false;
  int notify_workers = 2;
  std::string session_idle = "30m";
  std::string session_max = "12h";
  int signin_rate_user = 10;
  int signin_rate_address = 30;
  std::string updates_dir;  // "" = <state-dir>/updates
  std::string
      clamav_dir;  // "" = none; else imported as the clamav bundle at start and every minute
  std::string packages_dir;  // agent packages served on /agent/v1/packages (docs/deployment.md)
};

Result<std::chrono::seconds> Seconds(const std::string& flag, const std::string& v) {
  auto d = ParseDuration(v);
  if (!d || *d < std::chrono::seconds(1)) {
    return InvalidArgument(fmt::format("{} {}: expected a duration like 15s", flag, v));
  }
  return std::chrono::duration_cast<std::chrono::seconds>(*d);
}

int Serve(const ServeOptions& o) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<Store> store;
  ApiOptions api_opt;
  JobOptions job_opt;
  std::string cert = o.tls_cert, key = o.tls_key;
  std::unique_ptr<ManagerApi> api;
  std::unique_ptr<HttpsServer> server;
  std::unique_ptr<reports::SmtpReportMailer> report_mailer;  // outlives `jobs`
  std::unique_ptr<JobRunner> jobs;
  std::unique_ptr<siem::SiemForwarding> siem_forwarding;
  std::unique_ptr<alerting::Notifier> notifier;
  std::pair<std::string, int> listen;
  int bound_port = 0;
  Status s = RunSteps({
      {"read options",
       [&]() -> Status {
         WARD_ASSIGN_OR_RETURN(listen, ParseListen(o.listen));
         auto bl = ParseSize(o.body_limit);
         if (!bl || *bl < 1024) return InvalidArgument("--body-limit: expected a size like 10M");
         api_opt.body_limit = *bl;
         auto al = ParseSize(o.agent_body_limit);
         if (!al || *al < 1024) {
           return InvalidArgument("--agent-body-limit: expected a size like 16M");
         }
         api_opt.agent_body_limit = *al;
         api_opt.key_rate_per_minute = o.key_rate;
         api_opt.tenant_rate_per_minute = o.tenant_rate;
         api_opt.agent_rate_per_minute = o.agent_rate;
         api_opt.max_batch_events = o.max_batch_events;
         WARD_ASSIGN_OR_RETURN(api_opt.sessions.idle, Seconds("--session-idle", o.session_idle));
         WARD_ASSIGN_OR_RETURN(api_opt.sessions.absolute, Seconds("--session-max", o.session_max));
         job_opt.session_idle = api_opt.sessions.idle;
         api_opt.sessions.signin_per_user_per_minute = o.signin_rate_user;
         api_opt.sessions.signin_per_address_per_minute = o.signin_rate_address;
         WARD_ASSIGN_OR_RETURN(job_opt.tick, Seconds("--job-tick", o.job_tick));
         WARD_ASSIGN_OR_RETURN(job_opt.lease_ttl, Seconds("--lease-ttl", o.lease_ttl));
         WARD_ASSIGN_OR_RETURN(job_opt.retention_every,
                               Seconds("--retention-every", o.retention_every));
         if (cert.empty() != key.empty()) {
           return InvalidArgument("--tls-cert and --tls-key go together");
         }
         return Status::Ok();
       }},
      {"open database",
       [&]() -> Status {
         WARD_ASSIGN_OR_RETURN(store, OpenInitialised(o.db));
         return Status::Ok();
       }},
      {"secret key",
       [&]() -> Status {
         WARD_ASSIGN_OR_RETURN(api_opt.sessions.secret_box, LoadSecretKey(o.state_dir));
         return Status::Ok();
       }},
      {"update bundles",
       [&]() -> Status {
         WARD_ASSIGN_OR_RETURN(api_opt.updates, OpenUpdates(o.state_dir, o.updates_dir,
                                                            *api_opt.sessions.secret_box));
         if (!o.clamav_dir.empty()) ImportClamAv(*api_opt.updates, o.clamav_dir);
         return Status::Ok();
       }},
      {"TLS certificate",
       [&]() -> Status {
         if (cert.empty()) {
           char host[256] = {};
           ::gethostname(host, sizeof host - 1);
           WARD_ASSIGN_OR_RETURN(auto files, EnsureSelfSignedCertificate(o.state_dir, host));
           cert = files.cert.string();
           key = files.key.string();
           if (files.created) spdlog::info("created a self-signed certificate in {}", cert);
         }
         WARD_ASSIGN_OR_RETURN(std::string fp, CertificateFingerprint(cert));
         fmt::print("fingerprint: {}\n", fp);
         api_opt.tls_fingerprint = fp;
         WARD_ASSIGN_OR_RETURN(api_opt.tls_pubkey_pin, PublicKeyPin(cert));
         return Status::Ok();
       }},
      {"agent packages",
       [&]() -> Status {
         if (o.packages_dir.empty()) return Status::Ok();
         WARD_ASSIGN_OR_RETURN(auto catalog, PackageCatalog::Load(o.packages_dir));
         for (const auto& p : catalog.packages()) {
           spdlog::info("serving package {} (sha256 {})", p.file, p.sha256);
         }
         if (catalog.AgentPackages(agent::kVersion).empty()) {
           spdlog::warn(
               "--packages-dir {}: no ward-agent package; deployment scripts will be refused",
               o.packages_dir);
         }
         api_opt.packages = std::make_shared<const PackageCatalog>(std::move(catalog));
         return Status::Ok();
       }},
      {"start server",
       [&]() -> Status {
         api = std::make_unique<ManagerApi>(*store, SystemClock(), api_opt);
         ServerOptions front;
         front.threads = o.threads;
         front.max_connections = o.max_connections;
         front.max_connections_per_address = o.max_connections_per_address;
         front.auth_failures_per_minute = o.auth_failures_per_minute;
         WARD_ASSIGN_OR_RETURN(auto header, Seconds("--header-timeout", o.header_timeout));
         WARD_ASSIGN_OR_RETURN(auto body, Seconds("--body-timeout", o.body_timeout));
         WARD_ASSIGN_OR_RETURN(auto idle, Seconds("--keep-alive-timeout", o.keep_alive_timeout));
         front.handshake_timeout = front.header_timeout = header;
         front.body_timeout = body;
         front.keep_alive_timeout = idle;
         WARD_ASSIGN_OR_RETURN(server, HttpsServer::Create(*api, cert, key, front));
         WARD_ASSIGN_OR_RETURN(bound_port, server->Start(listen.first, listen.second));
         fmt::print("listening: https://{}:{}\n", listen.first, bound_port);
         std::fflush(stdout);
         return Status::Ok();
       }},
      {"start jobs",
       [&]() -> Status {
         if (o.no_jobs) return Status::Ok();
         // Scheduled reports go out through the tenant's e-mail channel (docs/reports.md).
         report_mailer =
             std::make_unique<reports::SmtpReportMailer>(*store, api_opt.sessions.secret_box);
         job_opt.report_mailer = report_mailer.get();
         jobs = std::make_unique<JobRunner>(*store, SystemClock(), job_opt, MakeNodeId());
         spdlog::info("background jobs on node {}", jobs->node_id());
         jobs->Start();
         return Status::Ok();
       }},
      {"start SIEM forwarding",
       [&]() -> Status {
         if (o.no_jobs) return Status::Ok();
         siem::ForwardingOptions fo;
         fo.lease_ttl = job_opt.lease_ttl;  // a dead node's forwarders move after --lease-ttl
         siem_forwarding =
             std::make_unique<siem::SiemForwarding>(*store, SystemClock(), fo, jobs->node_id());
         siem_forwarding->Start();
         return Status::Ok();
       }},
      // Alert notifications (docs/alerts.md "Delivery"): every node drains the outbox, each
      // notification claimed by one node at a time.
      {"start notifier",
       [&]() -> Status {
         if (o.no_jobs || o.notify_workers <= 0) return Status::Ok();
         alerting::NotifierOptions n;
         n.workers = o.notify_workers;
         notifier = std::make_unique<alerting::Notifier>(
             *store, SystemClock(), n, MakeNodeId(),
             alerting::Notifier::DefaultSenders(n.send_timeout), api_opt.sessions.secret_box);
         notifier->Start();
         return Status::Ok();
       }},
  });
  std::fflush(stdout);
  if (!s.ok()) return Fail(s);
  // systemd (Type=notify, WatchdogSec=): ready now; the watchdog is pinged from this loop only
  // while the database answers (docs/packaging.md).
  NotifyReady(fmt::format("serving on {}:{}", listen.first, bound_port));
  WatchdogGate watchdog({{"database", [&] { return store->SchemaVersion().has_value(); }}});
  auto tick = WatchdogPingInterval();
  int sig = 0;
  // freshclam's directory is imported again every minute (a new version only when it changed).
  std::jthread clamav_import;
  if (!o.clamav_dir.empty()) {
    clamav_import = std::jthread([&](std::stop_token stop) {
      std::mutex m;
      std::condition_variable_any cv;
      for (;;) {
        std::unique_lock lock(m);
        if (cv.wait_for(lock, stop, std::chrono::minutes(1), [] { return false; })) break;
        if (stop.stop_requested()) break;
        ImportClamAv(*api_opt.updates, o.clamav_dir);
      }
    });
  }
  for (;;) {
    if (!tick) {
      if (sigwait(&set, &sig) == 0) break;
      continue;
    }
    watchdog.Tick();
    timespec ts{.tv_sec = static_cast<time_t>(tick->count() / 1000),
                .tv_nsec = static_cast<long>(tick->count() % 1000) * 1000000};
    sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) break;
  }
  NotifyStopping();
  spdlog::info("signal {}: stopping", sig);
  if (siem_forwarding) siem_forwarding->Stop();
  if (clamav_import.joinable()) {
    clamav_import.request_stop();
    clamav_import.join();
  }
  if (notifier) notifier->Stop();
  if (jobs) jobs->Stop();
  server->Stop();
  return kExitOk;
}

int Run(int argc, char** argv) {
  CLI::App app{"ward-manager: the Ward manager server"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  int rc = kExitOk;

  std::string db;
  auto* init = app.add_subcommand(
      "init", "create the schema, the primary tenant, its first admin key and admin user");
  InitOptions io;
  init->add_option("--db", io.db, "sqlite:PATH, postgresql://..., mysql://...")->required();
  init->add_option("--tenant-name", io.tenant_name, "name of the primary tenant")
      ->capture_default_str();
  init->add_option("--admin-user", io.admin_user, "user name of the first console admin")
      ->capture_default_str();
  init->add_option("--admin-password-file", io.admin_password_file,
                   "read the admin's password (first line, 12..1024 bytes) instead of "
                   "generating one");
  init->add_flag("--json", io.as_json, "print the tenant id, key and admin password as JSON");
  init->add_option("--state-dir", io.state_dir,
                   "create the manager's secret key (manager.key, 0600) here; `serve` creates it "
                   "in its --state-dir when missing");
  init->callback([&] { rc = Init(io); });

  ServeOptions so;
  auto* serve = app.add_subcommand("serve", "serve HTTPS (REST API and agent endpoints)");
  serve->add_option("--db", so.db, "database URL")->required();
  serve->add_option("--listen", so.listen, "HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  serve->add_option("--tls-cert", so.tls_cert, "PEM certificate (default: self-signed)");
  serve->add_option("--tls-key", so.tls_key, "PEM private key");
  serve->add_option("--packages-dir", so.packages_dir,
                    "directory of the agent .deb packages served to deployment scripts "
                    "(make package's output)");
  serve
      ->add_option("--state-dir", so.state_dir,
                   "where the self-signed certificate and the secret key (manager.key) live")
      ->capture_default_str();
  serve->add_option("--body-limit", so.body_limit, "largest /api/v1 body (after gzip)")
      ->capture_default_str();
  serve
      ->add_option("--agent-body-limit", so.agent_body_limit, "largest /agent/v1 body (after gzip)")
      ->capture_default_str();
  serve->add_option("--rate-limit-key", so.key_rate, "requests per minute per API key (0: off)")
      ->capture_default_str();
  serve
      ->add_option("--rate-limit-tenant", so.tenant_rate, "requests per minute per tenant (0: off)")
      ->capture_default_str();
  serve
      ->add_option("--rate-limit-agent", so.agent_rate,
                   "requests per minute per agent credential (0: off)")
      ->capture_default_str();
  serve->add_option("--max-batch-events", so.max_batch_events, "events per agent upload")
      ->capture_default_str();
  serve->add_option("--session-idle", so.session_idle, "console sessions end after this idle time")
      ->capture_default_str();
  serve->add_option("--session-max", so.session_max, "console sessions end this long after sign-in")
      ->capture_default_str();
  serve
      ->add_option("--signin-rate-user", so.signin_rate_user,
                   "console sign-in attempts per minute per user name (0: off)")
      ->capture_default_str();
  serve
      ->add_option("--signin-rate-address", so.signin_rate_address,
                   "console sign-in attempts per minute per client address (0: off)")
      ->capture_default_str();
  serve->add_option("--threads", so.threads, "HTTP worker threads")->capture_default_str();
  serve->add_option("--max-connections", so.max_connections, "open connections in total")
      ->capture_default_str();
  serve
      ->add_option("--max-connections-per-address", so.max_connections_per_address,
                   "open connections per source address (IPv6: per /64)")
      ->capture_default_str();
  serve
      ->add_option("--auth-failures-per-minute", so.auth_failures_per_minute,
                   "failed authentications per source address before 429 (0: no throttle)")
      ->capture_default_str();
  serve
      ->add_option("--header-timeout", so.header_timeout,
                   "deadline for the TLS handshake, and for a request's headers")
      ->capture_default_str();
  serve->add_option("--body-timeout", so.body_timeout, "deadline for a request body")
      ->capture_default_str();
  serve
      ->add_option("--keep-alive-timeout", so.keep_alive_timeout,
                   "idle time allowed between requests on one connection")
      ->capture_default_str();
  serve->add_option("--job-tick", so.job_tick, "how often background jobs are tried")
      ->capture_default_str();
  serve->add_option("--lease-ttl", so.lease_ttl, "job lease lifetime")->capture_default_str();
  serve->add_option("--retention-every", so.retention_every, "retention period")
      ->capture_default_str();
  serve->add_flag("--no-jobs", so.no_jobs, "serve requests only; run no background job");
  serve->add_option("--updates-dir", so.updates_dir,
                    "where update bundles are kept (default: <state-dir>/updates; share it "
                    "between nodes)");
  serve->add_option("--clamav-dir", so.clamav_dir,
                    "a directory freshclam maintains: imported as the clamav update bundle at "
                    "start and whenever it changes (checked every minute)");
  serve
      ->add_option("--notify-workers", so.notify_workers,
                   "threads delivering alert notifications (0: none on this node)")
      ->capture_default_str();
  serve->callback([&] { rc = Serve(so); });

  auto* migrate = app.add_subcommand("migrate", "upgrade the schema to this build's version");
  migrate->add_option("--db", db, "database URL")->required();
  migrate->callback([&] {
    auto store = Store::Open(db);
    if (!store) {
      rc = Fail(store.error());
      return;
    }
    if (Status s = (*store)->Migrate(); !s.ok()) {
      rc = Fail(s);
      return;
    }
    auto v = (*store)->SchemaVersion();
    if (!v) {
      rc = Fail(v.error());
      return;
    }
    fmt::print("schema version {}\n", *v);
  });

  auto* retention = app.add_subcommand("retention", "delete events past each tenant's retention");
  bool run_now = false;
  retention->add_option("--db", db, "database URL")->required();
  retention->add_flag("--run-now", run_now, "run once now (the server runs it periodically)");
  retention->callback([&] {
    if (!run_now) {
      rc = Fail(InvalidArgument("retention: pass --run-now to run it now"));
      return;
    }
    auto store = OpenInitialised(db);
    if (!store) {
      rc = Fail(store.error());
      return;
    }
    auto r = RunRetention(**store, SystemClock());
    if (!r) {
      rc = Fail(r.error());
      return;
    }
    fmt::print("deleted {} events over {} tenants\n", r->deleted, r->tenants);
  });

  // ward-manager updates publish: files or a directory as a new version of a bundle.
  auto* upd = app.add_subcommand("updates", "update bundles for agents (docs/updates.md)");
  auto* publish = upd->add_subcommand(
      "publish", "publish files (or the files of --from DIR) as a new version of a bundle");
  std::string upd_state = "/var/lib/ward-manager", upd_dir, upd_kind, upd_from;
  std::vector<std::string> upd_files;
  publish->add_option("--state-dir", upd_state, "the manager's state dir (manager.key)")
      ->capture_default_str();
  publish->add_option("--updates-dir", upd_dir, "default: <state-dir>/updates");
  publish->add_option("--kind", upd_kind, "clamav, yara, crs or rules")->required();
  publish->add_option("--from", upd_from, "a directory: its files become the new version");
  publish->add_option("files", upd_files, "files added to (or replaced in) the latest version");
  publish->callback([&] {
    auto key = LoadSecretKey(upd_state);
    if (!key) {
      rc = Fail(key.error().WithContext("the manager's secret key"));
      return;
    }
    auto repo = OpenUpdates(upd_state, upd_dir, **key);
    if (!repo) {
      rc = Fail(repo.error());
      return;
    }
    if (upd_kind == "feeds") {
      rc = Fail(InvalidArgument("egress feeds are each tenant's: POST /api/v1/feeds"));
      return;
    }
    if (upd_from.empty() == upd_files.empty()) {
      rc = Fail(InvalidArgument("give either --from DIR or files"));
      return;
    }
    if (!upd_from.empty()) {
      auto r = (*repo)->ImportDirectory(upd_kind, upd_from, SystemClock().Now());
      if (!r) {
        rc = Fail(r.error());
      } else if (!*r) {
        fmt::print("{}: unchanged\n", upd_kind);
      } else {
        fmt::print("{} v{}: {} file(s)\n", upd_kind, (*r)->manifest.version,
                   (*r)->manifest.files.size());
      }
      return;
    }
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& f : upd_files) {
      auto bytes = RealFileSystem().ReadFile(f, updates::kMaxFileBytes);
      if (!bytes) {
        rc = Fail(bytes.error().WithContext(f));
        return;
      }
      files.emplace_back(std::filesystem::path(f).filename().string(), std::move(*bytes));
    }
    auto b = (*repo)->Publish(upd_kind, files, false, SystemClock().Now());
    if (!b) {
      rc = Fail(b.error());
      return;
    }
    fmt::print("{} v{}: {} file(s)\n", upd_kind, b->manifest.version, b->manifest.files.size());
  });
  upd->require_subcommand(1);

  app.parse_complete_callback([&] { InitLogging(log_level); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  return rc;
}

}  // namespace
}  // namespace ward::manager

int main(int argc, char** argv) {
  try {
    return ward::manager::Run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "ward-manager: fatal: {}\n", e.what());
    return 2;
  }
}

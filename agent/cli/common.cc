#include "agent/cli/common.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "agent/modules/schemas.h"

namespace ward::agent {

void AddCommon(CLI::App* app, CommonOptions& opt, bool config_required) {
  auto* c = app->add_option("--config,-c", opt.config, "policy file (YAML)");
  if (config_required) c->required();
  app->add_option("--state-dir", opt.state_dir, "agent state directory")->capture_default_str();
  app->add_option("--log-level", opt.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
}

int Fail(const Status& s) {
  std::fprintf(stderr, "ward-agent: %s\n", s.ToString().c_str());
  return kExitError;
}

Status PrepareStateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), fmt::format("create state dir {}", dir));
  ::chmod(dir.c_str(), 0700);
  return Status::Ok();
}

Result<Policy> LoadPolicy(const std::string& file) {
  if (file.empty()) return InvalidArgument("--config FILE is required");
  return Policy::LoadFile(file, ModuleSchemas());
}

std::string HostName(const Policy& policy) {
  if (!policy.agent().name.empty()) return policy.agent().name;
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace ward::agent

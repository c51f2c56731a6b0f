#include "agent/modules/autoheal/cli.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/modules/autoheal/config.h"
#include "agent/modules/autoheal/git_source.h"
#include "agent/modules/autoheal/healer.h"
#include "common/clock.h"

namespace ward::agent {
namespace {

// `autoheal status`: what the running agent last recorded, and what git and the lock file say now.
int AutohealStatus(const CommonOptions& opt, bool json) {
  auto policy = LoadPolicy(opt.config);
  if (!policy) return Fail(policy.error());
  const ConfigNode* section = policy->Section("autoheal");
  if (section == nullptr)
    return Fail(InvalidArgument(fmt::format("{}: no `autoheal` section", opt.config)));
  auto config = autoheal::ParseAutohealConfig(*section);
  if (!config) return Fail(config.error());
  auto saved = autoheal::LoadStatus(opt.state_dir);
  if (!saved) return Fail(saved.error());
  for (const auto& r : config->roots) {
    autoheal::HealerStatus s;
    for (const auto& x : *saved) {
      if (x.root == r.path) s = x;
    }
    std::string now_commit;
    std::string git_error;
    if (auto git = autoheal::GitSource::Open(r.repository)) {
      if (auto c = (*git)->ResolveCommit(r.ref)) {
        now_commit = autoheal::OidHex(*c);
      } else {
        git_error = c.error().message();
      }
    } else {
      git_error = git.error().message();
    }
    bool locked = !r.lock_file.empty() && ::access(r.lock_file.c_str(), F_OK) == 0;
    std::string last = s.last_restore_ns > 0 ? FormatTimestampNs(s.last_restore_ns) : "never";
    if (json) {
      nlohmann::json j = {{"root", r.path},
                          {"repository", r.repository},
                          {"ref", r.ref},
                          {"ref_commit", now_commit},
                          {"applied_commit", s.commit},
                          {"locked", locked},
                          {"lock_file", r.lock_file},
                          {"restored", s.restored},
                          {"last_restore", s.last_restore_ns > 0 ? last : ""},
                          {"last_restore_path", s.last_restore_path},
                          {"error", git_error.empty() ? s.error : git_error}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf(
          "%s\n  repository  %s (%s)\n  commit      %s%s\n  lock        %s%s\n"
          "  restored    %llu file(s), last %s%s%s\n",
          r.path.c_str(), r.repository.c_str(), r.ref.c_str(),
          now_commit.empty() ? "?" : now_commit.substr(0, 12).c_str(),
          !s.commit.empty() && s.commit != now_commit
              ? fmt::format(" (agent at {})", s.commit.substr(0, 12)).c_str()
              : "",
          locked ? "present (maintenance: nothing is restored)" : "absent",
          r.lock_file.empty() ? " (no lock file configured)" : "",
          static_cast<unsigned long long>(s.restored), last.c_str(),
          s.last_restore_path.empty() ? "" : (" " + s.last_restore_path).c_str(),
          git_error.empty() ? "" : ("\n  error       " + git_error).c_str());
    }
  }
  return kExitOk;
}

}  // namespace

void AddAutohealCommands(CLI::App& app, CommonOptions& opt, int& rc) {
  auto status_json = std::make_shared<bool>(false);
  auto* heal = app.add_subcommand("autoheal", "auto-healing commands");
  heal->require_subcommand(1);
  auto* status =
      heal->add_subcommand("status", "each root: commit, lock state, files restored, last restore");
  AddCommon(status, opt, true);
  status->add_flag("--json", *status_json, "one JSON object per root");
  status->callback([&opt, &rc, status_json] { rc = AutohealStatus(opt, *status_json); });
}

}  // namespace ward::agent

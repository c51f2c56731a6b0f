#include "agent/core/module_host.h"

#include "common/log.h"

namespace ward::agent {

Status ModuleHost::Start(const Policy& policy) {
  std::vector<std::unique_ptr<Module>> created;
  for (const auto& spec : specs_) {
    if (!policy.Enabled(spec)) continue;
    auto m = spec.create(ctx_);
    Status s = m->Configure(*policy.Section(spec.name), policy.root());
    if (!s.ok()) return s.WithContext(std::string(spec.name));
    created.push_back(std::move(m));
  }
  modules_ = std::move(created);
  for (auto& m : modules_) {
    spdlog::info("module {} started", m->Name());
    Module* raw = m.get();
    threads_.emplace_back([raw](std::stop_token st) { raw->Run(st); });
  }
  return Status::Ok();
}

void ModuleHost::Stop() {
  for (auto& t : threads_) t.request_stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  modules_.clear();
}

std::vector<std::string> ModuleHost::Running() const {
  std::vector<std::string> out;
  for (const auto& m : modules_) out.emplace_back(m->Name());
  return out;
}

Module* ModuleHost::Find(std::string_view name) const {
  for (const auto& m : modules_) {
    if (m->Name() == name) return m.get();
  }
  return nullptr;
}

}  // namespace ward::agent

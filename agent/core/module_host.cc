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
  for (auto& m : created) Launch(std::move(m));
  return Status::Ok();
}

void ModuleHost::Launch(std::unique_ptr<Module> m) {
  spdlog::info("module {} started", m->Name());
  Module* raw = m.get();
  modules_.push_back(std::move(m));
  threads_.emplace_back([raw](std::stop_token st) { raw->Run(st); });
}

Status ModuleHost::Apply(const Policy& policy) {
  std::vector<std::string> errors;
  for (const auto& spec : specs_) {
    size_t i = 0;
    while (i < modules_.size() && modules_[i]->Name() != spec.name) ++i;
    bool running = i < modules_.size();
    bool wanted = policy.Enabled(spec);
    if (running && !wanted) {
      threads_[i].request_stop();
      if (threads_[i].joinable()) threads_[i].join();
      threads_.erase(threads_.begin() + static_cast<std::ptrdiff_t>(i));
      modules_.erase(modules_.begin() + static_cast<std::ptrdiff_t>(i));
      spdlog::info("module {} stopped (no longer enabled)", spec.name);
    } else if (running) {
      Status s = modules_[i]->Configure(*policy.Section(spec.name), policy.root());
      if (!s.ok()) errors.push_back(s.WithContext(std::string(spec.name)).ToString());
    } else if (wanted) {
      auto m = spec.create(ctx_);
      Status s = m->Configure(*policy.Section(spec.name), policy.root());
      if (!s.ok()) {
        errors.push_back(s.WithContext(std::string(spec.name)).ToString());
        continue;
      }
      Launch(std::move(m));
    }
  }
  if (errors.empty()) return Status::Ok();
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
  return FailedPrecondition(all);
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

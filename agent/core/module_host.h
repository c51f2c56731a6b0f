// ModuleHost: starts the modules a policy enables, each on its own thread, and stops them.
// Thread-safety: Start/Apply/Stop from one thread (the agent's main thread).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/module.h"
#include "agent/core/policy.h"

namespace ward::agent {

class ModuleHost {
 public:
  ModuleHost(ModuleContext ctx, std::span<const ModuleSpec> specs)
      : ctx_(ctx), specs_(specs.begin(), specs.end()) {}
  ~ModuleHost() { Stop(); }

  // Creates and configures every enabled module, then runs each on its thread. If any module
  // fails to configure, none is started and the error names the module.
  Status Start(const Policy& policy);
  // Applies a new policy while running: modules still enabled are re-configured in place (a module
  // whose Configure() fails keeps its previous settings), modules no longer enabled are stopped,
  // newly enabled ones are created and started. Returns the errors of the modules that could not
  // take the new policy, each named; the others have taken it.
  Status Apply(const Policy& policy);
  // Requests every module to stop and waits for them.
  void Stop();

  std::vector<std::string> Running() const;
  // The running module with this name, or nullptr.
  Module* Find(std::string_view name) const;

 private:
  ModuleContext ctx_;
  std::vector<ModuleSpec> specs_;
  std::vector<std::unique_ptr<Module>> modules_;
  std::vector<std::jthread> threads_;  // threads_[i] runs modules_[i]

  void Launch(std::unique_ptr<Module> m);
};

}  // namespace ward::agent

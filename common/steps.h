// Start-up as an ordered list of small named steps: the first failure stops it and is reported
// with the step's name as context ("load policy: ..."). Used by ward-agent and ward-manager.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward {

struct Step {
  std::string_view name;
  std::function<Status()> run;
};

inline Status RunSteps(const std::vector<Step>& steps) {
  for (const auto& s : steps) {
    Status st = s.run();
    if (!st.ok()) return st.WithContext(s.name);
  }
  return Status::Ok();
}

}  // namespace ward

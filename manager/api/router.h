// Router: matches a method and a path against route patterns such as
// "/api/v1/policies/{id}" and returns the route's id with the captured segments. Unknown paths
// answer 404, known paths with another method 405 (with Allow). Paths are matched segment by
// segment on the raw path: no normalisation, no "..", segments limited to 128 bytes of
// [A-Za-z0-9._~-]. Thread-safety: Add() before serving; Route() is const and safe from many
// threads.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "manager/api/http_types.h"

namespace ward::manager {

using PathParams = std::map<std::string, std::string, std::less<>>;

class Router {
 public:
  // REQUIRES: pattern starts with '/'.
  void Add(std::string method, std::string pattern, int id);

  struct Match {
    int id = -1;  // -1: `error` answers
    PathParams params;
    ApiError error;
    std::string allow;  // for 405
  };
  Match Route(std::string_view method, std::string_view path) const;

  // Every (method, pattern) added, in order (for tests that walk the API).
  std::vector<std::pair<std::string, std::string>> Routes() const;

 private:
  struct Entry {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    int id;
  };
  std::vector<Entry> entries_;
};

// Splits "/a/b/c" into {"a","b","c"}; false when the path is not a clean absolute path.
bool SplitPath(std::string_view path, std::vector<std::string_view>& out);

}  // namespace ward::manager

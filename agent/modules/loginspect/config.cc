#include "agent/modules/loginspect/config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

namespace ward::agent::loginspect {
namespace {

struct FormatName {
  LogFormat format;
  std::string_view name;
};
constexpr FormatName kFormats[] = {
    {LogFormat::kSyslog, "syslog"},       {LogFormat::kJson, "json"},
    {LogFormat::kMultiline, "multiline"}, {LogFormat::kApache, "apache"},
    {LogFormat::kNginx, "nginx"},         {LogFormat::kFullLine, "full_line"},
};

Status CheckAbsolute(const ConfigNode& node, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return node.Error(fmt::format("\"{}\" is not an absolute path", path));
  }
  return Status::Ok();
}

Status CheckPcre2(const ConfigNode& node, const std::string& pattern) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0,
                                   &err, &offset, nullptr);
  if (code != nullptr) {
    pcre2_code_free(code);
    return Status::Ok();
  }
  PCRE2_UCHAR msg[256];
  pcre2_get_error_message(err, msg, sizeof msg);
  return node.Error(fmt::format("not a PCRE2 pattern at offset {}: {}", offset,
                                reinterpret_cast<const char*>(msg)));
}

Result<FileSpec> ParseFile(const ConfigNode& node) {
  FileSpec f;
  const ConfigNode* path_node = &node;
  if (node.IsScalar()) {
    f.path = node.scalar();
  } else {
    WARD_RETURN_IF_ERROR(CheckKeys(node, {"path", "format", "multiline_start", "max_line"}));
    path_node = node.Find("path");
    if (path_node == nullptr) return node.Error("missing required key \"path\"");
    WARD_ASSIGN_OR_RETURN(f.path, ReadString(*path_node));
    if (const ConfigNode* n = node.Find("format")) {
      WARD_ASSIGN_OR_RETURN(auto name, ReadString(*n));
      bool found = false;
      for (const auto& fn : kFormats) {
        if (fn.name == name) {
          f.format = fn.format;
          found = true;
        }
      }
      if (!found) {
        return n->Error(fmt::format(
            "\"{}\" is not one of syslog, json, multiline, apache, nginx, full_line", name));
      }
    }
    if (const ConfigNode* n = node.Find("multiline_start")) {
      WARD_ASSIGN_OR_RETURN(f.multiline_start, ReadString(*n));
      if (f.format != LogFormat::kMultiline) {
        return n->Error("multiline_start is only meaningful with format: multiline");
      }
      if (f.multiline_start.empty()) return n->Error("the start pattern must not be empty");
      WARD_RETURN_IF_ERROR(CheckPcre2(*n, f.multiline_start));
    } else if (f.format == LogFormat::kMultiline) {
      return node.Error("format multiline needs multiline_start (a PCRE2 pattern)");
    }
    if (const ConfigNode* n = node.Find("max_line")) {
      WARD_ASSIGN_OR_RETURN(f.max_line, ReadSize(*n));
      if (f.max_line < 256 || f.max_line > 16 * 1024 * 1024) {
        return n->Error("max_line must be between 256 bytes and 16M");
      }
    }
  }
  WARD_RETURN_IF_ERROR(CheckAbsolute(*path_node, f.path));
  size_t slash = f.path.rfind('/');
  if (f.path.find_first_of("*?[") < slash) {
    return path_node->Error(
        "glob characters are allowed in the file name only, not in directories");
  }
  if (slash + 1 == f.path.size()) return path_node->Error("names a directory, not a file");
  return f;
}

Result<JournaldSpec> ParseJournald(const ConfigNode& node) {
  JournaldSpec j;
  j.enabled = true;
  if (node.IsNull()) return j;
  WARD_RETURN_IF_ERROR(CheckKeys(node, {"enabled", "units", "identifiers", "directory"}));
  if (const ConfigNode* n = node.Find("enabled")) {
    WARD_ASSIGN_OR_RETURN(j.enabled, ReadBool(*n));
  }
  if (const ConfigNode* n = node.Find("units")) {
    WARD_ASSIGN_OR_RETURN(j.units, ReadStringList(*n));
  }
  if (const ConfigNode* n = node.Find("identifiers")) {
    WARD_ASSIGN_OR_RETURN(j.identifiers, ReadStringList(*n));
  }
  if (const ConfigNode* n = node.Find("directory")) {
    WARD_ASSIGN_OR_RETURN(j.directory, ReadString(*n));
    if (!j.directory.empty()) WARD_RETURN_IF_ERROR(CheckAbsolute(*n, j.directory));
  }
  return j;
}

Result<std::vector<std::string>> ReadDirs(const ConfigNode& node) {
  WARD_ASSIGN_OR_RETURN(auto dirs, ReadStringList(node));
  for (size_t i = 0; i < dirs.size(); ++i) {
    WARD_RETURN_IF_ERROR(CheckAbsolute(node.IsSequence() ? node.items()[i] : node, dirs[i]));
  }
  return dirs;
}

}  // namespace

std::string_view LogFormatName(LogFormat f) {
  for (const auto& fn : kFormats) {
    if (fn.format == f) return fn.name;
  }
  return "syslog";
}

Result<LoginspectConfig> ParseLoginspectConfig(const ConfigNode& section) {
  LoginspectConfig c;
  if (section.IsNull()) return c;
  WARD_RETURN_IF_ERROR(
      CheckKeys(section, {"enabled", "default_ruleset", "rules", "decoders", "lists", "geoip_db",
                          "compat", "rule_exclude", "decoder_exclude", "files", "journald",
                          "poll_interval", "max_backlog", "on_backlog"}));
  if (const ConfigNode* n = section.Find("enabled")) {
    WARD_ASSIGN_OR_RETURN(c.enabled, ReadBool(*n));
  }
  if (const ConfigNode* n = section.Find("default_ruleset")) {
    WARD_ASSIGN_OR_RETURN(c.default_ruleset, ReadBool(*n));
  }
  if (const ConfigNode* n = section.Find("rules")) {
    WARD_ASSIGN_OR_RETURN(c.rule_dirs, ReadDirs(*n));
  }
  if (const ConfigNode* n = section.Find("decoders")) {
    WARD_ASSIGN_OR_RETURN(c.decoder_dirs, ReadDirs(*n));
  }
  if (const ConfigNode* n = section.Find("lists")) {
    WARD_ASSIGN_OR_RETURN(c.lists_dir, ReadString(*n));
    WARD_RETURN_IF_ERROR(CheckAbsolute(*n, c.lists_dir));
  }
  if (const ConfigNode* n = section.Find("geoip_db")) {
    WARD_ASSIGN_OR_RETURN(c.geoip_db, ReadString(*n));
    WARD_RETURN_IF_ERROR(CheckAbsolute(*n, c.geoip_db));
  }
  if (const ConfigNode* n = section.Find("compat")) {
    WARD_ASSIGN_OR_RETURN(c.compat, ReadString(*n));
    if (c.compat != "wazuh" && c.compat != "ossec")
      return n->Error(fmt::format("compat must be \"wazuh\" or \"ossec\", not \"{}\"", c.compat));
  }
  if (const ConfigNode* n = section.Find("rule_exclude")) {
    WARD_ASSIGN_OR_RETURN(c.rule_excludes, ReadStringList(*n));
  }
  if (const ConfigNode* n = section.Find("decoder_exclude")) {
    WARD_ASSIGN_OR_RETURN(c.decoder_excludes, ReadStringList(*n));
  }
  if (const ConfigNode* n = section.Find("files")) {
    if (!n->IsSequence()) return n->Error("expected a list of files");
    for (const auto& item : n->items()) {
      WARD_ASSIGN_OR_RETURN(auto f, ParseFile(item));
      for (const auto& prev : c.files) {
        if (prev.path == f.path) return item.Error(fmt::format("{} is listed twice", f.path));
      }
      c.files.push_back(std::move(f));
    }
  }
  if (const ConfigNode* n = section.Find("journald")) {
    WARD_ASSIGN_OR_RETURN(c.journald, ParseJournald(*n));
  }
  if (const ConfigNode* n = section.Find("poll_interval")) {
    WARD_ASSIGN_OR_RETURN(c.poll_interval, ReadDuration(*n));
    if (c.poll_interval < std::chrono::milliseconds(10) ||
        c.poll_interval > std::chrono::minutes(10)) {
      return n->Error("poll_interval must be between 10ms and 10m");
    }
  }
  if (const ConfigNode* n = section.Find("max_backlog")) {
    WARD_ASSIGN_OR_RETURN(c.max_backlog, ReadSize(*n));
    if (c.max_backlog != 0 && c.max_backlog < 1024 * 1024) {
      return n->Error("max_backlog must be 0 (unbounded) or at least 1M");
    }
  }
  if (const ConfigNode* n = section.Find("on_backlog")) {
    WARD_ASSIGN_OR_RETURN(auto p, ReadString(*n));
    if (p != "drop_oldest") return n->Error(fmt::format("\"{}\" is not drop_oldest", p));
  }
  return c;
}

}  // namespace ward::agent::loginspect

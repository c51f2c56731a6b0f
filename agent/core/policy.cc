#include "agent/core/policy.h"

#include <fmt/format.h>

#include <vector>

namespace ward::agent {
namespace {

Result<AgentSettings> ParseAgent(const ConfigNode& n) {
  AgentSettings a;
  if (n.IsNull()) return a;
  WARD_RETURN_IF_ERROR(
      CheckKeys(n, {"name", "outputs", "queue_capacity", "spool_max_size", "manager"}));
  if (const ConfigNode* v = n.Find("spool_max_size")) {
    WARD_ASSIGN_OR_RETURN(a.spool_max_size, ReadSize(*v));
    if (a.spool_max_size < (1 << 20)) return v->Error("must be at least 1M");
  }
  if (const ConfigNode* m = n.Find("manager")) {
    WARD_RETURN_IF_ERROR(RequireMap(*m));
    WARD_RETURN_IF_ERROR(CheckKeys(*m, {"url", "token", "proxy", "fingerprint"}));
    a.manager.present = true;
    const ConfigNode* url = m->Find("url");
    if (url == nullptr) return m->Error("url: missing (https://HOST:4119)");
    WARD_ASSIGN_OR_RETURN(a.manager.url, ReadString(*url));
    if (!a.manager.url.starts_with("https://")) return url->Error("must start with https://");
    if (const ConfigNode* v = m->Find("token")) {
      WARD_ASSIGN_OR_RETURN(a.manager.token, ReadString(*v));
    }
    if (const ConfigNode* v = m->Find("proxy")) {
      WARD_ASSIGN_OR_RETURN(a.manager.proxy, ReadString(*v));
    }
    if (const ConfigNode* v = m->Find("fingerprint")) {
      WARD_ASSIGN_OR_RETURN(a.manager.fingerprint, ReadString(*v));
    }
  }
  if (const ConfigNode* v = n.Find("name")) {
    WARD_ASSIGN_OR_RETURN(a.name, ReadString(*v));
  }
  if (const ConfigNode* v = n.Find("queue_capacity")) {
    WARD_ASSIGN_OR_RETURN(int64_t c, ReadInt(*v, 16, 16 << 20));
    a.queue_capacity = static_cast<size_t>(c);
  }
  if (const ConfigNode* o = n.Find("outputs")) {
    WARD_RETURN_IF_ERROR(CheckKeys(*o, {"stdout", "file", "file_max_size", "file_keep"}));
    if (const ConfigNode* v = o->Find("stdout")) {
      WARD_ASSIGN_OR_RETURN(a.stdout_output, ReadBool(*v));
    }
    if (const ConfigNode* v = o->Find("file")) {
      WARD_ASSIGN_OR_RETURN(a.file_output, ReadBool(*v));
    }
    if (const ConfigNode* v = o->Find("file_max_size")) {
      WARD_ASSIGN_OR_RETURN(a.file_max_size, ReadSize(*v));
      if (a.file_max_size < 4096) return v->Error("must be at least 4k");
    }
    if (const ConfigNode* v = o->Find("file_keep")) {
      WARD_ASSIGN_OR_RETURN(int64_t k, ReadInt(*v, 1, 1000));
      a.file_keep = static_cast<int>(k);
    }
  }
  return a;
}

}  // namespace

Result<Policy> Policy::FromNode(ConfigNode root, std::span<const ModuleSchema> modules) {
  Policy p;
  if (root.IsNull()) {
    p.root_ = std::move(root);
    return p;
  }
  WARD_RETURN_IF_ERROR(RequireMap(root));
  for (const auto& [key, value] : root.entries()) {
    if (key == "agent") {
      WARD_ASSIGN_OR_RETURN(p.agent_, ParseAgent(value));
      continue;
    }
    const ModuleSchema* spec = nullptr;
    for (const auto& m : modules) {
      if (m.name == key) spec = &m;
    }
    if (spec == nullptr) {
      std::string names = "agent";
      for (const auto& m : modules) names += fmt::format(", {}", m.name);
      return value.KeyError(fmt::format("unknown section (expected one of: {})", names));
    }
    WARD_RETURN_IF_ERROR(spec->validate(value, root));
  }
  p.root_ = std::move(root);
  return p;
}

Result<Policy> Policy::FromNode(ConfigNode root, std::span<const ModuleSpec> modules) {
  std::vector<ModuleSchema> schemas(modules.begin(), modules.end());
  return FromNode(std::move(root), std::span<const ModuleSchema>(schemas));
}

Result<Policy> Policy::LoadFile(const std::filesystem::path& file,
                                std::span<const ModuleSchema> modules) {
  WARD_ASSIGN_OR_RETURN(auto root, ConfigNode::FromYamlFile(file));
  return FromNode(std::move(root), modules);
}

bool Policy::Enabled(const ModuleSchema& spec) const {
  const ConfigNode* s = Section(spec.name);
  return s != nullptr && spec.enabled(*s);
}

}  // namespace ward::agent

#include "agent/modules/loginspect/ruleset.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/modules/loginspect/xml.h"

namespace ward::agent::loginspect {

constexpr int kAfterParent = 1;
constexpr int kAfterPrematch = 2;
constexpr int kAfterRegex = 4;

const std::string* Event::Field(std::string_view name) const {
  for (const auto& f : fields) {
    if (!f.is_static && f.name.size() == name.size() &&
        strncasecmp(f.name.c_str(), name.data(), name.size()) == 0)
      return &f.value;
  }
  return nullptr;
}

const std::string* Event::Static(std::string_view name) const {
  int id = StaticId(name);
  return id < 0 ? nullptr : StaticById(id);
}

int Event::StaticId(std::string_view n) {
  static constexpr std::string_view kNames[kStaticCount] = {
      "srcip", "dstip",  "srcport", "dstport", "protocol",   "action",      "srcuser",  "dstuser",
      "id",    "status", "url",     "data",    "extra_data", "system_name", "srcgeoip", "dstgeoip"};
  for (int i = 0; i < kStaticCount; ++i) {
    if (kNames[i] == n) return i;
  }
  return -1;
}

void Event::Decoded(std::string_view name, std::string value) {
  int id = StaticId(name);
  if (id >= 0) {
    int8_t slot = static_slot[id];
    if (slot >= 0) {
      fields[static_cast<size_t>(slot)].value = std::move(value);
      return;
    }
    static_slot[id] = static_cast<int8_t>(fields.size());
    fields.push_back(DecodedField{std::string(name), std::move(value), true});
    return;
  }
  AddDynamic(std::string(name), std::move(value));
}

void Event::AddDynamic(std::string name, std::string value) {
  fields.push_back(DecodedField{std::move(name), std::move(value), false});
  ++dynamic_count;
}

FieldRef FieldRef::Resolve(std::string_view name) {
  FieldRef f;
  f.name = std::string(name);
  if (name == "hostname") {
    f.kind = kHostname;
  } else if (name == "program_name") {
    f.kind = kProgramName;
  } else if (name == "location") {
    f.kind = kLocation;
  } else if (int id = Event::StaticId(name); id >= 0) {
    f.kind = kStatic;
    f.id = id;
  }
  return f;
}

const Rule* Ruleset::FindRule(int id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

namespace {

std::string Trim(std::string_view s) {
  size_t a = 0;
  size_t b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\n' || s[b - 1] == '\r'))
    --b;
  return std::string(s.substr(a, b - a));
}

std::vector<std::string> Split(std::string_view s, std::string_view seps) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (seps.find(c) != std::string_view::npos) {
      if (auto t = Trim(cur); !t.empty()) out.push_back(t);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (auto t = Trim(cur); !t.empty()) out.push_back(t);
  return out;
}

bool ParseInt(std::string_view s, int* out) {
  std::string t = Trim(s);
  if (t.empty()) return false;
  char* end = nullptr;
  long v = std::strtol(t.c_str(), &end, 10);
  if (*end != '\0') return false;
  *out = static_cast<int>(v);
  return true;
}

Result<std::string> ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return NotFound(fmt::format("{}: cannot open", p.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Files of a directory in name order, minus excluded names.
std::vector<std::filesystem::path> ListXml(const std::filesystem::path& dir,
                                           const std::vector<std::string>& excludes) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    auto name = e.path().filename().string();
    if (name.size() < 4 || name.substr(name.size() - 4) != ".xml") continue;
    if (std::find(excludes.begin(), excludes.end(), name) != excludes.end()) continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// OSSEC 3.x's "<pcre2>", "<prematch_pcre2>", "<match_pcre2>", ...: the plain element with
// type="pcre2", case-insensitive as OSSEC compiles them (OSPcre2_Compile(..., PCRE2_CASELESS)
// in rules.c and decode-xml.c) — Wazuh's type="pcre2" is case-sensitive — and, as OSSEC's
// OSPcre2_Execute, captures only the groups that took part in the match.
XmlNode WithPcre2Suffix(const XmlNode& n) {
  constexpr std::string_view kSuffix = "_pcre2";
  if (n.name == "pcre2") {  // OSSEC's <pcre2>: a PCRE2 <regex>
    XmlNode out = n;
    out.name = "regex";
    out.attributes.emplace_back("type", "pcre2");
    out.attributes.emplace_back("ossec", "yes");
    out.content = "(?i)" + out.content;
    return out;
  }
  if (n.name.size() <= kSuffix.size() ||
      n.name.compare(n.name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
    return n;
  XmlNode out = n;
  out.name.resize(n.name.size() - kSuffix.size());
  out.attributes.emplace_back("type", "pcre2");
  out.attributes.emplace_back("ossec", "yes");
  out.content = "(?i)" + out.content;
  return out;
}

}  // namespace

class RulesetLoader {
 public:
  explicit RulesetLoader(const RulesetConfig& config) : config_(config) {
    set_ = std::make_shared<Ruleset>();
  }

  Result<std::shared_ptr<const Ruleset>> Run() {
    for (const auto& dir : config_.decoder_dirs) {
      for (const auto& f : ListXml(dir, config_.decoder_excludes)) {
        if (auto st = LoadDecoderFile(f); !st.ok()) return st;
      }
    }
    for (const auto& f : config_.decoder_files) {
      if (auto st = LoadDecoderFile(f); !st.ok()) return st;
    }
    for (const auto& dir : config_.rule_dirs) {
      for (const auto& f : ListXml(dir, config_.rule_excludes)) {
        if (auto st = LoadRuleFile(f); !st.ok()) return st;
      }
    }
    for (const auto& f : config_.rule_files) {
      if (auto st = LoadRuleFile(f); !st.ok()) return st;
    }
    if (!config_.rewrite_60000_decoded_as.empty()) {
      if (Rule* r = Find(60000)) {
        r->decoded_as = config_.rewrite_60000_decoded_as;
        r->category.clear();
      }
    }
    if (!config_.geoip_db.empty()) {
      auto db = GeoIpDatabase::Open(config_.geoip_db);
      if (!db) return db.error();
      set_->geoip_ = std::move(*db);
    }
    BuildTree();
    for (Rule* r : order_) {
      for (FieldCheck& c : r->static_checks) {
        if (c.name == "user") continue;
        c.ref = FieldRef::Resolve(c.name);
        c.resolved = true;
      }
      IndexChildren(*r);
    }
    return std::shared_ptr<const Ruleset>(set_);
  }

 private:
  Status Bad(const std::filesystem::path& f, const XmlNode& n, std::string_view what) {
    return InvalidArgument(fmt::format("{}:{}:{}: {}", f.string(), n.line, n.column, what));
  }

  Result<Expression> Expr(const std::filesystem::path& f, const XmlNode& n, ExpressionType dflt,
                          bool captures, std::string_view owner) {
    ExpressionType type = dflt;
    if (const std::string* t = n.Attribute("type")) {
      auto parsed = ParseExpressionType(*t);
      if (!parsed)
        return Bad(f, n, fmt::format("{}: <{}>: {}", owner, n.name, parsed.error().message()));
      type = *parsed;
    }
    bool negate = false;
    if (const std::string* neg = n.Attribute("negate")) negate = *neg == "yes";
    auto e = Expression::Compile(type, n.content, negate, captures);
    if (e && n.Attribute("ossec") != nullptr) e->SkipUnsetGroups();
    if (!e)
      return Bad(f, n,
                 fmt::format("{}: <{}>{}</{}>: {}", owner, n.name, n.content, n.name,
                             e.error().message()));
    return e;
  }

  // ----- decoders -----
  Status LoadDecoderFile(const std::filesystem::path& f) {
    auto text = ReadFile(f);
    if (!text) return text.error();
    auto nodes = ParseXml(*text);
    if (!nodes) return InvalidArgument(fmt::format("{}:{}", f.string(), nodes.error().message()));
    for (const XmlNode& n : *nodes) {
      if (n.name != "decoder") return Bad(f, n, fmt::format("unexpected <{}>", n.name));
      if (auto st = LoadDecoder(f, n); !st.ok()) return st;
    }
    return Status::Ok();
  }

  Status LoadDecoder(const std::filesystem::path& f, const XmlNode& n) {
    auto d = std::make_unique<Decoder>();
    const std::string* name = n.Attribute("name");
    if (name == nullptr || name->empty()) return Bad(f, n, "decoder without a name");
    d->name = *name;
    d->file = f.filename().string();
    d->line = n.line;
    bool use_own_name = false;
    std::string owner = fmt::format("decoder '{}'", d->name);
    // A repeated element adds its text to the previous one's (OSSEC's loadmemory).
    std::vector<XmlNode> merged;
    for (const XmlNode& original : n.children) {
      XmlNode c = WithPcre2Suffix(original);
      auto it = std::find_if(merged.begin(), merged.end(),
                             [&](const XmlNode& m) { return m.name == c.name; });
      if (it == merged.end() || c.name == "order") {
        merged.push_back(c);
      } else {
        // Text appends; an attribute given again replaces the earlier one.
        it->content += c.content;
        for (const auto& attr : c.attributes) {
          auto a = std::find_if(it->attributes.begin(), it->attributes.end(),
                                [&](const auto& kv) { return kv.first == attr.first; });
          if (a != it->attributes.end())
            a->second = attr.second;
          else
            it->attributes.push_back(attr);
        }
      }
    }
    for (const XmlNode& c : merged) {
      if (c.name == "parent") {
        d->parent = Trim(c.content);
      } else if (c.name == "program_name") {
        auto e = Expr(f, c, ExpressionType::kOsMatch, false, owner);
        if (!e) return e.error();
        d->program_name = std::move(*e);
      } else if (c.name == "prematch") {
        auto e = Expr(f, c, ExpressionType::kOsRegex, false, owner);
        if (!e) return e.error();
        d->prematch = std::move(*e);
        if (const std::string* o = c.Attribute("offset"); o && *o == "after_parent")
          d->prematch_offset = kAfterParent;
      } else if (c.name == "regex") {
        auto e = Expr(f, c, ExpressionType::kOsRegex, true, owner);
        if (!e) return e.error();
        d->regex = std::move(*e);
        if (const std::string* o = c.Attribute("offset")) {
          if (*o == "after_parent")
            d->regex_offset = kAfterParent;
          else if (*o == "after_prematch")
            d->regex_offset = kAfterPrematch;
          else if (*o == "after_regex")
            d->regex_offset = kAfterRegex;
          else
            return Bad(f, c, fmt::format("{}: bad regex offset '{}'", owner, *o));
        }
      } else if (c.name == "order") {
        for (auto& o : Split(c.content, ",")) {
          std::string word = o.substr(0, o.find(' '));
          d->order.push_back(word == "user" ? "dstuser" : word);
        }
      } else if (c.name == "type") {
        d->type = Trim(c.content);
      } else if (c.name == "fts") {
        d->fts = Split(c.content, ",");
      } else if (c.name == "use_own_name") {
        use_own_name = c.content == "true";
      } else if (c.name == "plugin_decoder") {
        std::string plugin = Trim(c.content);
        if (plugin != "JSON_Decoder") {
          set_->warnings_.push_back(
              fmt::format("{}:{}: {}: plugin {} not supported", f.string(), c.line, owner, plugin));
          continue;
        }
        d->json = true;
        if (const std::string* o = c.Attribute("offset")) {
          if (*o == "after_parent")
            d->json_offset = kAfterParent;
          else if (*o == "after_prematch")
            d->json_offset = kAfterPrematch;
        }
      } else if (c.name == "json_null_field") {
        d->json_null = Trim(c.content);
      } else if (c.name == "json_array_structure") {
        d->json_array = Trim(c.content);
      } else if (c.name == "ftscomment" || c.name == "accumulate" || c.name == "var") {
        // Accepted, no effect on decoding.
      } else {
        return Bad(f, c, fmt::format("{}: unknown element <{}>", owner, c.name));
      }
    }
    if (!d->prematch && !d->program_name && d->parent.empty())
      return Bad(f, n, fmt::format("{}: needs a prematch, a program_name or a parent", owner));
    d->display_name = d->name;
    if (!d->parent.empty() && !use_own_name) d->display_name = d->parent;
    const Decoder* raw = d.get();
    set_->decoders_.push_back(std::move(d));
    if (raw->parent.empty()) {
      if (raw->regex_offset & kAfterRegex)
        return Bad(f, n, fmt::format("{}: after_regex needs a previous regex", owner));
      auto& list = raw->program_name ? set_->pname_roots_ : set_->nopname_roots_;
      list.push_back(DecoderNode{raw, {}});
      return Status::Ok();
    }
    bool added = false;
    for (auto* list : {&set_->pname_roots_, &set_->nopname_roots_}) {
      for (DecoderNode& node : *list) {
        if (node.decoder->name != raw->parent) continue;
        for (const Decoder* sib : node.children) {
          if (sib->name == raw->name && (sib->regex || sib->json) && (raw->regex || raw->json))
            const_cast<Decoder*>(sib)->get_next = true;
        }
        node.children.push_back(raw);
        added = true;
      }
    }
    if (!added)
      return Bad(f, n, fmt::format("{}: parent decoder '{}' not found", owner, raw->parent));
    return Status::Ok();
  }

  // ----- rules -----
  Status LoadRuleFile(const std::filesystem::path& f) {
    auto text = ReadFile(f);
    if (!text) return text.error();
    auto nodes = ParseXml(*text);
    if (!nodes) return InvalidArgument(fmt::format("{}:{}", f.string(), nodes.error().message()));
    for (const XmlNode& g : *nodes) {
      if (g.name == "rule") {
        if (auto st = LoadRule(f, g, {}); !st.ok()) return st;
        continue;
      }
      if (g.name != "group") return Bad(f, g, fmt::format("unexpected <{}>", g.name));
      std::vector<std::string> groups;
      if (const std::string* gn = g.Attribute("name")) groups = Split(*gn, ",");
      for (const XmlNode& r : g.children) {
        if (r.name != "rule") return Bad(f, r, fmt::format("unexpected <{}> in <group>", r.name));
        if (auto st = LoadRule(f, r, groups); !st.ok()) return st;
      }
    }
    return Status::Ok();
  }

  Rule* Find(int id) {
    auto it = set_->by_id_.find(id);
    return it == set_->by_id_.end() ? nullptr : it->second;
  }

  Status LoadRule(const std::filesystem::path& f, const XmlNode& n,
                  const std::vector<std::string>& groups) {
    auto r = std::make_unique<Rule>();
    r->file = f.filename().string();
    r->line = n.line;
    const std::string* id = n.Attribute("id");
    if (id == nullptr || !ParseInt(*id, &r->id) || r->id < 0 || r->id > 999999)
      return Bad(f, n, "rule without a valid id");
    std::string owner = fmt::format("rule {}", r->id);
    const std::string* level = n.Attribute("level");
    if (level == nullptr || !ParseInt(*level, &r->level) || r->level < 0 || r->level > 16)
      return Bad(f, n, fmt::format("{}: invalid level", owner));
    if (const std::string* v = n.Attribute("frequency"); v && !ParseInt(*v, &r->frequency))
      return Bad(f, n, fmt::format("{}: invalid frequency", owner));
    if (const std::string* v = n.Attribute("timeframe"); v && !ParseInt(*v, &r->timeframe))
      return Bad(f, n, fmt::format("{}: invalid timeframe", owner));
    if (const std::string* v = n.Attribute("ignore"); v && !ParseInt(*v, &r->ignore))
      return Bad(f, n, fmt::format("{}: invalid ignore", owner));
    if (const std::string* v = n.Attribute("maxsize"); v && !ParseInt(*v, &r->maxsize))
      return Bad(f, n, fmt::format("{}: invalid maxsize", owner));
    if (const std::string* v = n.Attribute("noalert")) r->noalert = *v != "0" && *v != "no";
    bool overwrite = false;
    if (const std::string* v = n.Attribute("overwrite")) overwrite = *v == "yes";
    r->groups = groups;
    std::string match_text;
    const XmlNode* match_node = nullptr;
    std::string regex_text;
    const XmlNode* regex_node = nullptr;
    // Repeated single-value conditions concatenate (rules.c's loadmemory); the last element's
    // attributes win.
    std::vector<XmlNode> merged;
    for (const XmlNode& original : n.children) {
      XmlNode c = WithPcre2Suffix(original);
      static const std::set<std::string> kConcat = {
          "srcport",     "dstport",      "user",       "url",     "id",     "status",
          "hostname",    "program_name", "extra_data", "data",    "action", "protocol",
          "system_name", "location",     "srcgeoip",   "dstgeoip"};
      auto it = std::find_if(merged.begin(), merged.end(),
                             [&](const XmlNode& m) { return m.name == c.name; });
      if (kConcat.count(c.name) != 0 && it != merged.end()) {
        std::string text = it->content + c.content;
        *it = c;
        it->content = std::move(text);
      } else {
        merged.push_back(c);
      }
    }
    for (const XmlNode& c : merged) {
      const std::string& e = c.name;
      if (e == "match") {
        match_text += c.content;
        match_node = &c;
      } else if (e == "regex") {
        regex_text += c.content;
        regex_node = &c;
      } else if (e == "decoded_as") {
        r->decoded_as = Trim(c.content);
      } else if (e == "category") {
        r->category = Trim(c.content);
      } else if (e == "field") {
        const std::string* fname = c.Attribute("name");
        if (fname == nullptr) return Bad(f, c, fmt::format("{}: <field> without a name", owner));
        auto ex = Expr(f, c, ExpressionType::kOsRegex, false, owner);
        if (!ex) return ex.error();
        r->fields.push_back(FieldCheck{*fname, std::move(*ex), false, {}});
      } else if (e == "srcip" || e == "dstip") {
        bool appended = false;
        for (auto& sc : r->static_checks) {
          if (sc.name == e && sc.expression.type() == ExpressionType::kIpList) {
            if (auto st = sc.expression.Append(c.content); !st.ok())
              return Bad(f, c, fmt::format("{}: {}", owner, st.message()));
            appended = true;
          }
        }
        if (!appended) {
          auto ex = Expr(f, c, ExpressionType::kIpList, false, owner);
          if (!ex) return ex.error();
          r->static_checks.push_back(FieldCheck{e, std::move(*ex), false, {}});
        }
      } else if (e == "srcport" || e == "dstport" || e == "user" || e == "url" || e == "id" ||
                 e == "status" || e == "hostname" || e == "program_name" || e == "extra_data" ||
                 e == "data" || e == "action" || e == "protocol" || e == "system_name" ||
                 e == "location" || e == "srcgeoip" || e == "dstgeoip") {
        // rules.c: every one of these is osmatch by default except action (plain string).
        auto ex = Expr(f, c, e == "action" ? ExpressionType::kString : ExpressionType::kOsMatch,
                       false, owner);
        if (!ex) return ex.error();
        r->static_checks.push_back(FieldCheck{e, std::move(*ex), false, {}});
      } else if (e == "if_sid") {
        for (auto& s : Split(c.content, ", ")) {
          int v = 0;
          if (!ParseInt(s, &v)) {
            // Wazuh drops such a rule and keeps loading.
            set_->warnings_.push_back(fmt::format("{}:{}: {}: bad if_sid '{}', rule ignored",
                                                  f.string(), c.line, owner, s));
            return Status::Ok();
          }
          r->if_sid.push_back(v);
        }
      } else if (e == "if_group") {
        r->if_group = Split(c.content, ", ");
      } else if (e == "if_level") {
        if (!ParseInt(c.content, &r->if_level))
          return Bad(f, c, fmt::format("{}: bad if_level", owner));
      } else if (e == "if_matched_sid") {
        for (auto& s : Split(c.content, ", ")) {
          int v = 0;
          if (!ParseInt(s, &v))
            return Bad(f, c, fmt::format("{}: bad if_matched_sid '{}'", owner, s));
          r->if_matched_sid.push_back(v);
        }
      } else if (e == "if_matched_group") {
        r->if_matched_group = Trim(c.content);
      } else if (e == "description") {
        r->description += c.content;
      } else if (e == "info") {
        r->info = Trim(c.content);
      } else if (e == "group") {
        for (auto& g : Split(c.content, ",")) r->groups.push_back(g);
      } else if (e == "options") {
        for (auto& o : Split(c.content, ",")) {
          if (Trim(o) == "no_log") r->no_log = true;
          r->options.push_back(o);
        }
      } else if (e == "mitre") {
        for (const XmlNode& m : c.children) {
          if (m.name == "id") r->mitre.push_back(Trim(m.content));
        }
      } else if (e == "list") {
        ListLookup l;
        if (const std::string* v = c.Attribute("field")) l.field = *v;
        if (const std::string* v = c.Attribute("lookup")) l.lookup = *v;
        if (const std::string* v = c.Attribute("check_value")) {
          auto ex = Expression::Compile(ExpressionType::kOsRegex, *v, false, false);
          if (!ex)
            return Bad(f, c, fmt::format("{}: check_value: {}", owner, ex.error().message()));
          l.check_value = std::move(*ex);
        }
        auto list = LoadList(Trim(c.content));
        if (!list) {
          // Wazuh does not load a rule whose list it does not have, and keeps loading.
          set_->warnings_.push_back(fmt::format("{}:{}: {}: {}, rule ignored", f.string(), c.line,
                                                owner, list.error().message()));
          return Status::Ok();
        }
        l.list = *list;
        r->lists.push_back(std::move(l));
      } else if (e.rfind("same_", 0) == 0 || e.rfind("different_", 0) == 0 ||
                 e.rfind("not_same_", 0) == 0) {
        bool same = e[0] == 's';
        std::string what = e.substr(same ? 5 : (e[0] == 'n' ? 9 : 10));
        std::string field;
        if (what == "field")
          field = Trim(c.content);
        else if (what == "source_ip" || what == "srcip")
          field = "srcip";
        else if (what == "dstip")
          field = "dstip";
        else if (what == "src_port" || what == "srcport")
          field = "srcport";
        else if (what == "dst_port" || what == "dstport")
          field = "dstport";
        else if (what == "user")
          field = "dstuser";
        else if (what == "location" || what == "srcuser" || what == "id" || what == "protocol" ||
                 what == "action" || what == "data" || what == "extra_data" || what == "status" ||
                 what == "system_name" || what == "url" || what == "srcgeoip" || what == "dstgeoip")
          field = what;
        else
          return Bad(f, c, fmt::format("{}: unknown <{}>", owner, e));
        (same ? r->same : r->different).push_back(field);
        (same ? r->same_refs : r->different_refs).push_back(FieldRef::Resolve(field));
        if (field != "location" && !Event::IsStaticName(field))
          (same ? r->same_needs_dynamic : r->different_needs_dynamic) = true;
      } else if (e == "if_fts") {
        r->if_fts = true;
      } else if (e == "time") {
        auto t = ParseTime(c.content);
        if (!t) return Bad(f, c, fmt::format("{}: bad <time> '{}'", owner, c.content));
        r->time = *t;
      } else if (e == "weekday") {
        r->weekdays = ParseWeekdays(c.content);
        if (r->weekdays == 0) return Bad(f, c, fmt::format("{}: bad <weekday>", owner));
      } else if (e == "compiled_rule") {
        std::string name = Trim(c.content);
        if (name != "check_id_size" && name != "comp_srcuser_dstuser" &&
            name != "comp_mswin_targetuser_calleruser_diff" && name != "is_simple_http_request" &&
            name != "is_valid_crawler")
          return Bad(f, c, fmt::format("{}: unknown compiled_rule '{}'", owner, name));
        r->compiled_rule = name;
      } else if (e == "check_diff" || e == "global_frequency" || e == "check_if_ignored" ||
                 e == "ignore" || e == "var") {
        // Accepted; no effect on log events.
      } else {
        return Bad(f, c, fmt::format("{}: unknown element <{}>", owner, e));
      }
    }
    if (match_node != nullptr) {
      XmlNode tmp = *match_node;
      tmp.content = match_text;
      auto ex = Expr(f, tmp, ExpressionType::kOsMatch, false, owner);
      if (!ex) return ex.error();
      r->match = std::move(*ex);
    }
    if (regex_node != nullptr) {
      XmlNode tmp = *regex_node;
      tmp.content = regex_text;
      auto ex = Expr(f, tmp, ExpressionType::kOsRegex, false, owner);
      if (!ex) return ex.error();
      r->regex = std::move(*ex);
    }
    if (Rule* old = Find(r->id)) {
      if (!overwrite) {
        set_->warnings_.push_back(
            fmt::format("{}:{}: rule {} duplicated; the first stays", f.string(), n.line, r->id));
        return Status::Ok();
      }
      // Wazuh's overwrite replaces everything but where the rule hangs and what it follows
      // (if_sid, if_group, if_level, if_matched_*).
      r->if_sid = old->if_sid;
      r->if_group = old->if_group;
      r->if_level = old->if_level;
      r->if_matched_sid = old->if_matched_sid;
      r->if_matched_group = old->if_matched_group;
      *old = std::move(*r);
      return Status::Ok();
    }
    set_->by_id_[r->id] = r.get();
    order_.push_back(r.get());
    set_->rules_.push_back(std::move(r));
    return Status::Ok();
  }

  Result<std::shared_ptr<const std::map<std::string, std::string>>> LoadList(
      const std::string& path) {
    if (auto it = lists_.find(path); it != lists_.end())
      return std::shared_ptr<const std::map<std::string, std::string>>(it->second);
    std::string rel = path;
    if (rel.rfind("etc/lists/", 0) == 0) rel = rel.substr(10);
    auto text = ReadFile(config_.lists_dir / rel);
    if (!text) return NotFound(fmt::format("list {} not found", path));
    auto m = std::make_shared<std::map<std::string, std::string>>();
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      std::string key;
      std::string value;
      if (line.front() == '"') {
        size_t q = line.find('"', 1);
        if (q == std::string::npos) continue;
        key = line.substr(1, q - 1);
        size_t colon = line.find(':', q);
        if (colon != std::string::npos) value = line.substr(colon + 1);
      } else {
        size_t colon = line.find(':');
        key = line.substr(0, colon);
        if (colon != std::string::npos) value = line.substr(colon + 1);
      }
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      m->emplace(key, value);
    }
    lists_[path] = m;
    return std::shared_ptr<const std::map<std::string, std::string>>(m);
  }

  // "6 pm - 8:30 am", "!10:00-12:00", "18:00-23:59".
  static std::optional<std::pair<int, int>> ParseTime(std::string_view text) {
    std::string t = Trim(text);
    if (!t.empty() && t[0] == '!') t = t.substr(1);
    auto dash = t.find('-');
    if (dash == std::string::npos) return std::nullopt;
    auto one = [](std::string s) -> int {
      s = Trim(s);
      int h = 0;
      int m = 0;
      bool pm = false;
      bool am = false;
      std::string lower;
      for (char c : s)
        lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      if (lower.find("pm") != std::string::npos) pm = true;
      if (lower.find("am") != std::string::npos) am = true;
      if (std::sscanf(lower.c_str(), "%d:%d", &h, &m) < 1) return -1;
      if (pm && h < 12) h += 12;
      if (am && h == 12) h = 0;
      if (h < 0 || h > 23 || m < 0 || m > 59) return -1;
      return h * 60 + m;
    };
    int a = one(t.substr(0, dash));
    int b = one(t.substr(dash + 1));
    if (a < 0 || b < 0) return std::nullopt;
    return std::make_pair(a, b);
  }

  static int ParseWeekdays(std::string_view text) {
    static const char* kNames[] = {"sunday",   "monday", "tuesday", "wednesday",
                                   "thursday", "friday", "saturday"};
    std::string lower;
    for (char c : text)
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    int bits = 0;
    if (lower.find("weekdays") != std::string::npos) bits |= 0x3e;
    if (lower.find("weekends") != std::string::npos) bits |= 0x41;
    std::vector<int> found;
    for (int i = 0; i < 7; ++i) {
      if (lower.find(kNames[i]) != std::string::npos) found.push_back(i);
    }
    if (lower.find('-') != std::string::npos && found.size() == 2) {
      size_t a = lower.find(kNames[found[0]]);
      size_t b = lower.find(kNames[found[1]]);
      int from = a < b ? found[0] : found[1];
      int to = a < b ? found[1] : found[0];
      for (int d = from;; d = (d + 1) % 7) {
        bits |= 1 << d;
        if (d == to) break;
      }
    } else {
      for (int d : found) bits |= 1 << d;
    }
    return bits;
  }

  // Wazuh's rule tree: siblings ordered by priority (higher first), load order among equals.
  // analysisd's priority is level * 100, except level 0, which counts as 99 * 100 (rules.c:
  // "level 0 ... high priority"), so level-0 rules are tried before everything else.
  static int Priority(const Rule* r) { return r->level == 0 ? 9900 : r->level * 100; }
  static void Insert(std::vector<Rule*>& list, Rule* r) {
    auto it =
        std::find_if(list.begin(), list.end(), [&](Rule* x) { return Priority(r) > Priority(x); });
    list.insert(it, r);
  }

  static bool HasGroup(const Rule& r, const std::string& g) {
    return std::find(r.groups.begin(), r.groups.end(), g) != r.groups.end();
  }

  static void IndexChildren(Rule& r) {
    constexpr size_t kMinChildren = 8;
    if (r.children.size() < kMinChildren) return;
    std::set<std::string> names;
    for (const Rule* c : r.children) {
      if (!c->decoded_as.empty()) names.insert(c->decoded_as);
    }
    if (names.empty()) return;
    for (Rule* c : r.children) {
      if (c->decoded_as.empty()) {
        r.children_undecoded.push_back(c);
        for (const auto& n : names) r.children_by_decoder[n].push_back(c);
      } else {
        r.children_by_decoder[c->decoded_as].push_back(c);
      }
    }
    r.children_indexed = true;
  }

  void BuildTree() {
    std::vector<Rule*> placed;
    for (Rule* r : order_) {
      std::vector<int> sids = r->if_sid;
      std::vector<std::string> groups = r->if_group;
      if (!r->if_matched_group.empty() && sids.empty() && groups.empty())
        groups.push_back(r->if_matched_group);
      if (!r->if_matched_sid.empty() && sids.empty() && groups.empty()) sids = r->if_matched_sid;
      for (int m : r->if_matched_sid) {
        if (Rule* p = Find(m)) p->keeps_sid_history = true;
      }
      if (!r->if_matched_group.empty()) set_->history_groups_[r->if_matched_group] = true;
      bool child = !sids.empty() || !groups.empty() || r->if_level > 0;
      if (!child) {
        // OSSEC: only the category templates (ids below 10) are roots; every other rule without
        // a parent hangs under the template of its category.
        if (r->id < 10) {
          Insert(set_->roots_, r);
        } else {
          std::string cat = r->category.empty() ? "syslog" : r->category;
          bool under = false;
          for (Rule* t : set_->roots_) {
            if (t->id < 10 && (t->category.empty() ? "syslog" : t->category) == cat) {
              Insert(t->children, r);
              under = true;
            }
          }
          if (!under) Insert(set_->roots_, r);
        }
        placed.push_back(r);
        continue;
      }
      bool attached = false;
      for (int sid : sids) {
        Rule* p = Find(sid);
        if (p == nullptr || p == r) continue;
        Insert(p->children, r);
        attached = true;
      }
      for (const auto& g : groups) {
        for (Rule* p : placed) {
          if (p != r && HasGroup(*p, g)) {
            Insert(p->children, r);
            attached = true;
          }
        }
      }
      if (r->if_level > 0) {
        for (Rule* p : placed) {
          if (p != r && p->level >= r->if_level) {
            Insert(p->children, r);
            attached = true;
          }
        }
      }
      if (!attached) {
        set_->warnings_.push_back(
            fmt::format("{}:{}: rule {}: no parent rule found", r->file, r->line, r->id));
      }
      placed.push_back(r);
    }
  }

  const RulesetConfig& config_;
  std::shared_ptr<Ruleset> set_;
  std::vector<Rule*> order_;
  std::map<std::string, std::shared_ptr<std::map<std::string, std::string>>> lists_;
};

Result<std::shared_ptr<const Ruleset>> Ruleset::Load(const RulesetConfig& config) {
  return RulesetLoader(config).Run();
}

}  // namespace ward::agent::loginspect

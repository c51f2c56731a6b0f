#include "agent/modules/ips/seclang/parser.h"

#include <glob.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/text.h"

namespace ward::seclang {
namespace {

// Variables libmodsecurity 3.0.9 knows; the ones marked `collection` take a selector.
struct VariableName {
  std::string_view name;
  bool collection;
};
constexpr VariableName kVariables[] = {
    {"ARGS", true},
    {"ARGS_COMBINED_SIZE", false},
    {"ARGS_GET", true},
    {"ARGS_GET_NAMES", true},
    {"ARGS_NAMES", true},
    {"ARGS_POST", true},
    {"ARGS_POST_NAMES", true},
    {"AUTH_TYPE", false},
    {"DURATION", false},
    {"ENV", true},
    {"FILES", true},
    {"FILES_COMBINED_SIZE", false},
    {"FILES_NAMES", true},
    {"FILES_SIZES", true},
    {"FILES_TMPNAMES", true},
    {"FILES_TMP_CONTENT", true},
    {"FULL_REQUEST", false},
    {"FULL_REQUEST_LENGTH", false},
    {"GEO", true},
    {"GLOBAL", true},
    {"HIGHEST_SEVERITY", false},
    {"INBOUND_DATA_ERROR", false},
    {"IP", true},
    {"MATCHED_VAR", false},
    {"MATCHED_VARS", true},
    {"MATCHED_VARS_NAMES", true},
    {"MATCHED_VAR_NAME", false},
    {"MODSEC_BUILD", false},
    {"MULTIPART_BOUNDARY_QUOTED", false},
    {"MULTIPART_BOUNDARY_WHITESPACE", false},
    {"MULTIPART_CRLF_LF_LINES", false},
    {"MULTIPART_DATA_AFTER", false},
    {"MULTIPART_DATA_BEFORE", false},
    {"MULTIPART_FILENAME", true},
    {"MULTIPART_FILE_LIMIT_EXCEEDED", false},
    {"MULTIPART_HEADER_FOLDING", false},
    {"MULTIPART_INVALID_HEADER_FOLDING", false},
    {"MULTIPART_INVALID_PART", false},
    {"MULTIPART_INVALID_QUOTING", false},
    {"MULTIPART_LF_LINE", false},
    {"MULTIPART_MISSING_SEMICOLON", false},
    {"MULTIPART_NAME", true},
    {"MULTIPART_PART_HEADERS", true},
    {"MULTIPART_SEMICOLON_MISSING", false},
    {"MULTIPART_STRICT_ERROR", false},
    {"MULTIPART_UNMATCHED_BOUNDARY", false},
    {"OUTBOUND_DATA_ERROR", false},
    {"PATH_INFO", false},
    {"QUERY_STRING", false},
    {"REMOTE_ADDR", false},
    {"REMOTE_HOST", false},
    {"REMOTE_PORT", false},
    {"REMOTE_USER", false},
    {"REQBODY_ERROR", false},
    {"REQBODY_ERROR_MSG", false},
    {"REQBODY_PROCESSOR", false},
    {"REQBODY_PROCESSOR_ERROR", false},
    {"REQBODY_PROCESSOR_ERROR_MSG", false},
    {"REQUEST_BASENAME", false},
    {"REQUEST_BODY", false},
    {"REQUEST_BODY_LENGTH", false},
    {"REQUEST_COOKIES", true},
    {"REQUEST_COOKIES_NAMES", true},
    {"REQUEST_FILENAME", false},
    {"REQUEST_HEADERS", true},
    {"REQUEST_HEADERS_NAMES", true},
    {"REQUEST_LINE", false},
    {"REQUEST_METHOD", false},
    {"REQUEST_PROTOCOL", false},
    {"REQUEST_URI", false},
    {"REQUEST_URI_RAW", false},
    {"RESOURCE", true},
    {"RESPONSE_BODY", false},
    {"RESPONSE_CONTENT_LENGTH", false},
    {"RESPONSE_CONTENT_TYPE", false},
    {"RESPONSE_HEADERS", true},
    {"RESPONSE_HEADERS_NAMES", true},
    {"RESPONSE_PROTOCOL", false},
    {"RESPONSE_STATUS", false},
    {"RULE", true},
    {"SERVER_ADDR", false},
    {"SERVER_NAME", false},
    {"SERVER_PORT", false},
    {"SESSION", true},
    {"SESSIONID", false},
    {"STATUS", false},
    {"STATUS_LINE", false},
    {"TIME", false},
    {"TIME_DAY", false},
    {"TIME_EPOCH", false},
    {"TIME_HOUR", false},
    {"TIME_MIN", false},
    {"TIME_MON", false},
    {"TIME_SEC", false},
    {"TIME_WDAY", false},
    {"TIME_YEAR", false},
    {"TX", true},
    {"UNIQUE_ID", false},
    {"URLENCODED_ERROR", false},
    {"USER", true},
    {"USERID", false},
    {"WEBAPPID", false},
    {"XML", true},
};

constexpr std::string_view kPersistentCollections[] = {"TX",   "IP",     "SESSION",
                                                       "USER", "GLOBAL", "RESOURCE"};

// Directives that change no verdict: recorded in RuleSet::recorded.
constexpr std::string_view kRecordedDirectives[] = {
    "SecAuditEngine",
    "SecAuditLog",
    "SecAuditLog2",
    "SecAuditLogParts",
    "SecAuditLogRelevantStatus",
    "SecAuditLogType",
    "SecAuditLogStorageDir",
    "SecAuditLogFormat",
    "SecAuditLogDirMode",
    "SecAuditLogFileMode",
    "SecDebugLog",
    "SecDebugLogLevel",
    "SecTmpDir",
    "SecDataDir",
    "SecStatusEngine",
    "SecUploadDir",
    "SecUploadKeepFiles",
    "SecUploadFileMode",
    "SecTmpSaveUploadedFiles",
    "SecUploadFileLimit",
    "SecWebAppId",
    "SecXmlExternalEntity",
    "SecCookieFormat",
};

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::string Unquote(std::string_view s, char quote) {
  if (s.size() >= 2 && s.front() == quote && s.back() == quote) s = s.substr(1, s.size() - 2);
  return std::string(s);
}

std::optional<int64_t> ParseInt(std::string_view s) {
  s = Trim(s);
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
  }
  if (i == s.size()) return std::nullopt;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return negative ? -v : v;
}

// Splits a directive's arguments: bare words end at white space; double-quoted arguments keep
// their text as written (a backslash-escaped quote does not end them; escapes are left for the
// operator or action to read, as libmodsecurity does).
Result<std::vector<std::string>> SplitArguments(std::string_view s) {
  std::vector<std::string> args;
  size_t i = 0;
  while (true) {
    while (i < s.size() && IsBlank(s[i])) ++i;
    if (i >= s.size()) break;
    if (s[i] == '"') {
      size_t j = i + 1;
      std::string arg;
      bool closed = false;
      while (j < s.size()) {
        if (s[j] == '\\' && j + 1 < s.size()) {  // kept as written, \" included
          arg += s[j];
          arg += s[j + 1];
          j += 2;
          continue;
        }
        if (s[j] == '"') {
          closed = true;
          break;
        }
        arg += s[j++];
      }
      // libmodsecurity lets the end of the line close a last quoted argument.
      (void)closed;
      args.push_back(std::move(arg));
      i = j + 1;
      if (i < s.size() && !IsBlank(s[i])) {
        return InvalidArgument("text right after a closing quote");
      }
    } else {
      size_t j = i;
      while (j < s.size() && !IsBlank(s[j])) ++j;
      args.emplace_back(s.substr(i, j - i));
      i = j;
    }
  }
  return args;
}

Result<std::vector<VariableRef>> ParseVariables(std::string_view text) {
  std::vector<VariableRef> out;
  size_t i = 0;
  text = Trim(text);
  if (text.empty()) return InvalidArgument("no variable");
  while (i <= text.size()) {
    // One element, up to a '|' that is not inside a /regex/ or 'quotes'.
    size_t j = i;
    for (; j < text.size() && text[j] != '|'; ++j) {
      // A 'quoted' selector may hold '|'; an unquoted /regex/ may not (as libmodsecurity's
      // scanner reads it). One left open is a literal selector.
      if ((text[j] != ':' && text[j] != '.') || j + 1 >= text.size() || text[j + 1] != '\'') {
        continue;
      }
      const size_t close = text.find('\'', j + 2);
      if (close != std::string_view::npos) j = close;
    }
    std::string_view elem = Trim(text.substr(i, j - i));
    if (elem.empty()) return InvalidArgument("empty variable in '" + std::string(text) + "'");
    VariableRef v;
    if (elem.front() == '!') {
      v.exclude = true;
      elem.remove_prefix(1);
    }
    if (!elem.empty() && elem.front() == '&') {
      v.count = true;
      elem.remove_prefix(1);
    }
    size_t colon = elem.find(':');
    const size_t dot = elem.find('.');
    if (dot < colon) colon = dot;  // collections take "TX.name" as "TX:name"
    const std::string name = UpperCase(elem.substr(0, colon));
    const auto known = std::find_if(std::begin(kVariables), std::end(kVariables),
                                    [&](const VariableName& n) { return n.name == name; });
    if (known == std::end(kVariables)) {
      return InvalidArgument("unknown variable " + std::string(elem.substr(0, colon)));
    }
    v.collection = name;
    if (colon != std::string_view::npos) {
      std::string_view key = elem.substr(colon + 1);
      if (!known->collection) {
        return InvalidArgument("variable " + name + " takes no selector");
      }
      if (key.size() >= 2 && key.front() == '/' && key.back() == '/') {
        v.key_is_regex = true;
        key = key.substr(1, key.size() - 2);
      } else if (key.size() >= 2 && key.front() == '\'' && key.back() == '\'') {
        key = key.substr(1, key.size() - 2);
        if (key.size() >= 2 && key.front() == '/' && key.back() == '/') {
          v.key_is_regex = true;
          key = key.substr(1, key.size() - 2);
        }
      }
      if (key.empty()) return InvalidArgument("empty selector for " + name);
      v.key = std::string(key);
    }
    out.push_back(std::move(v));
    i = j + 1;
  }
  return out;
}

// Splits an action list at the commas outside 'single quotes'.
Result<std::vector<std::string_view>> SplitActions(std::string_view text) {
  std::vector<std::string_view> out;
  if (Trim(text).empty()) return out;
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size()) {
      const char c = text[i];
      if (c == '\\' && quoted && i + 1 < text.size()) {
        ++i;
        continue;
      }
      if (c == '\'') quoted = !quoted;
      if (c != ',' || quoted) continue;
    }
    const std::string_view piece = Trim(text.substr(start, i - start));
    if (piece.empty()) {
      if (i == text.size() && !out.empty()) break;  // a trailing comma
      return InvalidArgument("empty action in '" + std::string(text) + "'");
    }
    out.push_back(piece);
    start = i + 1;
  }
  if (quoted) return InvalidArgument("unterminated quote in actions '" + std::string(text) + "'");
  return out;
}

Result<IdRange> ParseIdRange(std::string_view s) {
  s = Trim(s);
  const size_t dash = s.find('-', 1);
  if (dash == std::string_view::npos) {
    const auto v = ParseInt(s);
    if (!v) return InvalidArgument("not a rule id: '" + std::string(s) + "'");
    return IdRange{*v, *v};
  }
  const auto a = ParseInt(s.substr(0, dash)), b = ParseInt(s.substr(dash + 1));
  if (!a || !b || *a > *b) return InvalidArgument("not a rule id range: '" + std::string(s) + "'");
  return IdRange{*a, *b};
}

Result<std::vector<IdRange>> ParseIdList(const std::vector<std::string>& args, size_t from) {
  std::vector<IdRange> out;
  for (size_t a = from; a < args.size(); ++a) {
    std::string_view s = args[a];
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find_first_of(", ", start);
      if (end == std::string_view::npos) end = s.size();
      if (end > start) {
        auto r = ParseIdRange(s.substr(start, end - start));
        if (!r.has_value()) return r.error();
        out.push_back(*r);
      }
      start = end + 1;
    }
  }
  if (out.empty()) return InvalidArgument("no rule id");
  return out;
}

Status CheckMacros(std::string_view s) {
  size_t pos = 0;
  while ((pos = s.find("%{", pos)) != std::string_view::npos) {
    const size_t end = s.find('}', pos);
    if (end == std::string_view::npos) {
      return InvalidArgument("unterminated macro in '" + std::string(s) + "'");
    }
    const std::string_view inner = s.substr(pos + 2, end - pos - 2);
    const size_t dot = inner.find_first_of(".:");
    const std::string name = UpperCase(inner.substr(0, dot));
    const bool known = std::any_of(std::begin(kVariables), std::end(kVariables),
                                   [&](const VariableName& n) { return n.name == name; });
    if (!known) return InvalidArgument("unknown variable in macro %{" + std::string(inner) + "}");
    pos = end + 1;
  }
  return Status::Ok();
}

Result<SetVar> ParseSetVar(std::string_view v) {
  SetVar sv;
  if (!v.empty() && v.front() == '!') {
    sv.op = SetVar::Op::kDelete;
    v.remove_prefix(1);
  }
  const size_t eq = v.find('=');
  std::string_view target = v.substr(0, eq);
  const size_t dot = target.find('.');
  if (dot == std::string_view::npos) {
    return InvalidArgument("setvar needs collection.name: '" + std::string(v) + "'");
  }
  sv.collection = UpperCase(target.substr(0, dot));
  if (std::find(std::begin(kPersistentCollections), std::end(kPersistentCollections),
                sv.collection) == std::end(kPersistentCollections)) {
    return InvalidArgument("setvar on unsupported collection " + sv.collection);
  }
  sv.name = std::string(target.substr(dot + 1));
  if (sv.name.empty()) return InvalidArgument("setvar without a variable name");
  if (sv.op == SetVar::Op::kDelete) {
    if (eq != std::string_view::npos) return InvalidArgument("setvar:!x takes no value");
    return sv;
  }
  if (eq == std::string_view::npos) {
    sv.value = "1";
    return sv;
  }
  std::string_view value = v.substr(eq + 1);
  if (!value.empty() && value.front() == '+') {
    sv.op = SetVar::Op::kAdd;
    value.remove_prefix(1);
  } else if (!value.empty() && value.front() == '-') {
    sv.op = SetVar::Op::kSubtract;
    value.remove_prefix(1);
  }
  sv.value = std::string(value);
  if (Status s = CheckMacros(sv.name + sv.value); !s.ok()) return s;
  return sv;
}

Result<Ctl> ParseCtl(std::string_view v) {
  const size_t eq = v.find('=');
  if (eq == std::string_view::npos)
    return InvalidArgument("ctl needs name=value: '" + std::string(v) + "'");
  const std::string_view name = v.substr(0, eq);
  const std::string value(v.substr(eq + 1));
  struct CtlName {
    std::string_view name;
    Ctl::Kind kind;
  };
  static constexpr CtlName kCtls[] = {
      {"ruleEngine", Ctl::Kind::kRuleEngine},
      {"ruleRemoveById", Ctl::Kind::kRuleRemoveById},
      {"ruleRemoveByTag", Ctl::Kind::kRuleRemoveByTag},
      {"ruleRemoveTargetById", Ctl::Kind::kRuleRemoveTargetById},
      {"ruleRemoveTargetByTag", Ctl::Kind::kRuleRemoveTargetByTag},
      {"requestBodyProcessor", Ctl::Kind::kRequestBodyProcessor},
      {"requestBodyAccess", Ctl::Kind::kRequestBodyAccess},
      {"forceRequestBodyVariable", Ctl::Kind::kForceRequestBodyVariable},
      {"auditEngine", Ctl::Kind::kAuditEngine},
      {"auditLogParts", Ctl::Kind::kAuditLogParts},
  };
  for (const auto& c : kCtls) {
    if (!EqualsIgnoreCase(c.name, name)) continue;
    switch (c.kind) {
      case Ctl::Kind::kRuleEngine:
        if (!EqualsIgnoreCase(value, "On") && !EqualsIgnoreCase(value, "Off") &&
            !EqualsIgnoreCase(value, "DetectionOnly")) {
          return InvalidArgument("ctl:ruleEngine takes On, Off or DetectionOnly");
        }
        break;
      case Ctl::Kind::kRequestBodyProcessor:
        // libmodsecurity 3.0.9 knows these three (not MULTIPART).
        if (!EqualsIgnoreCase(value, "XML") && !EqualsIgnoreCase(value, "JSON") &&
            !EqualsIgnoreCase(value, "URLENCODED")) {
          return InvalidArgument("ctl:requestBodyProcessor takes XML, JSON or URLENCODED");
        }
        break;
      case Ctl::Kind::kRequestBodyAccess:
      case Ctl::Kind::kForceRequestBodyVariable:
        if (!EqualsIgnoreCase(value, "On") && !EqualsIgnoreCase(value, "Off") &&
            !EqualsIgnoreCase(value, "true") && !EqualsIgnoreCase(value, "false")) {
          return InvalidArgument("ctl:" + std::string(c.name) + " takes On or Off");
        }
        break;
      case Ctl::Kind::kRuleRemoveById: {
        auto r = ParseIdRange(value);
        if (!r.has_value()) return r.error();
        break;
      }
      case Ctl::Kind::kRuleRemoveTargetById:
      case Ctl::Kind::kRuleRemoveTargetByTag: {
        const size_t semi = value.find(';');
        if (semi == std::string::npos) {
          return InvalidArgument("ctl:" + std::string(c.name) + " takes <id-or-tag>;<target>");
        }
        if (c.kind == Ctl::Kind::kRuleRemoveTargetById) {
          auto r = ParseIdRange(value.substr(0, semi));
          if (!r.has_value()) return r.error();
        }
        auto vars = ParseVariables(value.substr(semi + 1));
        if (!vars.has_value()) return vars.error();
        break;
      }
      default:
        break;
    }
    return Ctl{c.kind, value};
  }
  return InvalidArgument("ctl:" + std::string(name) + " is not supported");
}

std::optional<int> ParseSeverity(std::string_view v) {
  static constexpr std::string_view kNames[] = {"EMERGENCY", "ALERT",  "CRITICAL", "ERROR",
                                                "WARNING",   "NOTICE", "INFO",     "DEBUG"};
  for (int i = 0; i < 8; ++i) {
    if (EqualsIgnoreCase(v, kNames[i])) return i;
  }
  if (v.size() == 1 && v[0] >= '0' && v[0] <= '7') return v[0] - '0';
  return std::nullopt;
}

// Applies one action to `rule`. `directive` names where it is (SecRule, SecAction, ...).
Status ApplyAction(Rule& rule, std::string_view action) {
  const size_t colon = action.find(':');
  const std::string_view name = Trim(action.substr(0, colon));
  const bool has_value = colon != std::string_view::npos;
  const std::string value =
      has_value ? Unquote(Trim(action.substr(colon + 1)), '\'') : std::string();
  auto need_value = [&]() -> Status {
    if (!has_value || value.empty()) {
      return InvalidArgument("action " + std::string(name) + " needs a value");
    }
    return Status::Ok();
  };
  auto no_value = [&]() -> Status {
    if (has_value) return InvalidArgument("action " + std::string(name) + " takes no value");
    return Status::Ok();
  };
  auto is = [&](std::string_view n) { return EqualsIgnoreCase(name, n); };

  if (is("id")) {
    const auto id = ParseInt(value);
    if (!id || *id <= 0) return InvalidArgument("invalid rule id '" + value + "'");
    rule.id = *id;
  } else if (is("phase")) {
    int phase = 0;
    if (EqualsIgnoreCase(value, "request")) {
      phase = 2;
    } else if (EqualsIgnoreCase(value, "response")) {
      phase = 4;
    } else if (EqualsIgnoreCase(value, "logging")) {
      phase = 5;
    } else if (const auto p = ParseInt(value); p && *p >= 1 && *p <= 5) {
      phase = static_cast<int>(*p);
    } else {
      return InvalidArgument("invalid phase '" + value + "'");
    }
    rule.phase = phase;
    rule.phase_set = true;
  } else if (is("t")) {
    if (Status s = need_value(); !s.ok()) return s;
    const auto t = TransformationFromName(value);
    if (!t) return InvalidArgument("transformation t:" + value + " is not supported");
    if (*t == Transformation::kNone) {
      rule.transformations.clear();
      rule.transformations_reset = true;
    } else {
      rule.transformations.push_back(*t);
    }
  } else if (is("msg")) {
    rule.msg = value;
    return CheckMacros(value);
  } else if (is("logdata")) {
    rule.logdata = value;
    return CheckMacros(value);
  } else if (is("tag")) {
    if (Status s = need_value(); !s.ok()) return s;
    rule.tags.push_back(value);
    return CheckMacros(value);
  } else if (is("ver")) {
    rule.ver = value;
  } else if (is("rev")) {
    rule.rev = value;
  } else if (is("accuracy")) {
    rule.accuracy = value;
  } else if (is("maturity")) {
    rule.maturity = value;
  } else if (is("severity")) {
    const auto sev = ParseSeverity(value);
    if (!sev) return InvalidArgument("invalid severity '" + value + "'");
    rule.severity = sev;
  } else if (is("status")) {
    const auto st = ParseInt(value);
    if (!st || *st < 100 || *st > 999) return InvalidArgument("invalid status '" + value + "'");
    rule.status = static_cast<int>(*st);
  } else if (is("capture")) {
    rule.capture = true;
    return no_value();
  } else if (is("multiMatch")) {
    rule.multi_match = true;
    return no_value();
  } else if (is("chain")) {
    // Handled by the caller (it needs the next directive).
    return no_value();
  } else if (is("log") || is("nolog")) {
    rule.log = is("log");
    rule.save_message = is("log");
    return no_value();
  } else if (is("auditlog") || is("noauditlog")) {
    rule.auditlog = is("auditlog");
    rule.save_message = is("auditlog");
    return no_value();
  } else if (is("pass")) {
    rule.disruptive = Disruptive::kPass;
    return no_value();
  } else if (is("block")) {
    // `block` is not a disruptive action in libmodsecurity 3.0.9: it runs the phase's
    // SecDefaultAction disruptive action beside the rule's own ("deny,block" keeps deny).
    rule.block = true;
    if (rule.disruptive == Disruptive::kNone) rule.disruptive = Disruptive::kBlock;
    return no_value();
  } else if (is("deny")) {
    rule.disruptive = Disruptive::kDeny;
    return no_value();
  } else if (is("drop")) {
    rule.disruptive = Disruptive::kDrop;
    return no_value();
  } else if (is("allow")) {
    rule.disruptive = Disruptive::kAllow;
    if (has_value && !EqualsIgnoreCase(value, "phase") && !EqualsIgnoreCase(value, "request")) {
      return InvalidArgument("allow takes no value, 'phase' or 'request'");
    }
  } else if (is("redirect")) {
    if (Status s = need_value(); !s.ok()) return s;
    rule.disruptive = Disruptive::kRedirect;
    rule.redirect_url = value;
  } else if (is("skip")) {
    const auto n = ParseInt(value);
    if (!n || *n < 1) return InvalidArgument("invalid skip '" + value + "'");
    rule.skip = static_cast<int>(*n);
  } else if (is("skipAfter")) {
    if (Status s = need_value(); !s.ok()) return s;
    rule.skip_after = value;
  } else if (is("setvar")) {
    if (Status s = need_value(); !s.ok()) return s;
    auto sv = ParseSetVar(value);
    if (!sv.has_value()) return sv.error();
    rule.setvars.push_back(std::move(*sv));
  } else if (is("ctl")) {
    auto ctl = ParseCtl(value);
    if (!ctl.has_value()) return ctl.error();
    rule.ctls.push_back(std::move(*ctl));
  } else if (is("expirevar") || is("initcol") || is("setenv")) {
    if (Status s = need_value(); !s.ok()) return s;
    const size_t eq = value.find('=');
    const std::string key = value.substr(0, eq);
    const std::string arg = eq == std::string::npos ? "" : value.substr(eq + 1);
    if (is("expirevar")) {
      rule.expirevars.emplace_back(key, arg);
    } else if (is("initcol")) {
      if (eq == std::string::npos) return InvalidArgument("initcol takes collection=key");
      rule.initcols.emplace_back(UpperCase(key), arg);
    } else {
      rule.setenvs.emplace_back(key, arg);
    }
    return CheckMacros(value);
  } else if (is("setuid") || is("setsid") || is("setrsc")) {
    if (Status s = need_value(); !s.ok()) return s;
    (is("setuid") ? rule.setuid : is("setsid") ? rule.setsid : rule.setrsc) = value;
    return CheckMacros(value);
  } else if (is("xmlns")) {
    // prefix=http://href, checked as libmodsecurity checks it.
    const size_t eq = value.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == value.size()) {
      return InvalidArgument("xmlns takes prefix=href");
    }
    std::string href = value.substr(eq + 1);
    if (href.front() == '\'' && href.size() > 3) href = href.substr(1, href.size() - 2);
    if (href.rfind("http://", 0) != 0) return InvalidArgument("xmlns href must be http://...");
    rule.xmlns.push_back(value);
  } else {
    return InvalidArgument("action '" + std::string(name) +
                           "' is not supported by Ward's SecLang engine");
  }
  return Status::Ok();
}

bool HasChain(const std::vector<std::string_view>& actions) {
  return std::any_of(actions.begin(), actions.end(), [](std::string_view a) {
    return EqualsIgnoreCase(Trim(a.substr(0, a.find(':'))), "chain");
  });
}

Result<std::string> ReadWhole(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return NotFound("cannot open " + path.string() + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return NotFound("cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return NotFound("cannot read " + path.string());
  return ss.str();
}

}  // namespace

std::string VariableRef::ToString() const {
  std::string s;
  if (exclude) s += '!';
  if (count) s += '&';
  s += collection;
  if (!key.empty()) s += ":" + (key_is_regex ? "/" + key + "/" : key);
  return s;
}

size_t RuleSet::RuleCount() const {
  size_t n = 0;
  for (const auto& r : rules) {
    for (const Rule* p = r.get(); p != nullptr; p = p->chained.get()) {
      if (p->kind != Rule::Kind::kMarker) ++n;
    }
  }
  return n;
}

RuleParser::RuleParser() : set_(std::make_unique<RuleSet>()) {}

Status RuleParser::LoadFile(const std::filesystem::path& path) {
  auto text = ReadWhole(path);
  if (!text.has_value()) return text.error();
  return LoadText(*text, path.string(), path.parent_path());
}

Status RuleParser::LoadText(std::string_view text, const std::string& name,
                            const std::filesystem::path& base_dir) {
  std::string logical;
  int first_line = 0, number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    const bool last = eol == std::string_view::npos;
    if (last) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (logical.empty()) {
      const std::string_view t = Trim(line);
      if (t.empty() || t.front() == '#') {
        if (last) break;
        continue;
      }
      first_line = number;
    }
    if (!line.empty() && line.back() == '\\') {
      logical.append(line.substr(0, line.size() - 1));
      if (!last) continue;
    } else {
      logical.append(line);
    }
    const Line where{name, first_line, base_dir};
    if (Status s = ParseDirective(where, logical); !s.ok()) return s;
    logical.clear();
    if (last) break;
  }
  return Status::Ok();
}

Status RuleParser::Include(const Line& where, const std::string& pattern) {
  if (include_depth_ >= 16) return InvalidArgument("Include nested too deeply");
  std::filesystem::path p(pattern);
  if (p.is_relative()) p = where.base_dir / p;
  std::vector<std::filesystem::path> files;
  if (p.string().find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    const int rc = ::glob(p.c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
    if (files.empty()) return NotFound("no file matches " + p.string());
  } else {
    files.push_back(p);
  }
  ++include_depth_;
  for (const auto& f : files) {
    if (Status s = LoadFile(f); !s.ok()) {
      --include_depth_;
      return s;
    }
  }
  --include_depth_;
  return Status::Ok();
}

Status RuleParser::ParseDirective(const Line& where, std::string_view text) {
  text = Trim(text);
  size_t name_end = 0;
  while (name_end < text.size() && !IsBlank(text[name_end])) ++name_end;
  const std::string directive(text.substr(0, name_end));
  const std::string prefix =
      std::string(where.file) + ":" + std::to_string(where.number) + ": " + directive + ": ";
  auto fail = [&](const Status& s) { return Status(s.code(), prefix + s.message()); };
  auto args_or = SplitArguments(text.substr(name_end));
  if (!args_or.has_value()) return fail(args_or.error());
  const std::vector<std::string>& args = *args_or;
  auto is = [&](std::string_view n) { return EqualsIgnoreCase(directive, n); };
  auto want = [&](size_t min, size_t max) -> Status {
    if (args.size() < min || args.size() > max) {
      return InvalidArgument(
          "expects " +
          (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)) +
          " argument(s), got " + std::to_string(args.size()));
    }
    return Status::Ok();
  };
  auto on_off = [&](bool& out) -> Status {
    if (Status s = want(1, 1); !s.ok()) return s;
    if (EqualsIgnoreCase(args[0], "On")) {
      out = true;
    } else if (EqualsIgnoreCase(args[0], "Off")) {
      out = false;
    } else {
      return InvalidArgument("expects On or Off, got '" + args[0] + "'");
    }
    return Status::Ok();
  };
  auto number = [&](std::optional<int64_t>& out) -> Status {
    if (Status s = want(1, 1); !s.ok()) return s;
    const auto v = ParseInt(args[0]);
    if (!v || *v < 0) return InvalidArgument("expects a number, got '" + args[0] + "'");
    out = *v;
    return Status::Ok();
  };

  const bool is_rule = is("SecRule");
  if (open_chain_ != nullptr && !is_rule) {
    return fail(InvalidArgument("the chain started at " + open_chain_where_.file + ":" +
                                std::to_string(open_chain_where_.line) + " needs a SecRule next"));
  }

  if (is_rule || is("SecAction")) {
    if (Status s = is_rule ? want(2, 3) : want(1, 1); !s.ok()) return fail(s);
    auto rule = std::make_unique<Rule>();
    rule->where = {std::string(where.file), where.number};
    const std::string actions_text = is_rule ? (args.size() == 3 ? args[2] : "") : args[0];
    if (is_rule) {
      rule->kind = Rule::Kind::kRule;
      auto vars = ParseVariables(args[0]);
      if (!vars.has_value()) return fail(vars.error());
      rule->variables = std::move(*vars);
      std::string_view op_text = args[1];
      if (!op_text.empty() && op_text.front() == '!') {
        rule->negated = true;
        op_text.remove_prefix(1);
      }
      std::string op_name = "rx";
      std::string_view param = op_text;
      if (!op_text.empty() && op_text.front() == '@') {
        size_t e = 1;
        while (e < op_text.size() && !IsBlank(op_text[e])) ++e;
        op_name = std::string(op_text.substr(1, e - 1));
        param = op_text.substr(e);
        while (!param.empty() && (param.front() == ' ' || param.front() == '\t')) {
          param.remove_prefix(1);
        }
      }
      auto op = Operator::Create(op_name, param, where.base_dir);
      if (!op.has_value()) return fail(op.error());
      rule->op = std::move(*op);
    } else {
      rule->kind = Rule::Kind::kAction;
    }
    auto actions = SplitActions(actions_text);
    if (!actions.has_value()) return fail(actions.error());
    if (actions->empty() && open_chain_ == nullptr) {
      return fail(InvalidArgument("a rule needs actions (at least an id)"));
    }
    for (const std::string_view a : *actions) {
      if (Status s = ApplyAction(*rule, a); !s.ok()) return fail(s);
    }
    const bool chain = HasChain(*actions);
    Rule* raw = rule.get();
    if (open_chain_ != nullptr) {
      // An id or phase here is kept and, as in libmodsecurity, means nothing.
      open_chain_->chained = std::move(rule);
      open_chain_ = nullptr;
    } else {
      if (rule->id == 0 && is_rule) return fail(InvalidArgument("rules must have an id"));
      if (rule->id != 0 && !ids_.insert(rule->id).second) {
        return fail(InvalidArgument("rule id " + std::to_string(rule->id) + " is duplicated"));
      }
      set_->rules.push_back(std::move(rule));
    }
    if (chain) {
      if (!is_rule) return fail(InvalidArgument("SecAction cannot start a chain"));
      open_chain_ = raw;
      open_chain_where_ = raw->where;
    }
    return Status::Ok();
  }
  if (is("SecMarker")) {
    if (Status s = want(1, 1); !s.ok()) return fail(s);
    auto rule = std::make_unique<Rule>();
    rule->kind = Rule::Kind::kMarker;
    rule->where = {std::string(where.file), where.number};
    rule->marker = Unquote(args[0], '\'');
    set_->rules.push_back(std::move(rule));
    return Status::Ok();
  }
  if (is("SecDefaultAction")) {
    if (Status s = want(1, 1); !s.ok()) return fail(s);
    auto rule = std::make_unique<Rule>();
    rule->kind = Rule::Kind::kAction;
    rule->where = {std::string(where.file), where.number};
    auto actions = SplitActions(args[0]);
    if (!actions.has_value()) return fail(actions.error());
    for (const std::string_view a : *actions) {
      if (Status s = ApplyAction(*rule, a); !s.ok()) return fail(s);
    }
    if (rule->id != 0 || HasChain(*actions) || !rule->msg.empty() || rule->skip != 0 ||
        !rule->skip_after.empty()) {
      return fail(InvalidArgument("id, chain, msg, skip and skipAfter are not allowed here"));
    }
    const bool disruptive = std::any_of(actions->begin(), actions->end(), [](std::string_view a) {
      const std::string_view n = Trim(a.substr(0, a.find(':')));
      return EqualsIgnoreCase(n, "pass") || EqualsIgnoreCase(n, "deny") ||
             EqualsIgnoreCase(n, "drop") || EqualsIgnoreCase(n, "allow") ||
             EqualsIgnoreCase(n, "redirect");
    });
    if (!disruptive) {
      // `block` defers to the default: it cannot be the default (libmodsecurity refuses it).
      return fail(InvalidArgument("SecDefaultAction must specify a disruptive action"));
    }
    if (set_->default_actions.count(rule->phase) != 0) {
      return fail(InvalidArgument("phase " + std::to_string(rule->phase) +
                                  " already has its default actions"));
    }
    set_->default_actions[rule->phase] = std::move(rule);
    return Status::Ok();
  }
  if (is("SecRuleEngine")) {
    if (Status s = want(1, 1); !s.ok()) return fail(s);
    if (EqualsIgnoreCase(args[0], "On")) {
      set_->engine = EngineMode::kOn;
    } else if (EqualsIgnoreCase(args[0], "Off")) {
      set_->engine = EngineMode::kOff;
    } else if (EqualsIgnoreCase(args[0], "DetectionOnly")) {
      set_->engine = EngineMode::kDetectionOnly;
    } else {
      return fail(InvalidArgument("expects On, Off or DetectionOnly"));
    }
    set_->engine_set = true;
    return Status::Ok();
  }
  Status s = Status::Ok();
  if (is("SecRequestBodyAccess")) {
    s = on_off(set_->request_body_access);
  } else if (is("SecResponseBodyAccess")) {
    s = on_off(set_->response_body_access);
  } else if (is("SecRequestBodyLimit")) {
    s = number(set_->request_body_limit);
  } else if (is("SecRequestBodyNoFilesLimit")) {
    s = number(set_->request_body_no_files_limit);
  } else if (is("SecRequestBodyInMemoryLimit")) {
    s = number(set_->request_body_in_memory_limit);
  } else if (is("SecResponseBodyLimit")) {
    s = number(set_->response_body_limit);
  } else if (is("SecRequestBodyJsonDepthLimit")) {
    s = number(set_->request_body_json_depth_limit);
  } else if (is("SecArgumentsLimit")) {
    s = number(set_->arguments_limit);
  } else if (is("SecPcreMatchLimit")) {
    s = number(set_->pcre_match_limit);
  } else if (is("SecPcreMatchLimitRecursion")) {
    s = number(set_->pcre_match_limit_recursion);
  } else if (is("SecCollectionTimeout")) {
    s = number(set_->collection_timeout);
  } else if (is("SecRequestBodyLimitAction") || is("SecResponseBodyLimitAction")) {
    s = want(1, 1);
    if (s.ok()) {
      if (!EqualsIgnoreCase(args[0], "Reject") && !EqualsIgnoreCase(args[0], "ProcessPartial")) {
        s = InvalidArgument("expects Reject or ProcessPartial");
      } else {
        (is("SecRequestBodyLimitAction") ? set_->request_body_limit_action
                                         : set_->response_body_limit_action) = args[0];
      }
    }
  } else if (is("SecResponseBodyMimeType")) {
    s = want(1, 64);
    if (s.ok()) {
      for (const auto& a : args) {
        std::istringstream words(a);
        for (std::string w; words >> w;) set_->response_body_mime_types.push_back(w);
      }
    }
  } else if (is("SecResponseBodyMimeTypesClear")) {
    s = want(0, 0);
    if (s.ok()) set_->response_body_mime_types.clear();
  } else if (is("SecArgumentSeparator")) {
    s = want(1, 1);
    if (s.ok()) set_->argument_separator = args[0];
  } else if (is("SecUnicodeMapFile")) {
    s = want(2, 2);
    const auto page = s.ok() ? ParseInt(args[1]) : std::nullopt;
    if (s.ok() && !page) s = InvalidArgument("expects a code page number");
    if (s.ok()) {
      std::filesystem::path p(args[0]);
      if (p.is_relative()) p = where.base_dir / p;
      auto map = UnicodeMap::Load(p, static_cast<int>(*page));
      if (!map.has_value()) {
        s = map.error();
      } else {
        set_->unicode_map = std::move(*map);
        set_->unicode_map_file = p.string();
        set_->unicode_code_page = static_cast<int>(*page);
      }
    }
  } else if (is("SecComponentSignature")) {
    s = want(1, 1);
    if (s.ok()) set_->component_signatures.push_back(args[0]);
  } else if (is("SecRuleRemoveById")) {
    s = want(1, 1024);
    if (s.ok()) {
      auto ids = ParseIdList(args, 0);
      if (!ids.has_value()) {
        s = ids.error();
      } else {
        set_->removed_ids.insert(set_->removed_ids.end(), ids->begin(), ids->end());
      }
    }
  } else if (is("SecRuleRemoveByTag") || is("SecRuleRemoveByMsg")) {
    s = want(1, 1);
    if (s.ok())
      (is("SecRuleRemoveByTag") ? set_->removed_tags : set_->removed_msgs).push_back(args[0]);
  } else if (is("SecRuleUpdateTargetById") || is("SecRuleUpdateTargetByTag") ||
             is("SecRuleUpdateTargetByMsg")) {
    s = want(2, 2);
    if (s.ok()) {
      auto vars = ParseVariables(args[1]);
      if (!vars.has_value()) {
        s = vars.error();
      } else if (is("SecRuleUpdateTargetById")) {
        auto ids = ParseIdList(args, 0);
        if (!ids.has_value() || args[0].find_first_of(", ") != std::string::npos) {
          auto one = ParseIdRange(args[0]);
          if (!one.has_value()) {
            s = one.error();
          } else {
            set_->target_updates_by_id.emplace_back(*one, std::move(*vars));
          }
        } else {
          set_->target_updates_by_id.emplace_back((*ids)[0], std::move(*vars));
        }
      } else if (is("SecRuleUpdateTargetByTag")) {
        set_->target_updates_by_tag.emplace_back(args[0], std::move(*vars));
      } else {
        set_->target_updates_by_msg.emplace_back(args[0], std::move(*vars));
      }
    }
  } else if (is("SecRuleUpdateActionById")) {
    s = want(2, 2);
    if (s.ok()) {
      auto range = ParseIdRange(args[0]);
      auto actions = SplitActions(args[1]);
      if (!range.has_value()) {
        s = range.error();
      } else if (!actions.has_value()) {
        s = actions.error();
      } else {
        auto rule = std::make_unique<Rule>();
        rule->kind = Rule::Kind::kAction;
        rule->where = {std::string(where.file), where.number};
        for (const std::string_view a : *actions) {
          if (s = ApplyAction(*rule, a); !s.ok()) break;
        }
        if (s.ok() && (rule->id != 0 || rule->phase_set || HasChain(*actions))) {
          s = InvalidArgument("id, phase and chain cannot be updated");
        }
        if (s.ok()) set_->action_updates_by_id.emplace_back(*range, std::move(rule));
      }
    }
  } else if (is("Include")) {
    s = want(1, 1);
    if (s.ok()) {
      s = Include(where, args[0]);
      // An error inside the included file already names its own location.
      if (!s.ok() && s.message().rfind("cannot open", 0) != 0 &&
          s.message().rfind("no file matches", 0) != 0) {
        return s;
      }
    }
  } else if (std::any_of(std::begin(kRecordedDirectives), std::end(kRecordedDirectives),
                         [&](std::string_view d) { return is(d); })) {
    std::string joined;
    for (const auto& a : args) joined += (joined.empty() ? "" : " ") + a;
    set_->recorded.emplace_back(directive, joined);
  } else {
    s = InvalidArgument("directive is not supported by Ward's SecLang engine");
  }
  return s.ok() ? s : fail(s);
}

Result<std::unique_ptr<RuleSet>> RuleParser::Finish() {
  // A chain left open at the end loads, as in libmodsecurity, and never matches there.
  if (open_chain_ != nullptr) open_chain_->chain_incomplete = true;
  open_chain_ = nullptr;
  return std::move(set_);
}

}  // namespace ward::seclang

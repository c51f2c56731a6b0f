#include "manager/api/event_batch.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "agent/modules/schemas.h"
#include "common/text.h"
#include "manager/api/http_types.h"

namespace ward::manager {

Result<std::string> GunzipBounded(std::string_view data, size_t max_out) {
  z_stream zs{};
  // 15 window bits + 32: detect gzip or zlib headers automatically.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return Internal("inflateInit2 failed");
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  if (data.size() > UINT32_MAX) {
    inflateEnd(&zs);
    return FailedPrecondition("compressed body too large");
  }
  char buf[65536];
  int rc = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    size_t got = sizeof buf - zs.avail_out;
    if (out.size() + got > max_out) {
      inflateEnd(&zs);
      return FailedPrecondition(
          fmt::format("body larger than {} bytes after decompression", max_out));
    }
    out.append(buf, got);
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members (RFC 1952 allows them): continue with the next member.
      if (zs.avail_in > 0) {
        if (inflateReset(&zs) != Z_OK) break;
        continue;
      }
      break;
    }
    if (zs.avail_in == 0 && got == 0) {
      rc = Z_BUF_ERROR;
      break;
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    return InvalidArgument(rc == Z_BUF_ERROR ? "gzip stream truncated" : "not valid gzip data");
  }
  return out;
}

namespace {

bool ValidEventId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
  }
  return true;
}

// One value the manager reads from an event, as found in the document.
struct Field {
  enum Kind { kAbsent, kNull, kString, kInteger, kOther } kind = kAbsent;
  std::string s;
  int64_t i = 0;
  void Clear() {
    kind = kAbsent;
    s.clear();
    i = 0;
  }
};

// The common fields (EventIndex::kCommonFields, in this order).
enum CommonField : size_t { kTs, kId, kModule, kAction, kSeverity };
constexpr std::string_view kCommonNames[EventIndex::kCommonFields] = {
    "@timestamp", "event.id", "event.module", "event.action", "event.severity"};

// Values of the index's fields, by field index.
using Fields = std::vector<Field>;

// The checks and the columns, from the fields (the same for a parsed document and for the
// streaming reader below).
Result<StoredEvent> FromFields(Fields& in, const EventIndex& index, const BatchOwner& owner) {
  Field& id = in[kId];
  if (id.kind == Field::kAbsent || id.kind == Field::kNull) {
    return InvalidArgument("event.id: missing");
  }
  if (id.kind != Field::kString || !ValidEventId(id.s)) {
    return InvalidArgument("event.id: expected 1..64 characters of [0-9A-Za-z-]");
  }
  const Field& ts = in[kTs];
  if (ts.kind == Field::kAbsent || ts.kind == Field::kNull) {
    return InvalidArgument("@timestamp: missing");
  }
  std::optional<TimePoint> when;
  if (ts.kind == Field::kString) when = ParseTimestamp(ts.s);
  if (!when) return InvalidArgument("@timestamp: expected an RFC 3339 timestamp");
  Field& module = in[kModule];
  if (module.kind == Field::kAbsent || module.kind == Field::kNull) {
    return InvalidArgument("event.module: missing");
  }
  if (module.kind != Field::kString || module.s.empty() || module.s.size() > 64 ||
      module.s.find('\0') != std::string::npos) {
    return InvalidArgument("event.module: expected a string of 1..64 bytes");
  }
  Field& action = in[kAction];
  if (action.kind != Field::kAbsent && action.kind != Field::kNull &&
      (action.kind != Field::kString || action.s.size() > 128 ||
       action.s.find('\0') != std::string::npos)) {
    return InvalidArgument("event.action: expected a string of at most 128 bytes");
  }
  int severity = 0;
  const Field& sev = in[kSeverity];
  if (sev.kind != Field::kAbsent && sev.kind != Field::kNull) {
    if (sev.kind != Field::kInteger || sev.i < 0 || sev.i > 4) {
      return InvalidArgument("event.severity: expected an integer 0..4");
    }
    severity = static_cast<int>(sev.i);
  }
  auto has_text = [&](size_t k) { return in[k].kind == Field::kString && !in[k].s.empty(); };
  const EventIndex::Columns& columns = index.ColumnsOf(module.s);
  StoredEvent e;
  // The columns first: a field may be declared twice (in both, or as a common one too).
  // A declared field's value is taken (moved), a common field's copied: it is read below.
  auto take = [&](size_t k, std::string& to) {
    if (k < EventIndex::kCommonFields) {
      to = in[k].s;
    } else {
      to = std::move(in[k].s);
    }
  };
  for (size_t k : columns.path) {
    if (has_text(k)) {
      take(k, e.path);
      break;
    }
  }
  for (size_t k : columns.rule) {
    if (!has_text(k)) continue;
    if (e.rule.empty()) {
      take(k, e.rule);
    } else {
      e.rule += ' ';
      e.rule += in[k].s;
    }
  }
  e.id = std::move(id.s);
  e.tenant_id = owner.tenant_id;
  e.agent_id = owner.agent_id;
  e.timestamp = *when;
  e.module = std::move(module.s);
  e.action = action.kind == Field::kString ? std::move(action.s) : std::string();
  e.severity = severity;
  // The search columns hold text only (a NUL byte cannot be stored in PostgreSQL TEXT); the
  // document keeps the exact value (JSON escapes it).
  for (std::string* col : {&e.path, &e.rule}) {
    col->erase(std::remove(col->begin(), col->end(), '\0'), col->end());
    if (col->size() > 4096) col->resize(4096);
    if (!IsValidUtf8(*col)) *col = LossyUtf8(*col);
  }
  return e;
}

Field FieldOf(const nlohmann::json& doc, const std::vector<std::string>& keys) {
  Field out;
  const nlohmann::json* n = &doc;
  for (const auto& k : keys) {
    if (!n->is_object()) return out;
    auto it = n->find(k);
    if (it == n->end()) return out;
    n = &*it;
  }
  if (n->is_null()) {
    out.kind = Field::kNull;
  } else if (n->is_string()) {
    out.kind = Field::kString;
    out.s = n->get<std::string>();
  } else if (n->is_number_integer()) {
    out.kind = Field::kInteger;
    out.i = n->get<int64_t>();
  } else {
    out.kind = Field::kOther;
  }
  return out;
}

constexpr int kMaxDepth = 64;

// Reads the fields of one NDJSON line without building a document: a SAX handler that follows
// the object keys down to the depth of the deepest field. Duplicate keys behave as in a parsed
// document (the last one wins, and a repeated key forgets what the earlier one held below it).
// One reader serves a whole batch (Reset() between lines), so its buffers are reused.
class FieldReader final : public nlohmann::json::json_sax_t {
 public:
  explicit FieldReader(const EventIndex& index)
      : fields(index.size()), index_(index), keys_(index.max_depth()) {
    stack_.reserve(16);
  }

  Fields fields;
  bool root_object = false;
  bool has_agent = false;
  bool too_deep = false;

  void Reset() {
    for (auto& f : fields) f.Clear();
    root_object = has_agent = too_deep = false;
    stack_.clear();
  }

  bool null() override {
    return Scalar([](Field& f) { f.kind = Field::kNull; });
  }
  bool boolean(bool) override {
    return Scalar([](Field& f) { f.kind = Field::kOther; });
  }
  bool number_integer(number_integer_t v) override {
    return Scalar([v](Field& f) {
      f.kind = Field::kInteger;
      f.i = v;
    });
  }
  bool number_unsigned(number_unsigned_t v) override {
    return Scalar([v](Field& f) {
      f.kind = Field::kInteger;
      f.i = static_cast<int64_t>(v);  // as nlohmann's get<int64_t>() (out of range: refused)
    });
  }
  bool number_float(number_float_t, const string_t&) override {
    return Scalar([](Field& f) { f.kind = Field::kOther; });
  }
  bool string(string_t& v) override {
    return Scalar([&v](Field& f) {
      f.kind = Field::kString;
      f.s.swap(v);
    });
  }
  bool binary(binary_t&) override {
    return Scalar([](Field& f) { f.kind = Field::kOther; });
  }
  bool start_object(std::size_t) override { return Open(true); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(false); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    const size_t depth = stack_.size();
    if (depth > static_cast<size_t>(kMaxDepth)) return Deep();
    if (depth == 1 && k == "agent") has_agent = true;
    if (depth == 0 || depth > keys_.size() || !AllObjects(depth)) return true;
    keys_[depth - 1].swap(k);
    // A repeated key replaces the earlier value: forget what was read under it.
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].kind != Field::kAbsent && index_.keys(i).size() >= depth &&
          PrefixMatches(index_.keys(i), depth)) {
        fields[i].Clear();
      }
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool AllObjects(size_t depth) const {
    for (size_t j = 0; j < depth; ++j) {
      if (!stack_[j]) return false;
    }
    return true;
  }
  // True when the first n keys of `keys` are the current ones.
  bool PrefixMatches(const std::vector<std::string>& keys, size_t n) const {
    for (size_t j = n; j-- > 0;) {
      if (keys[j] != keys_[j]) return false;
    }
    return true;
  }
  // The field a value at the current position fills, if any.
  Field* Target() {
    const size_t depth = stack_.size();
    if (depth == 0 || depth > keys_.size() || !AllObjects(depth)) return nullptr;
    for (size_t i = 0; i < fields.size(); ++i) {
      const auto& keys = index_.keys(i);
      if (keys.size() == depth && PrefixMatches(keys, depth)) return &fields[i];
    }
    return nullptr;
  }
  template <typename F>
  bool Scalar(F&& set) {
    if (stack_.size() > static_cast<size_t>(kMaxDepth)) return Deep();
    if (Field* f = Target()) {
      f->Clear();
      set(*f);
    }
    return true;
  }
  bool Open(bool object) {
    if (stack_.size() > static_cast<size_t>(kMaxDepth)) return Deep();
    if (stack_.empty()) {
      root_object = object;
    } else if (Field* f = Target()) {
      f->Clear();
      f->kind = Field::kOther;
    }
    stack_.push_back(object);
    return true;
  }
  bool Close() {
    if (!stack_.empty()) stack_.pop_back();
    return true;
  }
  bool Deep() {
    too_deep = true;
    return false;
  }

  const EventIndex& index_;
  std::vector<bool> stack_;        // open containers, true = object
  std::vector<std::string> keys_;  // the current key at each depth (up to the deepest field)
};

// The validated line as the stored document, with the manager's agent block appended: the
// agent's own bytes are kept (no second serialisation). Only for a line that is a JSON object
// without an "agent" key (one with its own is re-serialised from the parsed document instead).
std::string WithAgent(std::string_view line, const BatchOwner& owner) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!line.empty() && ws(line.front())) line.remove_prefix(1);
  while (!line.empty() && ws(line.back())) line.remove_suffix(1);
  // A parsed object ends with '}' and is not empty (event.id is required).
  line.remove_suffix(1);
  std::string out;
  out.reserve(line.size() + owner.agent_id.size() + owner.agent_name.size() + 32);
  out.append(line);
  out += ",\"agent\":";
  out += nlohmann::json{{"id", owner.agent_id}, {"name", owner.agent_name}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '}';
  return out;
}

}  // namespace

Result<StoredEvent> ToStoredEvent(nlohmann::json doc, const BatchOwner& owner,
                                  const EventIndex& index) {
  if (!doc.is_object()) return InvalidArgument("expected a JSON object");
  Fields fields(index.size());
  for (size_t i = 0; i < index.size(); ++i) fields[i] = FieldOf(doc, index.keys(i));
  WARD_ASSIGN_OR_RETURN(StoredEvent e, FromFields(fields, index, owner));
  // The manager, not the body, says which agent this is.
  if (!doc.contains("agent") || !doc["agent"].is_object()) doc["agent"] = nlohmann::json::object();
  doc["agent"]["id"] = owner.agent_id;
  doc["agent"]["name"] = owner.agent_name;
  e.doc = std::move(doc);
  return e;
}

ParsedBatch ParseEventBatch(std::string_view ndjson, const BatchOwner& owner,
                            const EventIndex& index) {
  ParsedBatch out;
  FieldReader reader(index);
  std::unordered_set<std::string> seen;
  size_t pos = 0;
  int line_no = 0;
  while (pos < ndjson.size()) {
    size_t nl = ndjson.find('\n', pos);
    if (nl == std::string_view::npos) nl = ndjson.size();
    std::string_view line = ndjson.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool blank = true;
    for (char c : line) blank &= (c == ' ' || c == '\t');
    if (blank) continue;
    ++out.lines;
    // Read the fields without building a document; the line itself becomes the stored document.
    // The JSON reader accepts only valid UTF-8 (strings are checked byte by byte, and nothing
    // but ASCII may appear outside them), so a line it accepts needs no separate check.
    // A raw NUL byte is never JSON, but nlohmann's reader takes it for the end of the input
    // (`{...}\0junk` would pass, and the stored line would carry the junk).
    if (line.find('\0') != std::string_view::npos) {
      out.rejected.push_back({line_no, "not JSON"});
      continue;
    }
    reader.Reset();
    bool parsed = nlohmann::json::sax_parse(line, &reader);
    if (reader.too_deep) {
      out.rejected.push_back({line_no, "nested deeper than 64 levels"});
      continue;
    }
    if (!parsed) {
      out.rejected.push_back({line_no, IsValidUtf8(line) ? "not JSON" : "not valid UTF-8"});
      continue;
    }
    if (!reader.root_object) {
      out.rejected.push_back({line_no, "expected a JSON object"});
      continue;
    }
    Result<StoredEvent> e = FromFields(reader.fields, index, owner);
    if (e && reader.has_agent) {
      // The body names an agent: replace it in a parsed copy (rare; agents do not send one).
      e = ToStoredEvent(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false), owner,
                        index);
    } else if (e) {
      e->doc_text = WithAgent(line, owner);
    }
    if (!e) {
      out.rejected.push_back({line_no, e.error().message()});
      continue;
    }
    if (!seen.insert(e->id).second) {
      ++out.duplicates_in_batch;
      continue;
    }
    out.events.push_back(std::move(*e));
  }
  return out;
}

EventIndex::EventIndex(std::span<const agent::ModuleSchema> schemas) {
  for (std::string_view name : kCommonNames) FieldIndex(name);
  for (const auto& schema : schemas) {
    Columns columns;
    for (std::string_view name : schema.indexed_fields) {
      size_t k = FieldIndex(name);
      bool rule = name.starts_with("rule.");
      (rule ? columns.rule : columns.path).push_back(k);
      auto& all = rule ? unknown_.rule : unknown_.path;
      if (std::find(all.begin(), all.end(), k) == all.end()) all.push_back(k);
    }
    modules_.emplace_back(std::string(schema.name), std::move(columns));
  }
}

size_t EventIndex::FieldIndex(std::string_view dotted) {
  std::vector<std::string> keys;
  if (dotted.starts_with('@')) {
    keys.emplace_back(dotted);  // "@timestamp": one top-level key
  } else {
    for (std::string_view rest = dotted;;) {
      size_t dot = rest.find('.');
      keys.emplace_back(rest.substr(0, dot));
      WARD_CHECK(!keys.back().empty());
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  }
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == keys) return i;
  }
  max_depth_ = std::max(max_depth_, keys.size());
  keys_.push_back(std::move(keys));
  return keys_.size() - 1;
}

const EventIndex::Columns& EventIndex::ColumnsOf(std::string_view module) const {
  for (const auto& [name, columns] : modules_) {
    if (name == module) return columns;
  }
  return unknown_;
}

const EventIndex& EventIndex::Builtin() {
  static const EventIndex kIndex(agent::ModuleSchemas());
  return kIndex;
}

}  // namespace ward::manager

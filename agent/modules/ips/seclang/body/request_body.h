// Request-body processors of Ward's SecLang engine: multipart/form-data, JSON and XML, with
// libmodsecurity 3.0.9's results byte for byte — argument names and values, files, the
// MULTIPART_* flags, REQBODY_ERROR / REQBODY_PROCESSOR_ERROR and their messages, and the body
// limits (docs/ips.md, "Request bodies"). The URL-encoded parser belongs to the evaluator; the
// limit that gates it (SecRequestBodyNoFilesLimit) is decided here.
//
// Use, per transaction (REQUIRES: one thread at a time per BodyProcessor / BodyResult):
//   BodyProcessor proc;                       // one per engine thread, reused
//   BodyResult result;                        // one per engine thread, Reset() per transaction
//   proc.Process(input, settings, &result);   // after phase 1, before phase 2
// `result` then holds views into its own arena (valid until its next Reset()/Process()), and the
// evaluator fills its collections from it. Buffers keep their capacity: a warm thread processes
// multipart and JSON bodies without heap allocation (counted in allocation_test.cc; XML
// excepted: libxml2 builds its tree).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ward::seclang::body {

// What libmodsecurity 3.0.9 chooses as the body processor: `ctl:requestBodyProcessor=XML|JSON`
// (the "processor", which wins), else the request's Content-Type (multipart/form-data or
// application/x-www-form-urlencoded, compared case-insensitively as a prefix; the last
// Content-Type header decides), else `ctl:requestBodyProcessor=URLENCODED`. REQBODY_PROCESSOR
// ("MULTIPART", "URLENCODED", "JSON", "XML") is the evaluator's to set as those steps happen.
enum class BodyProcessorKind : uint8_t { kNone, kUrlEncoded, kMultipart, kJson, kXml };

// The settings that change a body's result (from the rule set's directives).
struct BodySettings {
  // SecRequestBodyNoFilesLimit; nullopt when the directive is absent (then no such limit).
  std::optional<uint64_t> no_files_limit;
  // SecArgumentsLimit; nullopt when absent. Applies to JSON arguments only (3.0.9 adds
  // multipart arguments without the check) — and to the evaluator's URL-encoded ones.
  std::optional<uint64_t> arguments_limit;
  // SecRequestBodyJsonDepthLimit; 3.0.9's default is 10000.
  double json_depth_limit = 10000.0;
};

// One request's input to Process().
struct BodyInput {
  BodyProcessorKind kind = BodyProcessorKind::kNone;
  // The Content-Type header's value as 3.0.9 resolves it (REQUEST_HEADERS' resolveFirst
  // ("Content-Type")); nullopt when the request has none. Multipart reads its boundary from it;
  // a multipart body without it gives no MULTIPART_* flags and no error.
  std::optional<std::string_view> content_type;
  // The body as kept after SecRequestBodyLimit (see AppendRequestBody below).
  std::string_view body;
  // How many arguments ARGS already holds (the query string's), for SecArgumentsLimit (JSON).
  size_t args_before = 0;
};

struct NameValue {
  std::string_view name;
  std::string_view value;
};

// One file part of a multipart body: FILES (name → filename), FILES_NAMES (name → name),
// FILES_SIZES (name → size in decimal), FILES_TMP_CONTENT (name → "": 3.0.9 keeps the content
// only with upload storage on, which Ward does not have). FILES_TMPNAMES stays empty.
struct FileEntry {
  std::string_view name;
  std::string_view filename;
  std::string_view size;  // decimal text, as 3.0.9 writes it
  uint64_t size_bytes = 0;
};

// A variable that 3.0.9 sets to a single value ("0"/"1" or a message); `set` false when the
// library leaves it unset. Note: in 3.0.9 such an "anchored" variable always exists — unset,
// it reads as the empty string (so `MULTIPART_STRICT_ERROR "!@eq 0"` sees "").
struct ScalarVar {
  bool set = false;
  std::string_view value;
};

// The MULTIPART_* flags, set (each "0" or "1") exactly when 3.0.9 runs its multipart processor
// to completion (a multipart body with a Content-Type header).
struct MultipartFlags {
  bool set = false;
  int strict_error = 0;            // MULTIPART_STRICT_ERROR
  int unmatched_boundary = 0;      // MULTIPART_UNMATCHED_BOUNDARY (0, 1, or 2 as 3.0.9 sets it)
  int data_before = 0;             // MULTIPART_DATA_BEFORE
  int data_after = 0;              // MULTIPART_DATA_AFTER
  int boundary_quoted = 0;         // MULTIPART_BOUNDARY_QUOTED
  int boundary_whitespace = 0;     // MULTIPART_BOUNDARY_WHITESPACE
  int header_folding = 0;          // MULTIPART_HEADER_FOLDING
  int lf_line = 0;                 // MULTIPART_LF_LINE
  int crlf_lf_lines = 0;           // MULTIPART_CRLF_LF_LINES
  int missing_semicolon = 0;       // MULTIPART_MISSING_SEMICOLON
  int invalid_quoting = 0;         // MULTIPART_INVALID_QUOTING
  int invalid_part = 0;            // MULTIPART_INVALID_PART
  int invalid_header_folding = 0;  // MULTIPART_INVALID_HEADER_FOLDING
  // MULTIPART_FILE_LIMIT_EXCEEDED is never set by 3.0.9 (it reads as empty); without upload
  // storage its flag stays 0, which MULTIPART_STRICT_ERROR includes.
};

class XmlDocument;

// Everything one body gives. Views point into this object's arena (or to static text) and stay
// valid until the next Reset()/Process() on it; nothing points into BodyInput::body.
class BodyResult {
 public:
  BodyResult();
  ~BodyResult();
  BodyResult(const BodyResult&) = delete;
  BodyResult& operator=(const BodyResult&) = delete;

  // Forgets the previous body, keeping every buffer's capacity.
  void Reset();

  // Arguments in the order 3.0.9 adds them. Multipart: non-file parts, added to ARGS and
  // ARGS_POST. JSON: added to ARGS only (3.0.9 adds them as "JSON" arguments, not to ARGS_POST),
  // names `json.a.b`, `json.a.array_0`, values as their text (`true`, `false`, "" for null,
  // numbers as written). Note: libmodsecurity stores collections in an unordered_multimap; the
  // order rules see is that container's, not this one.
  std::vector<NameValue> args;
  bool args_are_post = false;  // true: also ARGS_POST (multipart)
  // What the arguments added to ARGS_COMBINED_SIZE (JSON only: 3.0.9 does not count multipart
  // arguments there).
  uint64_t args_combined_size_added = 0;
  // True when the evaluator must parse `body` as URL-encoded ARGS_POST (kUrlEncoded and the
  // no-files limit not exceeded).
  bool parse_urlencoded = false;

  std::vector<FileEntry> files;  // in order
  // FILES_COMBINED_SIZE; set when at least one file part exists.
  ScalarVar files_combined_size;
  std::vector<NameValue> multipart_names;         // MULTIPART_NAME: value → value
  std::vector<NameValue> multipart_filenames;     // MULTIPART_FILENAME: value → value
  std::vector<NameValue> multipart_part_headers;  // MULTIPART_PART_HEADERS: part name → line
  MultipartFlags multipart;
  // A Content-Disposition value ended inside its quotes. There 3.0.9 steps over the string's
  // terminating NUL and parses whatever heap bytes follow (undefined behaviour, its results
  // depend on the allocator's history); Ward ends the header there (docs/ips.md, deliberate
  // differences). Reported so that a comparison can tell this case apart.
  bool multipart_unterminated_quote = false;

  ScalarVar reqbody_error;                // REQBODY_ERROR
  ScalarVar reqbody_error_msg;            // REQBODY_ERROR_MSG
  ScalarVar reqbody_processor_error;      // REQBODY_PROCESSOR_ERROR
  ScalarVar reqbody_processor_error_msg;  // REQBODY_PROCESSOR_ERROR_MSG
  // INBOUND_DATA_ERROR: "1" when this is true or AppendRequestBody said so, else "0" (3.0.9
  // sets "0" at the start of phase 2 when nothing set it before).
  bool inbound_data_error = false;

  // The XML body's text with its entity references expanded exceeds max(1 MB, 10x the body)
  // (one large entity referenced many times, which libxml2 2.9.14 accepts): 3.0.9 would give
  // that whole text as XML:/*; Ward drops the document and sets REQBODY_ERROR with "XML parsing
  // error: XML: Failed parsing document (entity expansion over the limit)." (deliberate
  // difference, docs/ips.md).
  bool xml_amplification = false;

  // The parsed XML document (kXml, when libxml2 produced one — also for a body that is not
  // well formed, as in 3.0.9); nullptr otherwise.
  const XmlDocument* xml() const { return xml_.get(); }

  // Copies `text` into the arena; the view lives as long as the arena's contents.
  std::string_view Store(std::string_view text);

 private:
  friend class BodyProcessor;
  struct Arena;
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<XmlDocument> xml_;
};

// A parsed XML body (libxml2, parsed the way 3.0.9 parses it: push parser, no entity
// substitution, no network, external entities not loaded).
class XmlDocument {
 public:
  ~XmlDocument();
  XmlDocument(const XmlDocument&) = delete;
  XmlDocument& operator=(const XmlDocument&) = delete;

  // The values of `XML:<xpath>` as 3.0.9 gives them: the text content of each node the XPath
  // selects, in document order; `namespaces` are the rule's `xmlns:prefix=href` actions
  // (prefix, href). Appends to `out` views into `result`'s arena. An XPath that libxml2
  // cannot evaluate, or a namespace it refuses, gives nothing (as in 3.0.9).
  void Evaluate(std::string_view xpath,
                const std::vector<std::pair<std::string, std::string>>& namespaces,
                BodyResult* result, std::vector<std::string_view>* out) const;

 private:
  friend class BodyProcessor;
  explicit XmlDocument(void* doc) : doc_(doc) {}
  void* doc_;  // xmlDocPtr
};

// Runs the body processor 3.0.9 would run for `input` and fills `result` (Reset first).
// Thread-compatible: one instance per thread; no state survives between calls except buffers.
class BodyProcessor {
 public:
  BodyProcessor();
  ~BodyProcessor();
  BodyProcessor(const BodyProcessor&) = delete;
  BodyProcessor& operator=(const BodyProcessor&) = delete;

  void Process(const BodyInput& input, const BodySettings& settings, BodyResult* result);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// SecRequestBodyLimit / SecRequestBodyLimitAction as 3.0.9's appendRequestBody applies them to
// each chunk the server hands over.
enum class BodyLimitAction : uint8_t { kReject, kProcessPartial };
struct BodyLimitSettings {
  uint64_t limit = 0;  // 0: no limit (3.0.9 checks `limit > 0`)
  BodyLimitAction action = BodyLimitAction::kReject;
  bool engine_on = true;  // SecRuleEngine On (DetectionOnly never rejects)
};
struct AppendDecision {
  size_t keep = 0;                  // how many bytes of the chunk to append to the body
  bool inbound_data_error = false;  // INBOUND_DATA_ERROR becomes "1"
  // 3.0.9's intervention: status 403, log "Request body limit is marked to reject the request".
  bool reject = false;
};
AppendDecision AppendRequestBody(uint64_t current_size, size_t chunk_size,
                                 const BodyLimitSettings& settings);

}  // namespace ward::seclang::body

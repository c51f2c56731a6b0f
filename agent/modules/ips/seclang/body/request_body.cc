#include "agent/modules/ips/seclang/body/request_body.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <yajl/yajl_parse.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "agent/modules/ips/seclang/body/multipart.h"

namespace ward::seclang::body {

// ---------------------------------------------------------------------------------------------
// Arena: blocks kept across Reset(), so a warm thread copies into memory it already has.

struct BodyResult::Arena {
  static constexpr size_t kBlock = 64 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks;
  std::vector<size_t> sizes;
  size_t current = 0;
  size_t used = 0;

  std::string_view Store(std::string_view text) {
    if (text.empty()) return {};
    while (current < blocks.size() && used + text.size() > sizes[current]) {
      current++;
      used = 0;
    }
    if (current == blocks.size()) {
      const size_t n = std::max(kBlock, text.size());
      blocks.push_back(std::make_unique<char[]>(n));
      sizes.push_back(n);
      used = 0;
    }
    char* dst = blocks[current].get() + used;
    std::memcpy(dst, text.data(), text.size());
    used += text.size();
    return {dst, text.size()};
  }
  void Reset() {
    current = 0;
    used = 0;
  }
};

BodyResult::BodyResult() : arena_(std::make_unique<Arena>()) {}
BodyResult::~BodyResult() = default;

void BodyResult::Reset() {
  arena_->Reset();
  xml_.reset();
  args.clear();
  args_are_post = false;
  args_combined_size_added = 0;
  parse_urlencoded = false;
  files.clear();
  files_combined_size = {};
  multipart_names.clear();
  multipart_filenames.clear();
  multipart_part_headers.clear();
  multipart = {};
  multipart_unterminated_quote = false;
  xml_amplification = false;
  reqbody_error = {};
  reqbody_error_msg = {};
  reqbody_processor_error = {};
  reqbody_processor_error_msg = {};
  inbound_data_error = false;
}

std::string_view BodyResult::Store(std::string_view text) { return arena_->Store(text); }

// ---------------------------------------------------------------------------------------------
// XML: libxml2 driven as 3.0.9 drives it.

namespace {

xmlParserInputBufferPtr NoExternalEntity(const char* /*uri*/, xmlCharEncoding /*enc*/) {
  return nullptr;
}
void NullError(void* /*ctx*/, const char* /*msg*/, ...) {}

// Whether the text under `node` (and its siblings), internal entity references expanded as
// xmlNodeGetContent expands them, stays within `*budget` bytes; stops as soon as it does not,
// so the walk costs at most the budget.
bool ExpandsWithin(xmlNodePtr node, size_t* budget, int depth) {
  if (depth > 1024) return false;
  for (xmlNodePtr n = node; n != nullptr; n = n->next) {
    switch (n->type) {
      case XML_TEXT_NODE:
      case XML_CDATA_SECTION_NODE: {
        const auto len = static_cast<size_t>(xmlStrlen(n->content));
        if (len > *budget) return false;
        *budget -= len;
        break;
      }
      case XML_ENTITY_REF_NODE: {
        xmlEntityPtr ent = xmlGetDocEntity(n->doc, n->name);
        if (ent != nullptr && !ExpandsWithin(ent->children, budget, depth + 1)) return false;
        break;
      }
      case XML_ELEMENT_NODE:
        for (xmlAttrPtr a = n->properties; a != nullptr; a = a->next) {
          if (!ExpandsWithin(a->children, budget, depth + 1)) return false;
        }
        if (!ExpandsWithin(n->children, budget, depth + 1)) return false;
        break;
      default:
        break;
    }
  }
  return true;
}

}  // namespace

XmlDocument::~XmlDocument() { xmlFreeDoc(static_cast<xmlDocPtr>(doc_)); }

void XmlDocument::Evaluate(std::string_view xpath,
                           const std::vector<std::pair<std::string, std::string>>& namespaces,
                           BodyResult* result, std::vector<std::string_view>* out) const {
  xmlSetGenericErrorFunc(nullptr, NullError);
  xmlXPathContextPtr ctx = xmlXPathNewContext(static_cast<xmlDocPtr>(doc_));
  if (ctx == nullptr) return;
  for (const auto& [prefix, href] : namespaces) {
    if (xmlXPathRegisterNs(ctx, reinterpret_cast<const xmlChar*>(prefix.c_str()),
                           reinterpret_cast<const xmlChar*>(href.c_str())) != 0) {
      xmlXPathFreeContext(ctx);
      return;
    }
  }
  const std::string expr(xpath);
  xmlXPathObjectPtr obj =
      xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(expr.c_str()), ctx);
  if (obj == nullptr) {
    xmlXPathFreeContext(ctx);
    return;
  }
  xmlNodeSetPtr nodes = obj->nodesetval;
  if (nodes != nullptr) {
    for (int i = 0; i < nodes->nodeNr; i++) {
      xmlChar* content = xmlNodeGetContent(nodes->nodeTab[i]);
      if (content != nullptr) {
        out->push_back(result->Store(reinterpret_cast<const char*>(content)));
        xmlFree(content);
      }
    }
  }
  xmlXPathFreeObject(obj);
  xmlXPathFreeContext(ctx);
}

// ---------------------------------------------------------------------------------------------
// JSON: yajl (the parser 3.0.9 uses) with 3.0.9's callbacks and argument names.

namespace {

// yajl's memory: bump allocation from blocks kept across bodies (rewound per body, nothing
// freed), so a warm thread parses JSON without touching the heap. realloc copies unless the
// size still fits; each allocation carries its size in the 16 bytes before it.
class BumpHeap {
 public:
  void Reset() {
    block_ = 0;
    used_ = 0;
  }
  void* Malloc(size_t n) {
    n = (n + 15) & ~static_cast<size_t>(15);
    const size_t need = n + 16;
    while (block_ < blocks_.size() && used_ + need > sizes_[block_]) {
      ++block_;
      used_ = 0;
    }
    if (block_ == blocks_.size()) {
      const size_t size = std::max<size_t>(64 * 1024, need);
      blocks_.push_back(std::make_unique<char[]>(size));
      sizes_.push_back(size);
      used_ = 0;
    }
    char* p = blocks_[block_].get() + used_;
    std::memcpy(p, &n, sizeof n);
    used_ += need;
    return p + 16;
  }
  void* Realloc(void* old, size_t n) {
    if (old == nullptr) return Malloc(n);
    size_t old_n = 0;
    std::memcpy(&old_n, static_cast<char*>(old) - 16, sizeof old_n);
    if (n <= old_n) return old;
    void* p = Malloc(n);
    std::memcpy(p, old, old_n);
    return p;
  }

  static void* YajlMalloc(void* ctx, size_t n) { return static_cast<BumpHeap*>(ctx)->Malloc(n); }
  static void* YajlRealloc(void* ctx, void* p, size_t n) {
    return static_cast<BumpHeap*>(ctx)->Realloc(p, n);
  }
  static void YajlFree(void* /*ctx*/, void* /*p*/) {}

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<size_t> sizes_;
  size_t block_ = 0;
  size_t used_ = 0;
};

class JsonParser {
 public:
  void Run(std::string_view body, const BodySettings& settings, size_t args_before,
           BodyResult* result, std::string* error) {
    result_ = result;
    args_before_ = args_before;
    arguments_limit_ = settings.arguments_limit;
    max_depth_ = settings.json_depth_limit;
    depth_ = 0;
    depth_exceeded_ = false;
    used_ = 0;
    current_key_.clear();

    static const yajl_callbacks kCallbacks = {&JsonParser::OnNull,
                                              &JsonParser::OnBoolean,
                                              nullptr,
                                              nullptr,
                                              &JsonParser::OnNumber,
                                              &JsonParser::OnString,
                                              &JsonParser::OnStartMap,
                                              &JsonParser::OnMapKey,
                                              &JsonParser::OnEndMap,
                                              &JsonParser::OnStartArray,
                                              &JsonParser::OnEndArray};
    heap_.Reset();
    yajl_alloc_funcs funcs = {&BumpHeap::YajlMalloc, &BumpHeap::YajlRealloc, &BumpHeap::YajlFree,
                              &heap_};
    yajl_handle h = yajl_alloc(&kCallbacks, &funcs, this);
    yajl_config(h, yajl_allow_partial_values, 0);
    const auto* data = reinterpret_cast<const unsigned char*>(body.data());
    // 3.0.9 passes the size as an unsigned int.
    const auto size = static_cast<unsigned int>(body.size());
    if (yajl_parse(h, data, size) != yajl_status_ok) {
      SetError(h, data, size, error);
    }
    if (yajl_complete_parse(h) != yajl_status_ok) {
      SetError(h, nullptr, 0, error);
    }
    yajl_free(h);
  }

 private:
  struct Container {
    std::string name;
    bool array = false;
    size_t counter = 0;
  };

  void SetError(yajl_handle h, const unsigned char* data, size_t size, std::string* error) {
    unsigned char* e = yajl_get_error(h, 0, data, size);
    error->assign(reinterpret_cast<const char*>(e));
    if (depth_exceeded_) error->append(". Parsing depth limit exceeded");
    yajl_free_error(h, e);
  }

  // 3.0.9's getCurrentKey(): "json" at the top, "" inside an array, "empty-key" for an empty
  // key in a map; a non-empty key is consumed.
  // The view is valid until the next call.
  std::string_view CurrentKey() {
    if (used_ == 0) return "json";
    if (current_key_.empty()) {
      if (containers_[used_ - 1].array) return "";
      return "empty-key";
    }
    key_.swap(current_key_);  // both keep their capacity
    current_key_.clear();
    return key_;
  }

  int AddArgument(std::string_view value) {
    path_.clear();
    for (size_t i = 0; i < used_; ++i) {
      path_ += containers_[i].name;
      if (containers_[i].array) {
        path_ += ".array_";
        path_ += std::to_string(containers_[i].counter);
      } else {
        path_ += ".";
      }
    }
    if (used_ > 0 && containers_[used_ - 1].array) {
      containers_[used_ - 1].counter++;
    } else {
      path_ += CurrentKey();
    }
    if (arguments_limit_ && args_before_ + result_->args.size() >= *arguments_limit_) return 0;
    result_->args.push_back({result_->Store(path_), result_->Store(value)});
    result_->args_combined_size_added += path_.size() + value.size();
    return 1;
  }

  int Push(bool array) {
    const std::string_view name = CurrentKey();
    if (containers_.size() <= used_) containers_.emplace_back();
    Container& c = containers_[used_++];
    c.name.assign(name);
    c.array = array;
    c.counter = 0;
    depth_++;
    if (static_cast<double>(depth_) > max_depth_) {
      depth_exceeded_ = true;
      return 0;
    }
    return 1;
  }
  int Pop() {
    if (used_ == 0) {
      depth_--;
      return 1;
    }
    used_--;
    if (used_ > 0 && containers_[used_ - 1].array) containers_[used_ - 1].counter++;
    depth_--;
    return 1;
  }

  static JsonParser* Self(void* ctx) { return static_cast<JsonParser*>(ctx); }
  static int OnNull(void* ctx) { return Self(ctx)->AddArgument(""); }
  static int OnBoolean(void* ctx, int v) { return Self(ctx)->AddArgument(v ? "true" : "false"); }
  static int OnNumber(void* ctx, const char* v, size_t n) {
    return Self(ctx)->AddArgument(std::string_view(v, n));
  }
  static int OnString(void* ctx, const unsigned char* v, size_t n) {
    return Self(ctx)->AddArgument(std::string_view(reinterpret_cast<const char*>(v), n));
  }
  static int OnMapKey(void* ctx, const unsigned char* k, size_t n) {
    Self(ctx)->current_key_.assign(reinterpret_cast<const char*>(k), n);
    return 1;
  }
  static int OnStartMap(void* ctx) { return Self(ctx)->Push(false); }
  static int OnEndMap(void* ctx) { return Self(ctx)->Pop(); }
  static int OnStartArray(void* ctx) { return Self(ctx)->Push(true); }
  static int OnEndArray(void* ctx) { return Self(ctx)->Pop(); }

  BodyResult* result_ = nullptr;
  size_t args_before_ = 0;
  std::optional<uint64_t> arguments_limit_;
  double max_depth_ = 10000.0;
  int64_t depth_ = 0;
  bool depth_exceeded_ = false;
  std::vector<Container> containers_;
  size_t used_ = 0;
  std::string current_key_;
  std::string key_;
  std::string path_;
  BumpHeap heap_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct BodyProcessor::State {
  MultipartParser multipart;
  JsonParser json;
  std::string error;
  std::string message;
};

BodyProcessor::BodyProcessor() : state_(std::make_unique<State>()) {}
BodyProcessor::~BodyProcessor() = default;

namespace {

// The text an XML body may expand to through entities: 10x the body (libxml2's own
// amplification factor), at least 1 MB.
constexpr size_t kXmlExpansionFloor = 1024 * 1024;

constexpr std::string_view kNoFilesLimitMsg =
    "Request body excluding files is bigger than the maximum expected.";

void SetErrors(BodyResult* r, std::string_view prefix, const std::string& error,
               std::string* scratch) {
  scratch->assign(prefix).append(error);
  const std::string_view m = r->Store(*scratch);
  r->reqbody_error = {true, "1"};
  r->reqbody_processor_error = {true, "1"};
  r->reqbody_error_msg = {true, m};
  r->reqbody_processor_error_msg = {true, m};
}

void SetNoErrors(BodyResult* r) {
  r->reqbody_error = {true, "0"};
  r->reqbody_processor_error = {true, "0"};
}

}  // namespace

void BodyProcessor::Process(const BodyInput& input, const BodySettings& settings,
                            BodyResult* result) {
  result->Reset();
  std::string& error = state_->error;
  error.clear();

  bool no_files_exceeded = false;
  if ((input.kind == BodyProcessorKind::kUrlEncoded || input.kind == BodyProcessorKind::kJson ||
       input.kind == BodyProcessorKind::kXml) &&
      settings.no_files_limit && input.body.size() > *settings.no_files_limit) {
    result->reqbody_error = {true, "1"};
    result->reqbody_error_msg = {true, kNoFilesLimitMsg};
    result->inbound_data_error = true;
    no_files_exceeded = true;
  }

  switch (input.kind) {
    case BodyProcessorKind::kXml: {
      if (no_files_exceeded) break;
      xmlSetGenericErrorFunc(nullptr, NullError);
      xmlParserInputBufferCreateFilenameDefault(NoExternalEntity);
      xmlParserCtxtPtr ctx = xmlCreatePushParserCtxt(
          nullptr, nullptr, input.body.data(),
          static_cast<int>(static_cast<unsigned int>(input.body.size())), "body.xml");
      if (ctx == nullptr) {
        error = "XML: Failed to create parsing context.";
      } else {
        xmlSetGenericErrorFunc(ctx, NullError);
        xmlParseChunk(ctx, nullptr, 0, 1);
        const int well_formed = ctx->wellFormed;
        xmlDocPtr doc = ctx->myDoc;
        xmlFreeParserCtxt(ctx);
        // Entity amplification that libxml2 lets through (one large entity referenced many
        // times: it checks loops and nesting, not this) would make every XML:/* value that
        // large — 3.0.9 builds it; Ward refuses the document (a deliberate difference).
        size_t budget = std::max<size_t>(kXmlExpansionFloor, 10 * input.body.size());
        if (doc != nullptr && !ExpandsWithin(doc->children, &budget, 0)) {
          xmlFreeDoc(doc);
          doc = nullptr;
          result->xml_amplification = true;
          error = "XML: Failed parsing document (entity expansion over the limit).";
        }
        if (doc != nullptr) result->xml_.reset(new XmlDocument(doc));
        if (error.empty() && well_formed != 1) error = "XML: Failed parsing document.";
      }
      if (!error.empty()) {
        SetErrors(result, "XML parsing error: ", error, &state_->message);
      } else {
        SetNoErrors(result);
      }
      break;
    }
    case BodyProcessorKind::kJson: {
      if (no_files_exceeded) break;
      state_->json.Run(input.body, settings, input.args_before, result, &error);
      if (!error.empty() && !input.body.empty()) {
        SetErrors(result, "JSON parsing error: ", error, &state_->message);
      } else {
        SetNoErrors(result);
      }
      break;
    }
    case BodyProcessorKind::kMultipart: {
      uint64_t no_files_length = 0;
      if (input.content_type) {
        state_->multipart.Run(*input.content_type, input.body, result, &error, &no_files_length);
      }
      // 3.0.9 keeps the count in an int.
      const auto counted = static_cast<int>(static_cast<unsigned int>(no_files_length));
      if (!error.empty()) {
        SetErrors(result, "Multipart parsing error: ", error, &state_->message);
      } else if (settings.no_files_limit &&
                 static_cast<double>(counted) > static_cast<double>(*settings.no_files_limit)) {
        result->reqbody_error = {true, "1"};
        result->reqbody_error_msg = {true, kNoFilesLimitMsg};
        result->inbound_data_error = true;
      } else {
        SetNoErrors(result);
      }
      break;
    }
    case BodyProcessorKind::kUrlEncoded:
      result->args_are_post = true;
      result->parse_urlencoded = !no_files_exceeded;
      break;
    case BodyProcessorKind::kNone:
      SetNoErrors(result);
      break;
  }
}

AppendDecision AppendRequestBody(uint64_t current_size, size_t chunk_size,
                                 const BodyLimitSettings& settings) {
  AppendDecision d;
  if (settings.limit > 0 && settings.limit < chunk_size + current_size) {
    d.inbound_data_error = true;
    if (settings.action == BodyLimitAction::kProcessPartial) {
      d.keep =
          current_size < settings.limit ? static_cast<size_t>(settings.limit - current_size) : 0;
    } else {
      d.reject = settings.engine_on;
    }
    return d;
  }
  d.keep = chunk_size;
  return d;
}

}  // namespace ward::seclang::body

#include "agent/modules/ips/seclang/body/body_oracle.h"

#include <libxml/tree.h>
#include <libxml/xpath.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

#include "modsecurity/anchored_set_variable.h"
#include "modsecurity/anchored_variable.h"
#include "modsecurity/intervention.h"
#include "modsecurity/modsecurity.h"
#include "modsecurity/rules_set.h"
#include "modsecurity/transaction.h"
#include "modsecurity/variable_value.h"

namespace ward::seclang::body::test {
namespace {

// The head of 3.0.9's RequestBodyProcessor::XML (src/request_body_processor/xml.h), which the
// library does not install: its first member is this struct.
struct ModsecXmlData {
  void* sax_handler;
  void* parsing_ctx;
  xmlDocPtr doc;
  unsigned int well_formed;
};

Pairs Read(const modsecurity::AnchoredSetVariable& v) {
  Pairs out;
  for (const auto& [key, value] : v) out.emplace_back(key, value->getValue());
  std::sort(out.begin(), out.end());
  return out;
}

Pairs Sorted(Pairs p) {
  std::sort(p.begin(), p.end());
  return p;
}

std::vector<std::string> XPathValues(xmlDocPtr doc, const char* xpath) {
  std::vector<std::string> out;
  if (doc == nullptr) return out;
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  if (ctx == nullptr) return out;
  xmlXPathObjectPtr obj = xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath), ctx);
  if (obj != nullptr && obj->nodesetval != nullptr) {
    for (int i = 0; i < obj->nodesetval->nodeNr; i++) {
      xmlChar* content = xmlNodeGetContent(obj->nodesetval->nodeTab[i]);
      if (content != nullptr) {
        out.emplace_back(reinterpret_cast<const char*>(content));
        xmlFree(content);
      }
    }
  }
  if (obj != nullptr) xmlXPathFreeObject(obj);
  xmlXPathFreeContext(ctx);
  return out;
}

std::string Config(const BodyCase& c) {
  std::string conf = "SecRuleEngine On\nSecRequestBodyAccess On\n";
  conf += "SecRequestBodyLimit " + std::to_string(c.body_limit.value_or(1u << 30)) + "\n";
  conf +=
      std::string("SecRequestBodyLimitAction ") + (c.partial ? "ProcessPartial" : "Reject") + "\n";
  if (c.settings.no_files_limit) {
    conf += "SecRequestBodyNoFilesLimit " + std::to_string(*c.settings.no_files_limit) + "\n";
  }
  if (c.settings.arguments_limit) {
    conf += "SecArgumentsLimit " + std::to_string(*c.settings.arguments_limit) + "\n";
  }
  if (c.settings.json_depth_limit != 10000.0) {
    conf += "SecRequestBodyJsonDepthLimit " +
            std::to_string(static_cast<int64_t>(c.settings.json_depth_limit)) + "\n";
  }
  if (c.kind == BodyProcessorKind::kJson) {
    conf += "SecAction \"id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON\"\n";
  } else if (c.kind == BodyProcessorKind::kXml) {
    conf += "SecAction \"id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=XML\"\n";
  }
  return conf;
}

}  // namespace

Observed RunModsec(const BodyCase& c) {
  Observed o;
  modsecurity::ModSecurity ms;
  modsecurity::RulesSet rules;
  if (rules.load(Config(c).c_str()) < 0) {
    o.scalars["<load error>"] = rules.getParserError();
    return o;
  }
  modsecurity::Transaction t(&ms, &rules, nullptr);
  t.processConnection("192.0.2.1", 40000, "192.0.2.2", 80);
  t.processURI("/upload", "POST", "1.1");
  t.addRequestHeader("Host", "localhost");
  if (c.content_type) t.addRequestHeader("Content-Type", *c.content_type);
  t.processRequestHeaders();
  size_t at = 0;
  for (const size_t n : c.chunks) {
    const size_t len = std::min(n, c.body.size() - at);
    t.appendRequestBody(reinterpret_cast<const unsigned char*>(c.body.data() + at), len);
    at += len;
  }
  if (at < c.body.size() || c.chunks.empty()) {
    t.appendRequestBody(reinterpret_cast<const unsigned char*>(c.body.data() + at),
                        c.body.size() - at);
  }
  modsecurity::ModSecurityIntervention it;
  modsecurity::intervention::clean(&it);
  const bool disrupted = t.intervention(&it) != 0;
  modsecurity::intervention::free(&it);
  t.processRequestBody();

  const bool urlencoded = c.kind == BodyProcessorKind::kUrlEncoded;
  if (!urlencoded) {
    o.args = Read(t.m_variableArgs);
    o.args_post = Read(t.m_variableArgsPost);
  }
  o.files = Read(t.m_variableFiles);
  o.files_names = Read(t.m_variableFilesNames);
  o.files_sizes = Read(t.m_variableFilesSizes);
  o.files_tmp_content = Read(t.m_variableFilesTmpContent);
  o.files_tmpnames = Read(t.m_variableFilesTmpNames);
  o.multipart_names = Read(t.m_variableMultipartName);
  o.multipart_filenames = Read(t.m_variableMultipartFileName);
  o.multipart_part_headers = Read(t.m_variableMultipartPartHeaders);
  const modsecurity::AnchoredVariable* vars[] = {
      &t.m_variableReqbodyError,
      &t.m_variableReqbodyErrorMsg,
      &t.m_variableReqbodyProcessorError,
      &t.m_variableReqbodyProcessorErrorMsg,
      &t.m_variableInboundDataError,
      &t.m_variableFilesCombinedSize,
      &t.m_variableARGScombinedSize,
      &t.m_variableMultipartStrictError,
      &t.m_variableMultipartUnmatchedBoundary,
      &t.m_variableMultipartDataBefore,
      &t.m_variableMultipartDataAfter,
      &t.m_variableMultipartBoundaryQuoted,
      &t.m_variableMultipartBoundaryWhiteSpace,
      &t.m_variableMultipartHeaderFolding,
      &t.m_variableMultipartLFLine,
      &t.m_variableMultipartCrlfLFLines,
      &t.m_variableMultipartMissingSemicolon,
      &t.m_variableMultipartInvalidQuoting,
      &t.m_variableMultipartInvalidPart,
      &t.m_variableMultipartInvalidHeaderFolding,
      &t.m_variableMultipartFileLimitExceeded,
  };
  for (const auto* v : vars) o.scalars[v->m_name] = v->m_value;
  if (urlencoded) o.scalars.erase("ARGS_COMBINED_SIZE");
  o.scalars["intervention"] = disrupted ? "403" : "";
  if (c.kind == BodyProcessorKind::kXml && t.m_xml != nullptr) {
    const auto* data = reinterpret_cast<const ModsecXmlData*>(t.m_xml);
    o.xml_elements = XPathValues(data->doc, kXmlElements);
    o.xml_attributes = XPathValues(data->doc, kXmlAttributes);
  }
  return o;
}

Observed RunWard(const BodyCase& c, BodyProcessor* proc, BodyResult* result) {
  Observed o;
  BodyLimitSettings limit;
  limit.limit = c.body_limit.value_or(1u << 30);
  limit.action = c.partial ? BodyLimitAction::kProcessPartial : BodyLimitAction::kReject;
  std::string kept;
  bool inbound_data_error = false;
  bool reject = false;
  auto append = [&](std::string_view piece) {
    const AppendDecision a = AppendRequestBody(kept.size(), piece.size(), limit);
    kept.append(piece.substr(0, a.keep));
    inbound_data_error |= a.inbound_data_error;
    reject |= a.reject;
  };
  size_t at = 0;
  for (const size_t n : c.chunks) {
    const size_t len = std::min(n, c.body.size() - at);
    append(std::string_view(c.body).substr(at, len));
    at += len;
  }
  if (at < c.body.size() || c.chunks.empty()) append(std::string_view(c.body).substr(at));
  BodyInput in;
  in.kind = c.kind;
  if (c.content_type) in.content_type = *c.content_type;
  in.body = kept;
  proc->Process(in, c.settings, result);

  const bool urlencoded = c.kind == BodyProcessorKind::kUrlEncoded;
  if (!urlencoded) {
    for (const auto& a : result->args) {
      o.args.emplace_back(a.name, a.value);
      if (result->args_are_post) o.args_post.emplace_back(a.name, a.value);
    }
  }
  for (const auto& f : result->files) {
    o.files.emplace_back(f.name, f.filename);
    o.files_names.emplace_back(f.name, f.name);
    o.files_sizes.emplace_back(f.name, f.size);
    o.files_tmp_content.emplace_back(f.name, "");  // FileEntry's contract: no content kept
  }
  for (const auto& n : result->multipart_names) o.multipart_names.emplace_back(n.name, n.value);
  for (const auto& n : result->multipart_filenames) {
    o.multipart_filenames.emplace_back(n.name, n.value);
  }
  for (const auto& n : result->multipart_part_headers) {
    o.multipart_part_headers.emplace_back(n.name, n.value);
  }
  o.args = Sorted(std::move(o.args));
  o.args_post = Sorted(std::move(o.args_post));
  o.files = Sorted(std::move(o.files));
  o.files_names = Sorted(std::move(o.files_names));
  o.files_sizes = Sorted(std::move(o.files_sizes));
  o.files_tmp_content = Sorted(std::move(o.files_tmp_content));
  o.multipart_names = Sorted(std::move(o.multipart_names));
  o.multipart_filenames = Sorted(std::move(o.multipart_filenames));
  o.multipart_part_headers = Sorted(std::move(o.multipart_part_headers));

  auto scalar = [](const ScalarVar& v) { return v.set ? std::string(v.value) : std::string(); };
  o.scalars["REQBODY_ERROR"] = scalar(result->reqbody_error);
  o.scalars["REQBODY_ERROR_MSG"] = scalar(result->reqbody_error_msg);
  o.scalars["REQBODY_PROCESSOR_ERROR"] = scalar(result->reqbody_processor_error);
  o.scalars["REQBODY_PROCESSOR_ERROR_MSG"] = scalar(result->reqbody_processor_error_msg);
  o.scalars["INBOUND_DATA_ERROR"] = (inbound_data_error || result->inbound_data_error) ? "1" : "0";
  o.scalars["FILES_COMBINED_SIZE"] = scalar(result->files_combined_size);
  // 3.0.9 writes ARGS_COMBINED_SIZE with std::to_string(double).
  if (!urlencoded) {
    o.scalars["ARGS_COMBINED_SIZE"] =
        result->args.empty() || result->args_are_post
            ? std::string()
            : std::to_string(static_cast<double>(result->args_combined_size_added));
  }
  const MultipartFlags& f = result->multipart;
  auto flag = [&f](int v) { return f.set ? std::to_string(v) : std::string(); };
  o.scalars["MULTIPART_STRICT_ERROR"] = flag(f.strict_error);
  o.scalars["MULTIPART_UNMATCHED_BOUNDARY"] = flag(f.unmatched_boundary);
  o.scalars["MULTIPART_DATA_BEFORE"] = flag(f.data_before);
  o.scalars["MULTIPART_DATA_AFTER"] = flag(f.data_after);
  o.scalars["MULTIPART_BOUNDARY_QUOTED"] = flag(f.boundary_quoted);
  o.scalars["MULTIPART_BOUNDARY_WHITESPACE"] = flag(f.boundary_whitespace);
  o.scalars["MULTIPART_HEADER_FOLDING"] = flag(f.header_folding);
  o.scalars["MULTIPART_LF_LINE"] = flag(f.lf_line);
  o.scalars["MULTIPART_CRLF_LF_LINES"] = flag(f.crlf_lf_lines);
  o.scalars["MULTIPART_MISSING_SEMICOLON"] = flag(f.missing_semicolon);
  o.scalars["MULTIPART_INVALID_QUOTING"] = flag(f.invalid_quoting);
  o.scalars["MULTIPART_INVALID_PART"] = flag(f.invalid_part);
  o.scalars["MULTIPART_INVALID_HEADER_FOLDING"] = flag(f.invalid_header_folding);
  o.scalars["MULTIPART_FILE_LIMIT_EXCEEDED"] = "";  // 3.0.9 never sets it
  o.scalars["intervention"] = reject ? "403" : "";
  if (result->xml() != nullptr) {
    std::vector<std::string_view> v;
    result->xml()->Evaluate(kXmlElements, {}, result, &v);
    o.xml_elements.assign(v.begin(), v.end());
    v.clear();
    result->xml()->Evaluate(kXmlAttributes, {}, result, &v);
    o.xml_attributes.assign(v.begin(), v.end());
  }
  return o;
}

namespace {
void DiffPairs(std::ostringstream& out, const char* what, const Pairs& a, const Pairs& b) {
  if (a == b) return;
  out << what << ":\n";
  for (const auto& p : a) {
    if (std::find(b.begin(), b.end(), p) == b.end()) {
      out << "  only libmodsecurity: [" << p.first << "]=[" << p.second << "]\n";
    }
  }
  for (const auto& p : b) {
    if (std::find(a.begin(), a.end(), p) == a.end()) {
      out << "  only Ward: [" << p.first << "]=[" << p.second << "]\n";
    }
  }
  if (a.size() != b.size()) out << "  counts " << a.size() << " vs " << b.size() << "\n";
}
}  // namespace

std::string Diff(const Observed& m, const Observed& w) {
  std::ostringstream out;
  DiffPairs(out, "ARGS", m.args, w.args);
  DiffPairs(out, "ARGS_POST", m.args_post, w.args_post);
  DiffPairs(out, "FILES", m.files, w.files);
  DiffPairs(out, "FILES_NAMES", m.files_names, w.files_names);
  DiffPairs(out, "FILES_SIZES", m.files_sizes, w.files_sizes);
  DiffPairs(out, "FILES_TMP_CONTENT", m.files_tmp_content, w.files_tmp_content);
  DiffPairs(out, "FILES_TMPNAMES", m.files_tmpnames, w.files_tmpnames);
  DiffPairs(out, "MULTIPART_NAME", m.multipart_names, w.multipart_names);
  DiffPairs(out, "MULTIPART_FILENAME", m.multipart_filenames, w.multipart_filenames);
  DiffPairs(out, "MULTIPART_PART_HEADERS", m.multipart_part_headers, w.multipart_part_headers);
  for (const auto& [k, v] : m.scalars) {
    auto it = w.scalars.find(k);
    const std::string wv = it == w.scalars.end() ? "<absent>" : it->second;
    if (wv != v) out << k << ": libmodsecurity [" << v << "] Ward [" << wv << "]\n";
  }
  if (m.xml_elements != w.xml_elements) {
    out << "XML:/* differs (" << m.xml_elements.size() << " vs " << w.xml_elements.size() << ")\n";
  }
  if (m.xml_attributes != w.xml_attributes) {
    out << "XML://@* differs (" << m.xml_attributes.size() << " vs " << w.xml_attributes.size()
        << ")\n";
  }
  return out.str();
}

}  // namespace ward::seclang::body::test

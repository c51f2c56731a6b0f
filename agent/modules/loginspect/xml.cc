#include "agent/modules/loginspect/xml.h"

#include <fmt/format.h>

#include <map>

namespace ward::agent::loginspect {

const std::string* XmlNode::Attribute(std::string_view key) const {
  for (const auto& [k, v] : attributes) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

constexpr int kMaxDepth = 64;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<std::vector<XmlNode>> Run() {
    std::vector<XmlNode> out;
    while (true) {
      SkipMisc();
      if (pos_ >= text_.size()) break;
      if (text_[pos_] != '<') {
        // Stray text between top-level elements: OSSEC ignores whitespace only.
        return Error("text outside of an element");
      }
      auto node = Element(0);
      if (!node) return node.error();
      if (node->name == "var") {
        const std::string* name = node->Attribute("name");
        if (name == nullptr) return Error("<var> without a name", node->line, node->column);
        vars_[*name] = node->content;
        continue;
      }
      out.push_back(std::move(*node));
    }
    return out;
  }

 private:
  Status Error(std::string_view what) { return Error(what, line_, col_); }
  Status Error(std::string_view what, int line, int col) {
    return InvalidArgument(fmt::format("{}:{}: {}", line, col, what));
  }

  void Advance(size_t n = 1) {
    for (size_t i = 0; i < n && pos_ < text_.size(); ++i) {
      if (text_[pos_] == '\n') {
        ++line_;
        col_ = 1;
      } else {
        ++col_;
      }
      ++pos_;
    }
  }
  bool StartsWith(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }

  // Whitespace, comments and <?...?> / <!...> declarations.
  Status SkipMiscChecked() {
    while (pos_ < text_.size()) {
      if (IsSpace(text_[pos_])) {
        Advance();
      } else if (StartsWith("<!--")) {
        if (auto st = SkipComment(); !st.ok()) return st;
      } else if (StartsWith("<?") || (StartsWith("<!") && !StartsWith("<!--"))) {
        size_t end = text_.find('>', pos_);
        if (end == std::string_view::npos) return Error("unterminated declaration");
        Advance(end + 1 - pos_);
      } else {
        break;
      }
    }
    return Status::Ok();
  }
  // A comment; like os_xml, "<!--" inside a comment opens a nested one (OSSEC's decoder.xml
  // relies on it).
  Status SkipComment() {
    int line = line_;
    int col = col_;
    int depth = 0;
    while (pos_ < text_.size()) {
      if (StartsWith("<!--")) {
        ++depth;
        Advance(4);
      } else if (StartsWith("-->")) {
        Advance(3);
        if (--depth == 0) return Status::Ok();
      } else {
        Advance();
      }
    }
    return Error("unterminated comment", line, col);
  }

  // An odd run of backslashes before `at`.
  bool Escaped(size_t at) const {
    size_t n = 0;
    while (at > n && text_[at - n - 1] == '\\') ++n;
    return n % 2 == 1;
  }
  void SkipMisc() { (void)SkipMiscChecked(); }

  std::string Substitute(std::string_view in) const {
    if (vars_.empty() || in.find('$') == std::string_view::npos) return std::string(in);
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '$') {
        size_t j = i + 1;
        while (j < in.size() && ((in[j] >= 'A' && in[j] <= 'Z') || (in[j] >= 'a' && in[j] <= 'z') ||
                                 (in[j] >= '0' && in[j] <= '9') || in[j] == '_')) {
          ++j;
        }
        auto it = vars_.find(std::string(in.substr(i + 1, j - i - 1)));
        if (j > i + 1 && it != vars_.end()) {
          out += it->second;
          i = j - 1;
          continue;
        }
      }
      out.push_back(in[i]);
    }
    return out;
  }

  Result<XmlNode> Element(int depth) {
    if (depth > kMaxDepth) return Error("elements nested too deeply");
    XmlNode node;
    node.line = line_;
    node.column = col_;
    Advance();  // '<'
    size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) Advance();
    node.name = std::string(text_.substr(start, pos_ - start));
    if (node.name.empty()) return Error("element without a name");
    // Attributes.
    while (true) {
      while (pos_ < text_.size() && IsSpace(text_[pos_])) Advance();
      if (pos_ >= text_.size()) return Error(fmt::format("unterminated <{}>", node.name));
      char c = text_[pos_];
      if (c == '/') {
        if (!StartsWith("/>")) return Error("expected '/>'");
        Advance(2);
        return node;
      }
      if (c == '>') {
        Advance();
        break;
      }
      size_t a = pos_;
      while (pos_ < text_.size() && IsNameChar(text_[pos_])) Advance();
      if (a == pos_) return Error(fmt::format("bad attribute in <{}>", node.name));
      std::string key(text_.substr(a, pos_ - a));
      while (pos_ < text_.size() && IsSpace(text_[pos_])) Advance();
      std::string value;
      if (pos_ < text_.size() && text_[pos_] == '=') {
        Advance();
        while (pos_ < text_.size() && IsSpace(text_[pos_])) Advance();
        if (pos_ >= text_.size() || (text_[pos_] != '"' && text_[pos_] != '\''))
          return Error(fmt::format("attribute {} of <{}> is not quoted", key, node.name));
        char q = text_[pos_];
        Advance();
        size_t v = pos_;
        while (pos_ < text_.size() && text_[pos_] != q) Advance();
        if (pos_ >= text_.size()) return Error("unterminated attribute value");
        value = Substitute(text_.substr(v, pos_ - v));
        Advance();
      }
      node.attributes.emplace_back(std::move(key), std::move(value));
    }
    // Content and children until </name>.
    std::string content;
    while (true) {
      if (pos_ >= text_.size()) {
        return Error(
            fmt::format("<{}> opened at {}:{} is not closed", node.name, node.line, node.column));
      }
      // os_xml keeps an escaped "\<" (OS_Regex's literal '<') as text.
      if (text_[pos_] != '<' || Escaped(pos_)) {
        size_t t = pos_;
        Advance();
        while (pos_ < text_.size() && (text_[pos_] != '<' || Escaped(pos_))) Advance();
        content.append(text_.substr(t, pos_ - t));
        continue;
      }
      if (StartsWith("<!--")) {
        if (auto st = SkipComment(); !st.ok()) return st;
        continue;
      }
      if (StartsWith("</")) {
        Advance(2);
        size_t n = pos_;
        while (pos_ < text_.size() && IsNameChar(text_[pos_])) Advance();
        std::string_view closing = text_.substr(n, pos_ - n);
        while (pos_ < text_.size() && IsSpace(text_[pos_])) Advance();
        if (closing != node.name || pos_ >= text_.size() || text_[pos_] != '>') {
          return Error(fmt::format("</{}> does not close <{}> opened at {}:{}", closing, node.name,
                                   node.line, node.column));
        }
        Advance();
        break;
      }
      auto child = Element(depth + 1);
      if (!child) return child.error();
      if (child->name == "var" && depth == 0 && child->Attribute("name") != nullptr) {
        vars_[*child->Attribute("name")] = child->content;
        continue;
      }
      node.children.push_back(std::move(*child));
    }
    node.content = Substitute(content);
    return node;
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
  std::map<std::string, std::string> vars_;
};

}  // namespace

Result<std::vector<XmlNode>> ParseXml(std::string_view text) { return Parser(text).Run(); }

}  // namespace ward::agent::loginspect

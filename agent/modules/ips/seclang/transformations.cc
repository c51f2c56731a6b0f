#include "agent/modules/ips/seclang/transformations.h"

#include <array>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/modules/ips/seclang/digest.h"

// Each transformation reproduces libmodsecurity 3.0.9 exactly, including its edge cases (which
// are tested against the library itself in differential_test.cc). Most decoders work in place on
// a copy of the input followed by one NUL, as the library's do, because several of them read
// that terminator.

namespace ward::seclang {
namespace {

using u8 = unsigned char;

constexpr std::array<std::string_view, kTransformationCount> kNames = {
    "none",
    "base64Decode",
    "base64DecodeExt",
    "base64Encode",
    "cmdLine",
    "compressWhitespace",
    "cssDecode",
    "escapeSeqDecode",
    "hexDecode",
    "hexEncode",
    "htmlEntityDecode",
    "jsDecode",
    "length",
    "lowercase",
    "md5",
    "normalisePath",
    "normalisePathWin",
    "parityEven7bit",
    "parityOdd7bit",
    "parityZero7bit",
    "removeComments",
    "removeCommentsChar",
    "removeNulls",
    "removeWhitespace",
    "replaceComments",
    "replaceNulls",
    "sha1",
    "sqlHexDecode",
    "trim",
    "trimLeft",
    "trimRight",
    "uppercase",
    "urlDecode",
    "urlDecodeUni",
    "urlEncode",
    "utf8toUnicode",
};

bool IsHex(u8 c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool IsDigit(u8 c) { return c >= '0' && c <= '9'; }
bool IsOctal(u8 c) { return c >= '0' && c <= '7'; }
bool IsAlnum(u8 c) { return IsDigit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }
// isspace() in the "C" locale.
bool IsSpace(u8 c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool IsF(u8 c) { return c == 'f' || c == 'F'; }
u8 ToLower(u8 c) { return (c >= 'A' && c <= 'Z') ? static_cast<u8>(c + 32) : c; }
u8 ToUpper(u8 c) { return (c >= 'a' && c <= 'z') ? static_cast<u8>(c - 32) : c; }

// One hex digit as libmodsecurity's xsingle2c computes it (also for non-hex input).
u8 HexValue(u8 c) { return static_cast<u8>(c >= 'A' ? ((c & 0xdf) - 'A') + 10 : (c - '0')); }
// libmodsecurity's x2c: two hex digits to a byte, modulo 256.
u8 X2c(u8 hi, u8 lo) { return static_cast<u8>(HexValue(hi) * 16 + HexValue(lo)); }

// (unsigned char)strtol(digits, NULL, base) for a run of valid digits: saturates at LONG_MAX.
u8 StrtolByte(const u8* digits, size_t n, unsigned base) {
  unsigned long long v = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned d = base == 16 ? HexValue(digits[i]) : static_cast<unsigned>(digits[i] - '0');
    if (v > (static_cast<unsigned long long>(LONG_MAX) - d) / base) return 0xff;
    v = v * base + d;
  }
  return static_cast<u8>(v);
}

bool Contains(std::string_view s, char c) { return s.find(c) != std::string_view::npos; }

// Copies `in` into `out` followed by a NUL and returns the writable bytes.
u8* CopyWithNul(std::string_view in, std::string& out) {
  out.resize(in.size() + 1);
  if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
  out[in.size()] = '\0';
  return reinterpret_cast<u8*>(out.data());
}

std::string_view Done(std::string& out, size_t n) {
  out.resize(n);
  return out;
}

size_t UrlDecodeInPlace(u8* in, size_t len) {
  size_t i = 0, d = 0;
  while (i < len) {
    if (in[i] == '%' && i + 2 < len && IsHex(in[i + 1]) && IsHex(in[i + 2])) {
      in[d++] = X2c(in[i + 1], in[i + 2]);
      i += 3;
    } else {
      in[d++] = in[i] == '+' ? ' ' : in[i];
      ++i;
    }
  }
  return d;
}

size_t UrlDecodeUniInPlace(u8* in, size_t len, const UnicodeMap* map) {
  size_t i = 0, d = 0;
  while (i < len) {
    if (in[i] != '%') {
      in[d++] = in[i] == '+' ? ' ' : in[i];
      ++i;
    } else if (i + 1 < len && (in[i + 1] == 'u' || in[i + 1] == 'U')) {
      if (i + 5 < len && IsHex(in[i + 2]) && IsHex(in[i + 3]) && IsHex(in[i + 4]) &&
          IsHex(in[i + 5])) {
        const int mapped = map != nullptr
                               ? map->At(static_cast<uint32_t>(X2c(in[i + 2], in[i + 3])) << 8 |
                                         X2c(in[i + 4], in[i + 5]))
                               : -1;
        if (mapped != -1) {
          in[d++] = static_cast<u8>(mapped);
        } else {
          u8 c = X2c(in[i + 4], in[i + 5]);
          // Full-width ASCII (ff01 - ff5e) needs 0x20 added.
          if (c > 0x00 && c < 0x5f && IsF(in[i + 2]) && IsF(in[i + 3])) c += 0x20;
          in[d++] = c;
        }
        i += 6;
      } else {
        in[d++] = in[i++];
        in[d++] = in[i++];
      }
    } else if (i + 2 < len && IsHex(in[i + 1]) && IsHex(in[i + 2])) {
      in[d++] = X2c(in[i + 1], in[i + 2]);
      i += 3;
    } else {
      in[d++] = in[i++];
    }
  }
  return d;
}

size_t HtmlEntityDecodeInPlace(u8* in, size_t len) {
  if (len == 0) return 0;
  size_t i = 0, d = 0;
  while (i < len && d < len) {
    size_t copy = 1;
    if (in[i] == '&' && i + 1 < len) {
      size_t j = i + 1;
      int decoded = -1;
      if (in[j] == '#') {
        ++copy;
        if (j + 1 < len) {
          ++j;
          const bool hex = in[j] == 'x' || in[j] == 'X';
          bool enough = true;
          if (hex) {
            ++copy;
            enough = j + 1 < len;
            ++j;
          }
          if (enough) {
            const size_t k = j;
            while (j < len && (hex ? IsHex(in[j]) : IsDigit(in[j]))) ++j;
            if (j > k) decoded = StrtolByte(in + k, j - k, hex ? 16 : 10);
          }
        }
      } else {
        const size_t k = j;
        while (j < len && IsAlnum(in[j])) ++j;
        if (j > k) {
          const std::string_view name(reinterpret_cast<const char*>(in + k), j - k);
          auto is = [&](std::string_view word) {
            if (name.size() != word.size()) return false;
            for (size_t x = 0; x < word.size(); ++x) {
              if (ToLower(static_cast<u8>(name[x])) != static_cast<u8>(word[x])) return false;
            }
            return true;
          };
          if (is("quot")) {
            decoded = '"';
          } else if (is("amp")) {
            decoded = '&';
          } else if (is("lt")) {
            decoded = '<';
          } else if (is("gt")) {
            decoded = '>';
          } else if (is("nbsp")) {
            decoded = 0xa0;
          } else {
            copy = j - k + 1;
          }
        }
      }
      if (decoded >= 0) {
        in[d++] = static_cast<u8>(decoded);
        i = (j < len && in[j] == ';') ? j + 1 : j;
        continue;
      }
    }
    for (size_t z = 0; z < copy && d < len; ++z) in[d++] = in[i++];
  }
  return d;
}

// The C escape letters both jsDecode and escapeSeqDecode know (\a \b \f \n \r \t \v): the
// byte a letter stands for, or -1.
int CLetterEscape(u8 letter) {
  switch (letter) {
    case 'a':
      return '\a';
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'v':
      return '\v';
    default:
      return -1;
  }
}

size_t JsDecodeInPlace(u8* in, size_t len) {
  size_t i = 0, d = 0;
  while (i < len) {
    if (in[i] != '\\') {
      in[d++] = in[i++];
    } else if (i + 5 < len && in[i + 1] == 'u' && IsHex(in[i + 2]) && IsHex(in[i + 3]) &&
               IsHex(in[i + 4]) && IsHex(in[i + 5])) {
      u8 c = X2c(in[i + 4], in[i + 5]);
      if (c > 0x00 && c < 0x5f && IsF(in[i + 2]) && IsF(in[i + 3])) c += 0x20;
      in[d++] = c;
      i += 6;
    } else if (i + 3 < len && in[i + 1] == 'x' && IsHex(in[i + 2]) && IsHex(in[i + 3])) {
      in[d++] = X2c(in[i + 2], in[i + 3]);
      i += 4;
    } else if (i + 1 < len && IsOctal(in[i + 1])) {
      size_t j = 0;
      while (i + 1 + j < len && j < 3) {
        ++j;
        if (!IsOctal(in[i + 1 + j])) break;  // in[len] is the NUL
      }
      if (j == 3 && in[i + 1] > '3') j = 2;  // one byte at most: \000 - \377
      unsigned v = 0;
      for (size_t x = 0; x < j; ++x) v = v * 8 + (in[i + 1 + x] - '0');
      in[d++] = static_cast<u8>(v);
      i += 1 + j;
    } else if (i + 1 < len) {
      u8 c = in[i + 1];
      if (int e = CLetterEscape(c); e != -1) c = static_cast<u8>(e);
      in[d++] = c;
      i += 2;
    } else {
      while (i < len) in[d++] = in[i++];
    }
  }
  return d;
}

size_t CssDecodeInPlace(u8* in, size_t len) {
  size_t i = 0, d = 0;
  while (i < len) {
    if (in[i] != '\\') {
      in[d++] = in[i++];
      continue;
    }
    if (i + 1 >= len) {  // a backslash at the end continues to nothing
      ++i;
      continue;
    }
    ++i;
    size_t j = 0;
    while (j < 6 && i + j < len && IsHex(in[i + j])) ++j;
    if (j == 0) {
      if (in[i] == '\n') {
        ++i;
      } else {
        in[d++] = in[i++];
      }
      continue;
    }
    bool fullcheck = false;
    switch (j) {
      case 1:
        in[d++] = HexValue(in[i]);
        break;
      case 2:
      case 3:
        in[d++] = X2c(in[i + j - 2], in[i + j - 1]);
        break;
      case 4:
        in[d] = X2c(in[i + j - 2], in[i + j - 1]);
        fullcheck = true;
        break;
      case 5:
        in[d] = X2c(in[i + j - 2], in[i + j - 1]);
        if (in[i] == '0') {
          fullcheck = true;
        } else {
          ++d;
        }
        break;
      default:
        in[d] = X2c(in[i + j - 2], in[i + j - 1]);
        if (in[i] == '0' && in[i + 1] == '0') {
          fullcheck = true;
        } else {
          ++d;
        }
        break;
    }
    if (fullcheck) {
      if (in[d] > 0x00 && in[d] < 0x5f && IsF(in[i + j - 3]) && IsF(in[i + j - 4])) in[d] += 0x20;
      ++d;
    }
    if (i + j < len && IsSpace(in[i + j])) ++j;  // one whitespace after a hex escape is eaten
    i += j;
  }
  // libmodsecurity builds its result from the NUL-terminated buffer: it ends at the first NUL.
  const void* nul = std::memchr(in, 0, d);
  return nul != nullptr ? static_cast<size_t>(static_cast<const u8*>(nul) - in) : d;
}

size_t EscapeSeqDecodeInPlace(u8* in, size_t len) {
  size_t i = 0, d = 0;
  while (i < len) {
    if (in[i] != '\\' || i + 1 >= len) {
      in[d++] = in[i++];
      continue;
    }
    int c = CLetterEscape(in[i + 1]);
    switch (in[i + 1]) {
      case '\\':
        c = '\\';
        break;
      case '?':
        c = '?';
        break;
      case '\'':
        c = '\'';
        break;
      case '"':
        c = '"';
        break;
      default:
        break;
    }
    if (c != -1) {
      i += 2;
    } else if (in[i + 1] == 'x' || in[i + 1] == 'X') {
      if (i + 3 < len && IsHex(in[i + 2]) && IsHex(in[i + 3])) {
        c = X2c(in[i + 2], in[i + 3]);
        i += 4;
      }
    } else if (IsOctal(in[i + 1])) {
      size_t j = 0;
      while (i + 1 + j < len && j < 3) {
        ++j;
        if (!IsOctal(in[i + 1 + j])) break;
      }
      unsigned v = 0;
      for (size_t x = 0; x < j; ++x) v = v * 8 + (in[i + 1 + x] - '0');
      c = static_cast<int>(v);
      i += 1 + j;
    }
    if (c == -1) {  // unknown escape: the backslash goes, the character stays
      in[d++] = in[i + 1];
      i += 2;
    } else {
      in[d++] = static_cast<u8>(c);
    }
  }
  return d;
}

size_t SqlHexDecodeInPlace(u8* buf, size_t len) {
  if (len == 0) return 0;
  // A faithful rendition of libmodsecurity's loop, whose bookkeeping never lets the last input
  // byte through unless a hex run ends the input: `count` is the read position plus one.
  size_t data = 0, d = 0, count = 0;
  while (++count < len && buf[data] != 0) {
    if (buf[data] == '0' && ToLower(buf[data + 1]) == 'x' && IsHex(buf[data + 2]) &&
        IsHex(buf[data + 3])) {
      data += 2;
      count += 2;
      while (IsHex(buf[data]) && IsHex(buf[data + 1])) {
        buf[d++] = X2c(buf[data], buf[data + 1]);
        data += 2;
        count += 2;
      }
    }
    buf[d++] = buf[data++];
  }
  buf[d] = 0;
  return std::strlen(reinterpret_cast<const char*>(buf));
}

// libmodsecurity's normalize_path_inplace, on indices instead of pointers.
size_t NormalisePathInPlace(u8* in, size_t size, bool win) {
  if (size == 0) return 0;
  const auto end = static_cast<ptrdiff_t>(size) - 1;
  ptrdiff_t src = 0, dst = 0, ldst = 1;
  bool hitroot = false, done = false;
  const bool relative = !(in[0] == '/' || (win && in[0] == '\\'));
  const bool trailing = in[end] == '/' || (win && in[end] == '\\');
  while (!done && src <= end && dst <= end) {
    if (win) {
      if (in[src] == '\\') in[src] = '/';
      if (src < end && in[src + 1] == '\\') in[src + 1] = '/';
    }
    bool copy = true;
    bool normalise = true;
    if (src == end) {
      done = true;
    } else if (in[src + 1] != '/') {
      normalise = false;  // not the end of a path segment
    }
    if (normalise) {
      if (src != end && in[src] == '/') {
        // An empty segment: the copy below skips repeated slashes.
      } else if (in[src] == '.') {
        if (dst > 0 && in[dst - 1] == '.') {  // back-reference
          if (relative && (hitroot || dst - 2 <= 0)) {
            hitroot = true;
          } else {
            dst -= 3;
            while (dst > 0 && in[dst] != '/') --dst;
            if (dst <= 0) {
              hitroot = true;
              dst = 0;
              if (!relative && src == end) ++dst;
            }
            if (done) {
              copy = false;
            } else {
              ++src;
            }
          }
        } else if (dst == 0) {  // relative self-reference
          if (done) {
            copy = false;
          } else {
            ++src;
          }
        } else if (in[dst - 1] == '/') {  // self-reference
          if (done) {
            copy = false;
          } else {
            --dst;
            ++src;
          }
        }
      } else if (dst > 0) {
        hitroot = false;
      }
    }
    if (copy) {
      if (in[src] == '/') {
        while (src < end && (in[src + 1] == '/' || (win && in[src + 1] == '\\'))) ++src;
        if (relative && dst == 0) {
          ++src;
          copy = false;
        }
      }
      if (copy) in[dst++] = in[src++];
    }
    ldst = dst;
  }
  if (!trailing && dst > 0 && in[dst - 1] == '/') --ldst;
  return static_cast<size_t>(ldst);
}

// mbedtls_base64_decode as libmodsecurity 3.0.9 bundles and calls it (input cut at a NUL).
std::string_view Base64Decode(std::string_view input, std::string& out) {
  static constexpr auto kMap = [] {
    std::array<u8, 256> m{};
    m.fill(127);
    for (int c = 0; c < 26; ++c) {
      m['A' + c] = static_cast<u8>(c);
      m['a' + c] = static_cast<u8>(26 + c);
    }
    for (int c = 0; c < 10; ++c) m['0' + c] = static_cast<u8>(52 + c);
    m['+'] = 62;
    m['/'] = 63;
    m['='] = 64;
    return m;
  }();
  const auto* src = reinterpret_cast<const u8*>(input.data());
  // (An empty view may have no data: memchr must not get a null pointer.)
  const void* nul = input.empty() ? nullptr : std::memchr(input.data(), 0, input.size());
  const size_t slen = nul != nullptr
                          ? static_cast<size_t>(static_cast<const char*>(nul) - input.data())
                          : input.size();
  size_t n = 0, j = 0, i = 0;
  for (; i < slen; ++i) {
    size_t spaces = 0;
    while (i < slen && src[i] == ' ') {
      ++i;
      ++spaces;
    }
    if (i == slen) break;
    if (slen - i >= 2 && src[i] == '\r' && src[i + 1] == '\n') continue;
    if (src[i] == '\n') continue;
    if (spaces != 0) return Done(out, 0);
    if (src[i] == '=' && ++j > 2) return Done(out, 0);
    if (src[i] > 127 || kMap[src[i]] == 127) return Done(out, 0);
    if (kMap[src[i]] < 64 && j != 0) return Done(out, 0);
    ++n;
  }
  out.resize(slen);
  auto* p = reinterpret_cast<u8*>(out.data());
  size_t o = 0;
  uint32_t x = 0, jj = 3, q = 0;
  for (size_t k = 0; k < i && n != 0; ++k) {
    const u8 c = src[k];
    if (c == '\r' || c == '\n' || c == ' ') continue;
    jj -= kMap[c] == 64 ? 1 : 0;
    x = (x << 6) | (kMap[c] & 0x3F);
    if (++q == 4) {
      q = 0;
      if (jj > 0) p[o++] = static_cast<u8>(x >> 16);
      if (jj > 1) p[o++] = static_cast<u8>(x >> 8);
      if (jj > 2) p[o++] = static_cast<u8>(x);
    }
  }
  return Done(out, o);
}

// libmodsecurity's decode_forgiven_engine (t:base64DecodeExt).
std::string_view Base64DecodeExt(std::string_view input, std::string& out) {
  out.resize(input.size() + 1);
  auto* p = reinterpret_cast<u8*>(out.data());
  const auto* src = reinterpret_cast<const u8*>(input.data());
  const size_t n = input.size();
  int i = 0, ch = 0;
  size_t j = 0;
  for (size_t k = 0; k < n; ++k) {
    ch = src[k];
    if (ch == '=') {
      const u8 next = k + 1 < n ? src[k + 1] : 0;
      if (next != '=' && i % 4 == 1) return Done(out, 0);
      continue;
    }
    int v = -1;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '+') {
      v = 62;
    } else if (ch == '/') {
      v = 63;
    }
    ch = v;
    if (ch < 0) continue;
    switch (i % 4) {
      case 0:
        p[j] = static_cast<u8>(ch << 2);
        break;
      case 1:
        p[j++] |= static_cast<u8>(ch >> 4);
        p[j] = static_cast<u8>((ch & 0x0f) << 4);
        break;
      case 2:
        p[j++] |= static_cast<u8>(ch >> 2);
        p[j] = static_cast<u8>((ch & 0x03) << 6);
        break;
      default:
        p[j++] |= static_cast<u8>(ch);
        break;
    }
    ++i;
  }
  // The library compares the last value it looked at (a decoded sextet too, and '9' decodes to
  // 61, which is '=') with the pad character.
  if (ch == '=' && i % 4 == 1) return Done(out, 0);
  return Done(out, j);
}

std::string_view Base64Encode(std::string_view input, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.resize((input.size() + 2) / 3 * 4);
  const auto* s = reinterpret_cast<const u8*>(input.data());
  size_t o = 0, i = 0;
  for (; i + 3 <= input.size(); i += 3) {
    out[o++] = kAlphabet[s[i] >> 2];
    out[o++] = kAlphabet[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
    out[o++] = kAlphabet[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
    out[o++] = kAlphabet[s[i + 2] & 0x3f];
  }
  if (i < input.size()) {
    const unsigned c1 = s[i];
    const unsigned c2 = i + 1 < input.size() ? s[i + 1] : 0;
    out[o++] = kAlphabet[c1 >> 2];
    out[o++] = kAlphabet[((c1 & 3) << 4) | (c2 >> 4)];
    out[o++] = i + 1 < input.size() ? kAlphabet[(c2 & 15) << 2] : '=';
    out[o++] = '=';
  }
  return Done(out, o);
}

std::string_view CmdLine(std::string_view input, std::string& out) {
  out.resize(input.size());
  size_t o = 0;
  bool space = false;
  for (const char ch : input) {
    const auto c = static_cast<u8>(ch);
    switch (c) {
      case '"':
      case '\'':
      case '\\':
      case '^':
        break;
      case ' ':
      case ',':
      case ';':
      case '\t':
      case '\r':
      case '\n':
        if (!space) {
          out[o++] = ' ';
          space = true;
        }
        break;
      case '/':
      case '(':
        if (space) --o;
        space = false;
        out[o++] = static_cast<char>(c);
        break;
      default:
        out[o++] = static_cast<char>(ToLower(c));
        space = false;
        break;
    }
  }
  return Done(out, o);
}

std::string_view Utf8ToUnicode(std::string_view input, std::string& out) {
  bool plain = true;
  for (const char ch : input) {
    const auto c = static_cast<u8>(ch);
    if (c == 0 || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return input;
  // The library walks the input including its terminating NUL (input_len = size + 1), writes
  // into a buffer and returns it up to the first NUL.
  const size_t n = input.size() + 1;
  const auto* in = reinterpret_cast<const u8*>(input.data());
  auto at = [&](size_t k) -> u8 { return k < input.size() ? in[k] : 0; };
  out.resize(n * 4 + 1);
  auto* data = reinterpret_cast<u8*>(out.data());
  size_t o = 0;
  auto emit_code = [&](unsigned d) {
    char hex[8];
    const auto r = std::to_chars(hex, hex + sizeof(hex), d, 16);
    const auto length = static_cast<size_t>(r.ptr - hex);
    data[o++] = '%';
    data[o++] = 'u';
    for (size_t pad = length; pad < 4; ++pad) data[o++] = '0';
    for (size_t x = 0; x < length; ++x) data[o++] = static_cast<u8>(hex[x]);
  };
  for (size_t i = 0; i < n;) {
    int unicode_len = 0;
    unsigned d = 0;
    const u8 c = at(i);
    if ((c & 0x80) == 0) {
      if (c == 0 && n > i + 1) {
        data[o] = X2c(0, at(i + 1));  // written but not kept: the next byte overwrites it
      } else {
        data[o++] = c;
      }
    } else if ((c & 0xE0) == 0xC0) {
      if ((at(i + 1) & 0xC0) != 0x80) {
        unicode_len = -1;
      } else {
        unicode_len = 2;
        d = ((c & 0x1Fu) << 6) | (at(i + 1) & 0x3Fu);
        emit_code(d);
      }
    } else if ((c & 0xF0) == 0xE0) {
      if ((at(i + 1) & 0xC0) != 0x80 || (at(i + 2) & 0xC0) != 0x80) {
        unicode_len = -1;
      } else {
        unicode_len = 3;
        d = ((c & 0x0Fu) << 12) | ((at(i + 1) & 0x3Fu) << 6) | (at(i + 2) & 0x3Fu);
        emit_code(d);
      }
    } else if ((c & 0xF8) == 0xF0) {
      if (c >= 0xF5) data[o++] = c;
      if ((at(i + 1) & 0xC0) != 0x80 || (at(i + 2) & 0xC0) != 0x80 || (at(i + 3) & 0xC0) != 0x80) {
        unicode_len = -1;
      } else {
        unicode_len = 4;
        d = ((c & 0x07u) << 18) | ((at(i + 1) & 0x3Fu) << 12) | ((at(i + 2) & 0x3Fu) << 6) |
            (at(i + 3) & 0x3Fu);
        emit_code(d);
      }
    } else {
      data[o++] = c;
    }
    if (d >= 0xD800 && d <= 0xDFFF) data[o++] = c;
    if ((unicode_len == 4 && d < 0x010000) || (unicode_len == 3 && d < 0x0800) ||
        (unicode_len == 2 && d < 0x80)) {
      data[o++] = c;  // overlong
    }
    i += unicode_len > 0 ? static_cast<size_t>(unicode_len) : 1;
  }
  data[o] = 0;
  return Done(out, std::strlen(reinterpret_cast<const char*>(data)));
}

template <typename Keep>
std::string_view Filter(std::string_view input, std::string& out, Keep keep) {
  out.resize(input.size());
  size_t o = 0;
  for (const char c : input) {
    if (keep(static_cast<u8>(c))) out[o++] = c;
  }
  if (o == input.size()) return input;
  return Done(out, o);
}

// A byte-for-byte mapping (a functor, so that the per-byte call is inlined).
template <typename F>
std::string_view Map(std::string_view input, std::string& out, F f) {
  size_t first = 0;
  while (first < input.size() && f(static_cast<u8>(input[first])) == static_cast<u8>(input[first]))
    ++first;
  if (first == input.size()) return input;
  out.assign(input);
  for (size_t i = first; i < out.size(); ++i) {
    out[i] = static_cast<char>(f(static_cast<u8>(out[i])));
  }
  return out;
}

template <typename InPlace>
std::string_view Decode(std::string_view input, std::string& out, InPlace fn) {
  u8* buf = CopyWithNul(input, out);
  return Done(out, fn(buf, input.size()));
}

u8 Parity(u8 c, bool even) {
  u8 x = static_cast<u8>(c ^ (c >> 4));
  x &= 0xf;
  const bool odd_bits = (0x6996 >> x) & 1;
  return odd_bits == even ? static_cast<u8>(c | 0x80) : static_cast<u8>(c & 0x7f);
}

}  // namespace

Result<std::unique_ptr<UnicodeMap>> UnicodeMap::Load(const std::filesystem::path& file,
                                                     int code_page) {
  std::error_code ec;
  std::ifstream in;
  if (std::filesystem::is_regular_file(file, ec)) in.open(file, std::ios::binary);
  if (!in.is_open()) return NotFound("cannot open the unicode map " + file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (text.empty()) return NotFound("the unicode map " + file.string() + " is empty");
  auto map = std::unique_ptr<UnicodeMap>(new UnicodeMap());
  map->table_.fill(-1);
  // RFC 3490 3.1 full stops, always mapped.
  for (const uint32_t dot : {0x3002u, 0xff61u, 0xff0eu, 0x002eu}) map->table_[dot] = 0x2e;
  bool found = false, processing = false;
  unsigned code = 0, value = 0;  // kept from one entry to the next, as the library's
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = text.find_first_not_of(" \t\n\r", pos);
    if (start == std::string::npos) break;
    size_t end = text.find_first_of(" \t\n\r", start);
    if (end == std::string::npos) end = text.size();
    const std::string token = text.substr(start, end - start);
    pos = end;
    if (std::atol(token.c_str()) == code_page) found = true;
    const size_t colon = token.find(':');
    if (found && colon != std::string::npos) {
      processing = true;
      std::sscanf(token.substr(0, colon).c_str(), "%x", &code);
      std::sscanf(token.substr(colon + 1).c_str(), "%x", &value);
      if (code <= 65535) map->table_[code] = static_cast<int32_t>(value);
    }
    if (processing && colon == std::string::npos) break;
  }
  return map;
}

std::string_view TransformationName(Transformation t) { return kNames[static_cast<size_t>(t)]; }

std::optional<Transformation> TransformationFromName(std::string_view name) {
  auto equals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (ToLower(static_cast<u8>(a[i])) != ToLower(static_cast<u8>(b[i]))) return false;
    }
    return true;
  };
  if (equals(name, "normalizePath")) return Transformation::kNormalisePath;
  if (equals(name, "normalizePathWin")) return Transformation::kNormalisePathWin;
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (equals(name, kNames[i])) return static_cast<Transformation>(i);
  }
  return std::nullopt;
}

std::string_view Transform(Transformation t, std::string_view input, std::string& out,
                           const UnicodeMap* map) {
  switch (t) {
    case Transformation::kNone:
      return input;
    case Transformation::kBase64Decode:
      return Base64Decode(input, out);
    case Transformation::kBase64DecodeExt:
      return Base64DecodeExt(input, out);
    case Transformation::kBase64Encode:
      return Base64Encode(input, out);
    case Transformation::kCmdLine:
      return CmdLine(input, out);
    case Transformation::kCompressWhitespace: {
      out.resize(input.size());
      size_t o = 0;
      bool in_space = false;
      for (const char c : input) {
        if (IsSpace(static_cast<u8>(c))) {
          if (in_space) continue;
          in_space = true;
          out[o++] = ' ';
        } else {
          in_space = false;
          out[o++] = c;
        }
      }
      if (std::string_view(out.data(), o) == input) return input;
      return Done(out, o);
    }
    case Transformation::kCssDecode:
      if (!Contains(input, '\\') && !Contains(input, '\0')) return input;
      return Decode(input, out, CssDecodeInPlace);
    case Transformation::kEscapeSeqDecode:
      if (!Contains(input, '\\')) return input;
      return Decode(input, out, EscapeSeqDecodeInPlace);
    case Transformation::kHexDecode:
      return Decode(input, out, [](u8* b, size_t n) {
        size_t o = 0;
        for (size_t i = 0; i + 1 < n; i += 2) b[o++] = X2c(b[i], b[i + 1]);
        return o;
      });
    case Transformation::kHexEncode: {
      static constexpr char kHex[] = "0123456789abcdef";
      out.resize(input.size() * 2);
      for (size_t i = 0; i < input.size(); ++i) {
        out[2 * i] = kHex[static_cast<u8>(input[i]) >> 4];
        out[2 * i + 1] = kHex[static_cast<u8>(input[i]) & 0xf];
      }
      return out;
    }
    case Transformation::kHtmlEntityDecode:
      if (!Contains(input, '&')) return input;
      return Decode(input, out, HtmlEntityDecodeInPlace);
    case Transformation::kJsDecode:
      if (!Contains(input, '\\')) return input;
      return Decode(input, out, JsDecodeInPlace);
    case Transformation::kLength: {
      out.resize(24);
      const auto r = std::to_chars(out.data(), out.data() + out.size(), input.size());
      return Done(out, static_cast<size_t>(r.ptr - out.data()));
    }
    case Transformation::kLowercase:
      return Map(input, out, [](u8 c) { return ToLower(c); });
    case Transformation::kMd5: {
      const auto d = Md5Digest(input);
      out.assign(reinterpret_cast<const char*>(d.data()), d.size());
      return out;
    }
    case Transformation::kNormalisePath:
    case Transformation::kNormalisePathWin: {
      const bool win = t == Transformation::kNormalisePathWin;
      u8* buf = CopyWithNul(input, out);
      return Done(out, NormalisePathInPlace(buf, input.size(), win));
    }
    case Transformation::kParityEven7bit:
      return Map(input, out, [](u8 c) { return Parity(c, true); });
    case Transformation::kParityOdd7bit:
      return Map(input, out, [](u8 c) { return Parity(c, false); });
    case Transformation::kParityZero7bit:
      return Map(input, out, [](u8 c) { return static_cast<u8>(c & 0x7f); });
    case Transformation::kRemoveComments:
      return Decode(input, out, [](u8* in, size_t len) {
        size_t i = 0, j = 0;
        bool incomment = false;
        while (i < len) {
          if (!incomment) {
            if (in[i] == '/' && i + 1 < len && in[i + 1] == '*') {
              incomment = true;
              i += 2;
            } else if (in[i] == '<' && i + 3 < len && in[i + 1] == '!' && in[i + 2] == '-' &&
                       in[i + 3] == '-') {
              incomment = true;
              i += 4;
            } else if ((in[i] == '-' && i + 1 < len && in[i + 1] == '-') || in[i] == '#') {
              break;
            } else {
              in[j++] = in[i++];
            }
          } else if (in[i] == '*' && i + 1 < len && in[i + 1] == '/') {
            // The byte after the comment is copied unexamined (the NUL at the very end too).
            incomment = false;
            i += 2;
            in[j++] = in[i++];
          } else if (in[i] == '-' && i + 2 < len && in[i + 1] == '-' && in[i + 2] == '>') {
            incomment = false;
            i += 3;
            in[j++] = in[i++];
          } else {
            ++i;
          }
        }
        if (incomment) in[j++] = ' ';
        return j;
      });
    case Transformation::kRemoveCommentsChar: {
      out.resize(input.size());
      size_t o = 0, i = 0;
      const size_t n = input.size();
      auto at = [&](size_t k) { return k < n ? input[k] : '\0'; };
      while (i < n) {
        const char c = input[i];
        if ((c == '/' && at(i + 1) == '*') || (c == '*' && at(i + 1) == '/')) {
          i += 2;
        } else if (c == '<' && at(i + 1) == '!' && at(i + 2) == '-' && at(i + 3) == '-') {
          i += 4;
        } else if (c == '-' && at(i + 1) == '-' && at(i + 2) == '>') {
          i += 3;
        } else if (c == '-' && at(i + 1) == '-') {
          i += 2;
        } else if (c == '#') {
          i += 1;
        } else {
          out[o++] = input[i++];
        }
      }
      if (o == n) return input;
      return Done(out, o);
    }
    case Transformation::kRemoveNulls:
      if (!Contains(input, '\0')) return input;
      return Filter(input, out, [](u8 c) { return c != 0; });
    case Transformation::kRemoveWhitespace:
      return Filter(input, out, [](u8 c) { return !IsSpace(c) && c != 0xa0 && c != 0xc2; });
    case Transformation::kReplaceComments:
      if (input.find("/*") == std::string_view::npos) return input;
      return Decode(input, out, [](u8* in, size_t len) {
        size_t i = 0, j = 0;
        bool incomment = false;
        while (i < len) {
          if (!incomment) {
            if (in[i] == '/' && i + 1 < len && in[i + 1] == '*') {
              incomment = true;
              i += 2;
            } else {
              in[j++] = in[i++];
            }
          } else if (in[i] == '*' && i + 1 < len && in[i + 1] == '/') {
            incomment = false;
            i += 2;
            in[j++] = ' ';
          } else {
            ++i;
          }
        }
        if (incomment) in[j++] = ' ';
        return j;
      });
    case Transformation::kReplaceNulls:
      if (!Contains(input, '\0')) return input;
      return Map(input, out, [](u8 c) { return c == 0 ? static_cast<u8>(' ') : c; });
    case Transformation::kSha1: {
      const auto d = Sha1Digest(input);
      out.assign(reinterpret_cast<const char*>(d.data()), d.size());
      return out;
    }
    case Transformation::kSqlHexDecode:
      return Decode(input, out, SqlHexDecodeInPlace);
    case Transformation::kTrim:
    case Transformation::kTrimLeft:
    case Transformation::kTrimRight: {
      std::string_view v = input;
      if (t != Transformation::kTrimLeft) {
        while (!v.empty() && IsSpace(static_cast<u8>(v.back()))) v.remove_suffix(1);
      }
      if (t != Transformation::kTrimRight) {
        while (!v.empty() && IsSpace(static_cast<u8>(v.front()))) v.remove_prefix(1);
      }
      return v;
    }
    case Transformation::kUppercase:
      return Map(input, out, [](u8 c) { return ToUpper(c); });
    case Transformation::kUrlDecode:
      if (!Contains(input, '%') && !Contains(input, '+')) return input;
      return Decode(input, out, UrlDecodeInPlace);
    case Transformation::kUrlDecodeUni:
      if (!Contains(input, '%') && !Contains(input, '+')) return input;
      return Decode(input, out, [map](u8* b, size_t n) { return UrlDecodeUniInPlace(b, n, map); });
    case Transformation::kUrlEncode: {
      out.resize(input.size() * 3);
      size_t o = 0;
      static constexpr char kHex[] = "0123456789abcdef";
      for (const char ch : input) {
        const auto c = static_cast<u8>(ch);
        if (c == ' ') {
          out[o++] = '+';
        } else if (c == '*' || IsAlnum(c)) {
          out[o++] = ch;
        } else {
          out[o++] = '%';
          out[o++] = kHex[c >> 4];
          out[o++] = kHex[c & 0xf];
        }
      }
      if (o == input.size() && !Contains(input, ' ')) return input;
      return Done(out, o);
    }
    case Transformation::kUtf8ToUnicode:
      return Utf8ToUnicode(input, out);
  }
  return input;
}

std::string_view TransformScratch::Run(std::span<const Transformation> chain,
                                       std::string_view input, const UnicodeMap* map) {
  std::string_view cur = input;
  for (const Transformation t : chain) {
    const bool in_a = !a_.empty() && cur.data() >= a_.data() && cur.data() < a_.data() + a_.size();
    cur = Transform(t, cur, in_a ? b_ : a_, map);
  }
  return cur;
}

}  // namespace ward::seclang

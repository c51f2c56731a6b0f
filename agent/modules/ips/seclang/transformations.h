// SecLang transformations (the `t:` actions) with libmodsecurity 3.0.9's byte-for-byte results,
// quirks included (documented in docs/ips.md, "Ward SecLang engine").
//
// A transformation reads a view and either returns that same view (nothing to change) or writes
// its result into a caller-owned, reusable buffer and returns a view of it. Buffers keep their
// capacity, so once warm a transformation performs no heap allocation.
//
// Thread-safety: the functions are pure; a TransformScratch belongs to one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ward::seclang {

enum class Transformation : uint8_t {
  kNone,
  kBase64Decode,
  kBase64DecodeExt,
  kBase64Encode,
  kCmdLine,
  kCompressWhitespace,
  kCssDecode,
  kEscapeSeqDecode,
  kHexDecode,
  kHexEncode,
  kHtmlEntityDecode,
  kJsDecode,
  kLength,
  kLowercase,
  kMd5,
  kNormalisePath,
  kNormalisePathWin,
  kParityEven7bit,
  kParityOdd7bit,
  kParityZero7bit,
  kRemoveComments,
  kRemoveCommentsChar,
  kRemoveNulls,
  kRemoveWhitespace,
  kReplaceComments,
  kReplaceNulls,
  kSha1,
  kSqlHexDecode,
  kTrim,
  kTrimLeft,
  kTrimRight,
  kUppercase,
  kUrlDecode,
  kUrlDecodeUni,
  kUrlEncode,
  kUtf8ToUnicode,
};
inline constexpr int kTransformationCount = static_cast<int>(Transformation::kUtf8ToUnicode) + 1;

// The name as the rule language spells it (`t:<name>`), e.g. "urlDecodeUni".
std::string_view TransformationName(Transformation t);

// Looks a `t:` name up the way libmodsecurity's parser does: case-insensitively, with the
// aliases normalizePath/normalizePathWin. Returns nullopt for an unknown name.
std::optional<Transformation> TransformationFromName(std::string_view name);

// SecUnicodeMapFile: the byte t:urlDecodeUni gives a %uXXXX escape, for the code points the
// chosen code page maps, read as libmodsecurity 3.0.9 reads the file. Immutable once loaded.
class UnicodeMap {
 public:
  // Errors: NotFound when the file cannot be read or is empty.
  static Result<std::unique_ptr<UnicodeMap>> Load(const std::filesystem::path& file, int code_page);
  int At(uint32_t code) const { return table_[code & 0xffff]; }  // -1: not mapped

 private:
  std::array<int32_t, 65536> table_;
};

// Applies `t` to `input`. Returns `input` itself when the transformation leaves it unchanged
// (where that is cheap to know), otherwise a view of `out`, which it overwrites. `map` is the
// configuration's SecUnicodeMapFile, if any (only t:urlDecodeUni reads it).
// REQUIRES: `input` does not point into `out`.
std::string_view Transform(Transformation t, std::string_view input, std::string& out,
                           const UnicodeMap* map = nullptr);

// Two buffers to run a chain of transformations without allocating once warm.
class TransformScratch {
 public:
  // Applies `chain` in order. The result views `input` or this scratch's buffers and stays
  // valid until the next call on this scratch.
  std::string_view Run(std::span<const Transformation> chain, std::string_view input,
                       const UnicodeMap* map = nullptr);

 private:
  std::string a_;
  std::string b_;
};

}  // namespace ward::seclang

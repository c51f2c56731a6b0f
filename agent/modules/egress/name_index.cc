#include "agent/modules/egress/name_index.h"

#include <algorithm>

namespace ward::agent::egress {
namespace {

// FNV-1a: names are short; no allocation, no seed needed (the index is rebuilt per load).
uint64_t Hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

}  // namespace

std::optional<std::string> NormalizeName(std::string_view t) {
  while (!t.empty() && (t.back() == '.')) t.remove_suffix(1);
  if (t.substr(0, 2) == "*.") t.remove_prefix(2);
  if (!t.empty() && t.front() == '.') t.remove_prefix(1);
  if (t.empty() || t.size() > 253) return std::nullopt;
  std::string out;
  out.reserve(t.size());
  size_t label = 0;
  bool all_numeric = true, label_numeric = true;
  for (char c : t) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      all_numeric = all_numeric && label_numeric;
      label = 0;
      label_numeric = true;
      out.push_back('.');
      continue;
    }
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool digit = c >= '0' && c <= '9';
    if (!digit && !(c >= 'a' && c <= 'z') && c != '-' && c != '_') return std::nullopt;
    label_numeric = label_numeric && digit;
    if (++label > 63) return std::nullopt;
    out.push_back(c);
  }
  if (label == 0) return std::nullopt;
  if (all_numeric && label_numeric) return std::nullopt;
  return out;
}

void NameIndex::Reserve(size_t names, size_t bytes) {
  arena_.reserve(bytes);
  entries_.reserve(names);
  size_t want = 16;
  while (want < names * 2) want <<= 1;
  if (want > slots_.size()) {
    slots_.assign(want, 0);
    for (uint32_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      std::string_view n(arena_.data() + e.offset, e.length);
      size_t mask = slots_.size() - 1;
      for (size_t s = Hash(n) & mask;; s = (s + 1) & mask) {
        if (slots_[s] == 0) {
          slots_[s] = i + 1;
          break;
        }
      }
    }
  }
}

void NameIndex::Grow() { Reserve(std::max<size_t>(entries_.size() * 2, 8), arena_.size()); }

uint32_t NameIndex::Find(std::string_view name, uint64_t hash) const {
  if (slots_.empty()) return 0;
  size_t mask = slots_.size() - 1;
  for (size_t s = hash & mask;; s = (s + 1) & mask) {
    uint32_t i = slots_[s];
    if (i == 0) return 0;
    const Entry& e = entries_[i - 1];
    if (e.length == name.size() && std::string_view(arena_.data() + e.offset, e.length) == name) {
      return i;
    }
  }
}

bool NameIndex::Insert(std::string_view name, uint16_t value) {
  if (name.empty() || name.size() > 255) return false;
  if ((entries_.size() + 1) * 2 > slots_.size()) Grow();
  uint64_t h = Hash(name);
  if (Find(name, h) != 0) return false;
  entries_.push_back(
      {static_cast<uint32_t>(arena_.size()), static_cast<uint8_t>(name.size()), value});
  arena_.append(name);
  size_t mask = slots_.size() - 1;
  for (size_t s = h & mask;; s = (s + 1) & mask) {
    if (slots_[s] == 0) {
      slots_[s] = static_cast<uint32_t>(entries_.size());
      return true;
    }
  }
}

std::optional<NameIndex::Hit> NameIndex::Match(std::string_view name) const {
  while (!name.empty()) {
    if (uint32_t i = Find(name, Hash(name)); i != 0) {
      const Entry& e = entries_[i - 1];
      return Hit{e.value, std::string_view(arena_.data() + e.offset, e.length)};
    }
    size_t dot = name.find('.');
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  return std::nullopt;
}

size_t NameIndex::MemoryBytes() const {
  return arena_.capacity() + entries_.capacity() * sizeof(Entry) +
         slots_.capacity() * sizeof(uint32_t);
}

}  // namespace ward::agent::egress

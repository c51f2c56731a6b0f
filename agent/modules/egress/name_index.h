// Domain names as egress compares them, and an index of a million of them with suffix match: an
// entry "example.com" covers "example.com" and every name under it ("cdn.example.com"), the most
// specific entry wins. One arena of bytes and an open-addressing table of 32-bit slots, so that a
// million names take ~40 MB and load in well under a second (bench/egress/).
// Thread-safety: const methods may run concurrently; Insert() needs exclusive access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ward::agent::egress {

// Lower case, without the trailing dot and without a leading "*." or "."; labels of letters,
// digits, '-' and '_' of 1-63 bytes, at most 253 bytes in all. nullopt for anything else (an IP
// address is not a name here: nullopt when every label is numeric).
std::optional<std::string> NormalizeName(std::string_view text);

class NameIndex {
 public:
  struct Hit {
    uint16_t value = 0;      // what Insert() was given
    std::string_view entry;  // the entry that matched (valid while the index lives)
  };
  void Reserve(size_t names, size_t bytes);
  // REQUIRES: `name` is normalised (NormalizeName). False when it is there already (its first
  // value stays).
  bool Insert(std::string_view name, uint16_t value);
  // The most specific entry that is `name` or a parent domain of it.
  std::optional<Hit> Match(std::string_view name) const;
  size_t size() const { return entries_.size(); }
  size_t MemoryBytes() const;

 private:
  struct Entry {
    uint32_t offset;
    uint8_t length;
    uint16_t value;
  };
  uint32_t Find(std::string_view name, uint64_t hash) const;  // entry index + 1, or 0
  void Grow();
  std::string arena_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> slots_;  // entry index + 1; 0 = empty; size a power of two
};

}  // namespace ward::agent::egress

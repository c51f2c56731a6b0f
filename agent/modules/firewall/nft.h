// Nftables: libnftables behind a small seam — run a rule-set text as one transaction, list Ward's
// table as JSON (for the rule counters). Thread-safe (one mutex around the library's context).
// Errors are Unavailable with libnftables' own message.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"

struct nft_ctx;

namespace ward::agent::firewall {

class Nftables {
 public:
  static Result<std::unique_ptr<Nftables>> Open();
  ~Nftables();
  Nftables(const Nftables&) = delete;
  Nftables& operator=(const Nftables&) = delete;

  // Runs `text` (nft syntax); all of it is one kernel transaction: applied whole or not at all.
  Status Run(std::string_view text);
  // `list table inet <table>` as libnftables' JSON; NotFound when there is no such table.
  Result<nlohmann::json> ListTable(std::string_view table);

 private:
  explicit Nftables(nft_ctx* ctx) : ctx_(ctx) {}
  Result<std::string> RunCaptured(std::string_view text, bool json);
  std::mutex mu_;
  nft_ctx* ctx_;
};

}  // namespace ward::agent::firewall

#include "agent/modules/firewall/nft.h"

#include <fmt/format.h>
#include <nftables/libnftables.h>

#include <string>

namespace ward::agent::firewall {

Result<std::unique_ptr<Nftables>> Nftables::Open() {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return Unavailable("libnftables: nft_ctx_new failed");
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    nft_ctx_free(ctx);
    return Unavailable("libnftables: cannot buffer output");
  }
  return std::unique_ptr<Nftables>(new Nftables(ctx));
}

Nftables::~Nftables() { nft_ctx_free(ctx_); }

Result<std::string> Nftables::RunCaptured(std::string_view text, bool json) {
  std::lock_guard lock(mu_);
  unsigned flags = nft_ctx_output_get_flags(ctx_);
  nft_ctx_output_set_flags(ctx_, json ? (flags | NFT_CTX_OUTPUT_JSON)
                                      : (flags & ~static_cast<unsigned>(NFT_CTX_OUTPUT_JSON)));
  std::string buf(text);
  int rc = nft_run_cmd_from_buffer(ctx_, buf.c_str());
  std::string out = nft_ctx_get_output_buffer(ctx_);
  std::string err = nft_ctx_get_error_buffer(ctx_);
  if (rc != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return Unavailable(fmt::format("nftables: {}", err.empty() ? "command failed" : err));
  }
  return out;
}

Status Nftables::Run(std::string_view text) { return RunCaptured(text, false).status(); }

Result<nlohmann::json> Nftables::ListTable(std::string_view table) {
  auto out = RunCaptured(fmt::format("list table inet {}", table), true);
  if (!out) {
    if (out.error().message().find("No such file") != std::string::npos) {
      return NotFound(fmt::format("no table inet {}", table));
    }
    return out.error();
  }
  nlohmann::json j = nlohmann::json::parse(*out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Internal("nftables: unreadable JSON listing");
  return j;
}

}  // namespace ward::agent::firewall

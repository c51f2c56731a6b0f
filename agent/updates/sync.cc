#include "agent/updates/sync.h"

#include <fmt/format.h>

#include "common/event.h"
#include "common/log.h"

namespace ward::updates {
namespace {

using json = nlohmann::json;

void CollectKinds(const json& j, std::set<std::string>& out, int depth) {
  if (depth > 64) return;
  if (j.is_string()) {
    if (std::string_view k = ManagedKind(j.get_ref<const std::string&>()); !k.empty()) {
      out.emplace(k);
    }
  } else if (j.is_object() || j.is_array()) {
    for (const auto& v : j) CollectKinds(v, out, depth + 1);
  }
}

}  // namespace

Result<Offer> ParseOffer(const json& j) {
  if (!j.is_object()) return InvalidArgument("updates: not an object");
  Offer o;
  if (auto k = j.find("key"); k != j.end() && k->is_string()) {
    o.key = k->get<std::string>();
    if (o.key.size() > 128) return InvalidArgument("updates.key: too long");
  } else {
    return InvalidArgument("updates.key: missing or not a string");
  }
  auto b = j.find("bundles");
  if (b == j.end() || !b->is_array()) return InvalidArgument("updates.bundles: not an array");
  if (b->size() > 64) return InvalidArgument("updates.bundles: too many");
  for (size_t i = 0; i < b->size(); ++i) {
    const json& e = (*b)[i];
    auto kind = e.is_object() ? e.find("kind") : e.end();
    auto version = e.is_object() ? e.find("version") : e.end();
    if (!e.is_object() || kind == e.end() || !kind->is_string() ||
        !IsKind(kind->get<std::string>()) || version == e.end() || !version->is_number_integer() ||
        version->get<int64_t>() < 1) {
      return InvalidArgument(fmt::format(
          "updates.bundles[{}]: expected {{\"kind\": <known kind>, \"version\": >= 1}}", i));
    }
    o.bundles.emplace_back(kind->get<std::string>(), version->get<int64_t>());
  }
  return o;
}

std::set<std::string> WantedKinds(const json& policy_document) {
  std::set<std::string> out;
  CollectKinds(policy_document, out, 0);
  return out;
}

UpdateSync::UpdateSync(std::filesystem::path state_dir, EventSink& events, const Clock& clock,
                       FormatCheck check, ReloadFn reload)
    : state_dir_(std::move(state_dir)),
      installer_(state_dir_),
      events_(events),
      clock_(clock),
      check_(std::move(check)),
      reload_(std::move(reload)) {
  std::lock_guard lock(mu_);
  for (std::string_view kind : kKinds) {
    if (int64_t v = installer_.Current(kind); v > 0) {
      status_[std::string(kind)] = {{"version", v}};
    }
  }
}

bool UpdateSync::Apply(const Offer& offer, const std::set<std::string>& wanted,
                       const PostFn& post) {
  bool applied = false;
  std::optional<PublicKey> key;
  for (const auto& [kind, version] : offer.bundles) {
    if (!wanted.contains(kind)) continue;
    if (installer_.Current(kind) == version) continue;
    if (auto it = refused_.find(kind); it != refused_.end() && it->second == version) continue;
    const int64_t previous = installer_.Current(kind);
    Status s;
    bool retry = false;
    if (!key) {
      auto k = installer_.PinKey(offer.key);
      if (!k) {
        s = k.error();
      } else {
        key = *k;
      }
    }
    if (key) s = ApplyOne(*key, kind, version, post, retry);
    if (s.ok()) {
      applied = true;
      refused_.erase(kind);
    } else if (!retry) {
      refused_[kind] = version;
    }
    if (s.ok() || !retry) {
      Report(kind, version, previous, s, nullptr);
    } else {
      spdlog::warn("update {} v{}: {} (retried at the next heartbeat)", kind, version,
                   s.ToString());
      std::lock_guard lock(mu_);
      status_[kind]["error"] = s.ToString();
    }
  }
  return applied;
}

Status UpdateSync::ApplyOne(const PublicKey& key, const std::string& kind, int64_t version,
                            const PostFn& post, bool& retry) {
  // Transport failures (no reply, 5xx) are retried; what the bundle is, is not.
  auto call = [&](std::string_view path, json body) -> Result<std::string> {
    auto r = post(path, body.dump());
    if (!r) {
      retry = true;
      return r.error();
    }
    if (r->first != 200) {
      retry = r->first >= 500 || r->first == 429;
      return Unavailable(fmt::format("{}: HTTP {}: {}", path, r->first, r->second.substr(0, 200)));
    }
    return std::move(r->second);
  };
  WARD_ASSIGN_OR_RETURN(std::string signed_text,
                        call("/agent/v1/updates/manifest", {{"kind", kind}, {"version", version}}));
  WARD_ASSIGN_OR_RETURN(SignedManifest sm, ParseSignedManifest(signed_text));
  WARD_ASSIGN_OR_RETURN(Manifest m, VerifyAndParse(sm, key, kind, version));
  FetchFn fetch = [&](const FileEntry& f) -> Result<std::string> {
    return call("/agent/v1/updates/file", {{"kind", kind}, {"sha256", f.sha256}});
  };
  auto staged = installer_.Stage(m, fetch, check_);
  if (!staged) return staged.error();
  for (const std::string& why : staged->delta_fallbacks) {
    // The whole file was fetched instead: the update goes on, the operator learns why.
    Event e = Event::Make(clock_, "ward", "change", "update_delta_refused", Severity::kMedium);
    e.Set("ward.update.kind", kind);
    e.Set("ward.update.version", version);
    e.Set("error.message", why);
    spdlog::warn("update {} v{}: cdiff not used, whole file fetched: {}", kind, version, why);
    events_.Emit(std::move(e));
  }
  retry = false;
  WARD_ASSIGN_OR_RETURN(int64_t previous, installer_.Activate(kind, version));
  Status reloaded = reload_ ? reload_(kind) : Status::Ok();
  if (!reloaded.ok()) {
    // The modules kept their previous engines; the link goes back to what they run.
    if (Status r = installer_.Restore(kind, previous); !r.ok()) {
      spdlog::error("update {}: restoring v{}: {}", kind, previous, r.ToString());
    }
    std::error_code ec;
    std::filesystem::remove_all(staged->dir, ec);
    return reloaded.WithContext("the modules could not load it; the previous version stays");
  }
  installer_.Prune(kind, previous);
  spdlog::info("update {} v{} applied ({} files fetched, {} from cdiffs, {} bytes; {} reused)",
               kind, version, staged->files_fetched, staged->files_patched, staged->bytes_fetched,
               staged->files_reused);
  {
    std::lock_guard lock(mu_);
    status_[kind] = {{"version", version},
                     {"applied_at", FormatTimestamp(clock_.Now())},
                     {"files_fetched", staged->files_fetched},
                     {"files_patched", staged->files_patched},
                     {"bytes_fetched", staged->bytes_fetched}};
  }
  return Status::Ok();
}

void UpdateSync::Report(const std::string& kind, int64_t version, int64_t previous, const Status& s,
                        const StageReport*) {
  Event e = Event::Make(clock_, "ward", "change", s.ok() ? "update_applied" : "update_rejected",
                        s.ok() ? Severity::kInfo : Severity::kHigh);
  e.Set("ward.update.kind", kind);
  e.Set("ward.update.version", version);
  e.Set("ward.update.previous_version", previous);
  if (!s.ok()) {
    e.Set("error.message", s.ToString());
    spdlog::error("update {} v{} refused (v{} stays in force): {}", kind, version, previous,
                  s.ToString());
    std::lock_guard lock(mu_);
    status_[kind]["error"] = fmt::format("v{} refused: {}", version, s.ToString());
    if (previous > 0) status_[kind]["version"] = previous;
  }
  events_.Emit(std::move(e));
}

json UpdateSync::StatusJson() const {
  std::lock_guard lock(mu_);
  return status_;
}

}  // namespace ward::updates

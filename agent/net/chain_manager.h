// ChainManager: the one owner of Ward's iptables/ip6tables chains (filter table), for every
// module that filters or queues packets (the IPS now; the firewall and egress modules next).
// docs/net.md.
//
// Layout, per family (iptables and ip6tables):
//
//   INPUT  ── 1st rule: -m comment --comment ward -j WARD_INPUT
//   OUTPUT ── 1st rule: -m comment --comment ward -j WARD_OUTPUT
//   WARD_INPUT:  -j WARD_FW_IN,  -j WARD_IPS_IN,  -j WARD_EGRESS_IN    (installed slots only,
//   WARD_OUTPUT: -j WARD_FW_OUT, -j WARD_IPS_OUT, -j WARD_EGRESS_OUT    always in Slot order)
//   WARD_<SLOT>_IN / _OUT: the module's own rules, as it gave them.
//
// A module's RETURN goes on to the next module's chain, then back to the built-in chain; a
// terminal verdict (DROP, ACCEPT, NFQUEUE) ends the packet's walk there. The built-in jumps exist
// only while at least one slot is installed.
//
// Every change is one `iptables-restore --noflush` transaction computed from the table as
// `iptables-save` shows it now, so no packet sees a half-installed set: a slot's rules are
// replaced whole, and whatever else carries Ward's name (a chain called WARD_*, a rule jumping to
// one or commented `ward`, e.g. left by an agent that was killed, or by an older layout) is
// removed in the same transaction. Open() removes all of it before any module installs (crash
// cleanup) — or, with Options::clean_up_at_open false, RemoveLeftovers() does once the modules had
// their chance to install (their installs remove leftovers in the same transaction); the
// destructor removes everything this manager installed.
//
// Thread-safety: every method may be called from any thread (one mutex). Blocking: each call
// runs iptables-save/-restore (a few ms). Errors: Unavailable naming the tool and its message.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ward::net {

enum class Family { kIpv4, kIpv6 };
// The built-in chain a rule belongs under.
enum class Hook { kInput, kOutput };
// A module's place in Ward's chains; packets walk the slots in this order.
enum class Slot { kFirewall, kIps, kEgress };
inline constexpr std::array<Slot, 3> kSlotOrder = {Slot::kFirewall, Slot::kIps, Slot::kEgress};

// One rule of a module: the hook it is for and what follows `-A <chain>` (matches and target).
struct Rule {
  Hook hook = Hook::kInput;
  std::vector<std::string> args;
};

// "WARD_IPS_IN", "WARD_FW_OUT", ...
std::string SlotChain(Slot slot, Hook hook);
std::string_view FamilyTool(Family family);  // "iptables" / "ip6tables"

// The filter table as `iptables-save -t filter` prints it: user chains and rules ("-A" lines,
// split into chain and the rest, verbatim).
struct SavedTable {
  std::vector<std::string> chains;
  struct Line {
    std::string chain;
    std::string spec;  // everything after `-A <chain> `
  };
  std::vector<Line> rules;
};
SavedTable ParseSave(std::string_view text);

// What Ward wants installed in one family: each slot's rules (a slot absent from the map is not
// installed).
using Layout = std::map<Slot, std::vector<Rule>>;

// The iptables-restore (--noflush) input that turns `current` into `want`: leftovers removed
// (jumps to WARD_* chains or commented `ward` in other chains, WARD_* chains not in `want`), the
// wanted chains created or flushed and filled, WARD_INPUT/WARD_OUTPUT jumping to the slots in
// order, the built-in jumps added when missing. Empty when there is nothing to do. Pure: for tests.
std::string RestoreScript(const SavedTable& current, const Layout& want);

// Whether `current` holds anything of Ward's.
bool HasWardRules(const SavedTable& current);

class ChainManager {
 public:
  struct Options {
    // Families to manage. IPv6 failing (no ip6tables, no IPv6) is reported per call.
    bool ipv4 = true;
    bool ipv6 = true;
    // Open() removes leftovers at once; false: the caller calls RemoveLeftovers() later.
    bool clean_up_at_open = true;
  };
  // Removes whatever Ward left in both families' filter tables (crash cleanup), unless
  // options.clean_up_at_open is false (then it only checks iptables can be read). Fails when
  // iptables cannot be read or changed; an ip6tables failure is logged and IPv6 is left alone.
  static Result<std::unique_ptr<ChainManager>> Open(Options options);
  static Result<std::unique_ptr<ChainManager>> Open() { return Open(Options{}); }
  // Removes everything this manager installed (errors are logged).
  ~ChainManager();
  ChainManager(const ChainManager&) = delete;
  ChainManager& operator=(const ChainManager&) = delete;

  // Installs or replaces `slot`'s rules in `family`, in one transaction.
  Status Install(Family family, Slot slot, std::vector<Rule> rules);
  // Removes `slot` from `family` (and the built-in jumps when it was the last); idempotent.
  Status Remove(Family family, Slot slot);
  // Removes `slot` from both families; errors are logged.
  void RemoveSlot(Slot slot);
  // Removes what is Ward's but not installed by this manager (a dead agent's chains), leaving
  // installed slots as they are; nothing is written when there is nothing to remove. Errors are
  // logged (IPv6) or returned (IPv4).
  Status RemoveLeftovers();

 private:
  explicit ChainManager(Options options) : options_(options) {}
  // Makes `family`'s table hold `want` and nothing else of Ward's. only_leftovers: write only when
  // that removes something. REQUIRES: mu_ held.
  Status Converge(Family family, const Layout& want, bool only_leftovers = false);
  std::mutex mu_;
  Options options_;
  std::map<Family, Layout> installed_;
};

}  // namespace ward::net

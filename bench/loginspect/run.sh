#!/bin/bash
# Log inspection benchmark (bench/loginspect/README.md; not a test): Ward's engine against real
# ossec-analysisd (fed through its queue socket) and ossec-logtest, both built from the OSSEC
# source, same corpus, same OSSEC rules; then Ward with the full Wazuh ruleset.
#
# usage: bench/loginspect/run.sh BUILD_DIR OSSEC_SRC [LINES]
#   BUILD_DIR  a configured Ward build (loginspect_bench is built there); scratch files go to
#              BUILD_DIR/loginspect-bench
#   OSSEC_SRC  the ossec/ossec-hids sources: a git directory (exported with git archive HEAD) or a
#              source tree; built in the scratch directory, never in the Ward tree
#   LINES      corpus size (default 1000000)
# OSSEC's build needs: build-essential libpcre2-dev libssl-dev zlib1g-dev libmagic-dev.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
OSSEC_SRC=$2
LINES=${3:-1000000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S=$BUILD/loginspect-bench
ORACLE=$ROOT/testdata/oracles/wazuh-ruleset
mkdir -p "$S"

echo "== corpus ($LINES lines)"
python3 "$ROOT/bench/loginspect/gen.py" "$S/corpus.log" --lines "$LINES"

echo "== OSSEC: build ossec-analysisd and ossec-logtest"
I=$S/ossec-inst
# PREFIX is compiled in (DEFAULTDIR: internal_options.conf is read from it before the chroot), so
# a build made for another scratch directory is rebuilt.
if [ ! -x "$S/ossec/src/ossec-analysisd" ] || [ ! -x "$S/ossec/src/ossec-logtest" ] ||
  [ "$(cat "$S/ossec/.ward-prefix" 2>/dev/null)" != "$I" ]; then
  rm -rf "$S/ossec" && mkdir -p "$S/ossec"
  if [ -d "$OSSEC_SRC/src" ]; then
    cp -a "$OSSEC_SRC/." "$S/ossec/"
  else
    git --git-dir="$OSSEC_SRC" archive HEAD | tar -x -C "$S/ossec"
  fi
  # OSSEC_USER/GROUP root: ossec-logtest drops privileges to them and chroots to PREFIX.
  (cd "$S/ossec/src" && make -j"$(nproc)" TARGET=local PREFIX="$I" OSSEC_USER=root \
    OSSEC_GROUP=root USE_SYSTEMD=no USE_SQLITE=no ossec-logtest ossec-analysisd \
    > "$S/ossec-build.log" 2>&1)
  echo "$I" > "$S/ossec/.ward-prefix"
fi
echo "OSSEC $(git --git-dir="$OSSEC_SRC" rev-parse --short HEAD 2>/dev/null || echo tree) $(cat "$S/ossec/src/VERSION" 2>/dev/null)"

# The installation both read (chroot PREFIX): the oracle's decoder.xml and rules (the same files
# Ward loads), the rule list of OSSEC's default server ossec.conf. ossec-analysisd's pipeline runs
# one thread per stage (decode, rule matching, input demux: OSSEC's defaults are one per CPU, which
# shards the correlation state by location and only adds hand-offs on this machine; its CPU is
# counted over all threads either way) and writes its state file every second.
rm -rf "$I" && mkdir -p "$I/etc/shared" "$I/rules" "$I/logs/alerts" "$I/logs/archives" \
  "$I/logs/firewall" "$I/queue/fts" "$I/queue/ossec" "$I/queue/alerts" "$I/stats" "$I/var/run" "$I/tmp"
: > "$I/etc/shared/ar.conf"
sed -e 's/^analysisd.event_threads=.*/analysisd.event_threads=1/' \
  -e 's/^analysisd.rule_matching_threads=.*/analysisd.rule_matching_threads=1/' \
  -e 's/^analysisd.input_demux_threads=.*/analysisd.input_demux_threads=1/' \
  -e 's/^analysisd.state_interval=.*/analysisd.state_interval=1/' \
  -e 's/^analysisd\.\([a-z_]*\)_push_wait_ms=.*/analysisd.\1_push_wait_ms=5000/' \
  "$S/ossec/etc/internal_options.conf" > "$I/etc/internal_options.conf"
cp "$ORACLE/ossec-hids/decoder.xml" "$I/etc/"
cp "$ORACLE/ossec-hids/rules/"*.xml "$I/rules/"
{ echo "<ossec_config>"; sed -n '/<rules>/,/<\/rules>/p' "$S/ossec/etc/ossec-server.conf"; echo "</ossec_config>"; } > "$I/etc/ossec.conf"

T="/usr/bin/time -f %U\t%S\t%M\t%e"
echo "== ossec-analysisd, fed through its queue socket as ossec-logcollector feeds it"
python3 "$ROOT/bench/loginspect/analysisd.py" "$S/ossec/src/ossec-analysisd" "$I" "$S/corpus.log" \
  "$S/analysisd.json"
cp "$I/logs/alerts/alerts.log" "$S/analysisd.alerts"

echo "== ossec-logtest -a (no network: its is_valid_crawler rule does reverse DNS lookups)"
: > "$S/empty.log"
$T -o "$S/ossec-empty.time" unshare -n "$S/ossec/src/ossec-logtest" -a < "$S/empty.log" > /dev/null 2>&1
$T -o "$S/ossec.time" unshare -n "$S/ossec/src/ossec-logtest" -a < "$S/corpus.log" \
  > "$S/ossec.alerts" 2> "$S/ossec.stderr"

echo "== ward, OSSEC rules"
cmake --build "$BUILD" --target loginspect_bench > /dev/null
WB=$BUILD/bench/loginspect/loginspect_bench
$T -o "$S/ward-ossec.time" "$WB" --ossec-decoder "$ORACLE/ossec-hids/decoder.xml" \
  --ossec-rules "$ORACLE/ossec-hids/rules" --ossec-conf "$I/etc/ossec.conf" \
  --corpus "$S/corpus.log" --alerts "$S/ward-ossec.alerts" | tee "$S/ward-ossec.out"
echo "== ward, OSSEC rules, OSSEC's correlation semantics (--compat ossec)"
$T -o "$S/ward-ossec-compat.time" "$WB" --ossec-decoder "$ORACLE/ossec-hids/decoder.xml" \
  --ossec-rules "$ORACLE/ossec-hids/rules" --ossec-conf "$I/etc/ossec.conf" --compat ossec \
  --corpus "$S/corpus.log" --alerts "$S/ward-ossec-compat.alerts" | tee "$S/ward-ossec-compat.out"
echo "== ward, Wazuh ruleset"
$T -o "$S/ward-wazuh.time" "$WB" --wazuh "$ORACLE/wazuh-v4.14.7" --corpus "$S/corpus.log" \
  --alerts "$S/ward-wazuh.alerts" | tee "$S/ward-wazuh.out"

echo "== results"
python3 - "$S" "$LINES" <<'PY'
import json, sys
s, lines = sys.argv[1], int(sys.argv[2])
def t(name):
    u, sy, rss, wall = open("%s/%s.time" % (s, name)).read().split()[-4:]
    return float(u), float(sy), int(rss) / 1024.0, float(wall)
def ward(name):
    out = open("%s/%s.out" % (s, name)).read()
    run = [l for l in out.splitlines() if l.startswith("run:")][0].split()
    load = [l for l in out.splitlines() if l.startswith("load:")][0].split()
    return float(run[4]), float(load[1]), float(load[4])
def count(path):
    return sum(1 for l in open(path, errors="replace") if l.startswith("Rule: "))
a = json.load(open("%s/analysisd.json" % s))
a_cpu, a_user = a["user"] + a["sys"], a["user"]
ou, osy, orss, _ = t("ossec")
eu, esy, _, _ = t("ossec-empty")
o_cpu = (ou + osy) - (eu + esy)
o_user = ou - eu
print("| engine | lines/s per core (user+sys) | CPU s (user+sys) | user s | peak RSS MB | alerts |")
print("|---|---:|---:|---:|---:|---:|")
print("| ossec-analysisd, OSSEC rules, queue socket | %.0f | %.2f | %.2f | %.1f | %d |" % (lines / a_cpu, a_cpu, a_user, a["peak_rss_mb"], a["alerts"]))
print("| ossec-logtest -a, OSSEC rules | %.0f | %.2f | %.2f | %.1f | %d |" % (lines / o_cpu, o_cpu, o_user, orss, count("%s/ossec.alerts" % s)))
for name, label in (("ward-ossec", "ward, OSSEC rules"), ("ward-wazuh", "ward, Wazuh 4.14.7 ruleset")):
    cpu, lw, lc = ward(name)
    u, sy, rss, _ = t(name)
    n = sum(1 for _ in open("%s/%s.alerts" % (s, name), errors="replace"))
    print("| %s | %.0f | %.2f | %.2f | %.1f | %d |" % (label, lines / cpu, cpu, u, rss, n))
    if name == "ward-ossec":
        wo = cpu
    else:
        print("\nWazuh ruleset load: %.3f s wall, %.3f s CPU" % (lw, lc))
print("ossec-analysisd: %d lines received, %d processed, %d dropped, %d alerts written, %.1f s wall"
      % (a["events_received"], a["events_processed"], a["events_dropped"], a["alerts_written"], a["wall"]))
print("ward / ossec-analysisd lines/s per core: %.2fx (user+sys), %.2fx (user only)" % (a_cpu / wo, a_user / wo))
print("ward / ossec-logtest lines/s per core: %.2fx (user+sys), %.2fx (user only)" % (o_cpu / wo, o_user / wo))
print("(processing CPU: ossec-analysisd's /proc CPU of all threads from the first line sent until the")
print(" last line processed and its alerts written; ossec-logtest's total minus an empty-input run's;")
print(" ward's measured around the loop, user+sys; 'user only' divides each one's user CPU by ward's user+sys)")
PY
python3 "$ROOT/bench/loginspect/compare.py" --names ossec-analysisd,ward "$S/analysisd.alerts" \
  "$S/ward-ossec.alerts" > "$S/compare.txt"
head -40 "$S/compare.txt"
python3 "$ROOT/bench/loginspect/compare.py" --names ossec-analysisd,ward-compat-ossec \
  "$S/analysisd.alerts" "$S/ward-ossec-compat.alerts" > "$S/compare-compat-ossec.txt"
echo "== ossec-analysisd vs ward --compat ossec"
head -3 "$S/compare-compat-ossec.txt"
python3 "$ROOT/bench/loginspect/compare.py" --names ossec-logtest,ossec-analysisd "$S/ossec.alerts" \
  "$S/analysisd.alerts" > "$S/compare-logtest-analysisd.txt"
echo "== ossec-logtest vs ossec-analysisd"
head -3 "$S/compare-logtest-analysisd.txt"

#!/bin/bash
# Log inspection benchmark (bench/loginspect/README.md; not a test): Ward's engine against real
# ossec-logtest built from the OSSEC source, same corpus, same OSSEC rules; then Ward with the full
# Wazuh ruleset.
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

echo "== OSSEC: build ossec-logtest"
if [ ! -x "$S/ossec/src/ossec-logtest" ]; then
  rm -rf "$S/ossec" && mkdir -p "$S/ossec"
  if [ -d "$OSSEC_SRC/src" ]; then
    cp -a "$OSSEC_SRC/." "$S/ossec/"
  else
    git --git-dir="$OSSEC_SRC" archive HEAD | tar -x -C "$S/ossec"
  fi
  # OSSEC_USER/GROUP root: ossec-logtest drops privileges to them and chroots to PREFIX.
  (cd "$S/ossec/src" && make -j"$(nproc)" TARGET=local PREFIX="$S/ossec-inst" OSSEC_USER=root \
    OSSEC_GROUP=root USE_SYSTEMD=no USE_SQLITE=no ossec-logtest > "$S/ossec-build.log" 2>&1)
fi
echo "OSSEC $(git --git-dir="$OSSEC_SRC" rev-parse --short HEAD 2>/dev/null || echo tree) $(cat "$S/ossec/src/VERSION" 2>/dev/null)"

# The installation ossec-logtest reads (chroot PREFIX): the oracle's decoder.xml and rules (the
# same files Ward loads), the rule list of OSSEC's default server ossec.conf.
I=$S/ossec-inst
rm -rf "$I" && mkdir -p "$I/etc" "$I/rules" "$I/logs" "$I/queue/fts" "$I/queue/ossec" "$I/var" "$I/tmp"
cp "$S/ossec/etc/internal_options.conf" "$I/etc/"
cp "$ORACLE/ossec-hids/decoder.xml" "$I/etc/"
cp "$ORACLE/ossec-hids/rules/"*.xml "$I/rules/"
{ echo "<ossec_config>"; sed -n '/<rules>/,/<\/rules>/p' "$S/ossec/etc/ossec-server.conf"; echo "</ossec_config>"; } > "$I/etc/ossec.conf"

T="/usr/bin/time -f %U\t%S\t%M\t%e"
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
echo "== ward, Wazuh ruleset"
$T -o "$S/ward-wazuh.time" "$WB" --wazuh "$ORACLE/wazuh-v4.14.7" --corpus "$S/corpus.log" \
  --alerts "$S/ward-wazuh.alerts" | tee "$S/ward-wazuh.out"

echo "== results"
python3 - "$S" "$LINES" <<'PY'
import sys
s, lines = sys.argv[1], int(sys.argv[2])
def t(name):
    u, sy, rss, wall = open("%s/%s.time" % (s, name)).read().split()[-4:]
    return float(u), float(sy), int(rss) / 1024.0, float(wall)
def ward(name):
    out = open("%s/%s.out" % (s, name)).read()
    run = [l for l in out.splitlines() if l.startswith("run:")][0].split()
    load = [l for l in out.splitlines() if l.startswith("load:")][0].split()
    return float(run[4]), float(load[1]), float(load[4])
ou, osy, orss, _ = t("ossec")
eu, esy, _, _ = t("ossec-empty")
o_cpu = (ou + osy) - (eu + esy)
o_user = ou - eu
alerts = sum(1 for l in open("%s/ossec.alerts" % s, errors="replace") if l.startswith("Rule: "))
print("| engine | lines/s per core (user+sys) | CPU s (user+sys) | user s | peak RSS MB | alerts |")
print("|---|---:|---:|---:|---:|---:|")
print("| ossec-logtest -a, OSSEC rules | %.0f | %.2f | %.2f | %.1f | %d |" % (lines / o_cpu, o_cpu, o_user, orss, alerts))
for name, label in (("ward-ossec", "ward, OSSEC rules"), ("ward-wazuh", "ward, Wazuh 4.14.7 ruleset")):
    cpu, lw, lc = ward(name)
    u, sy, rss, _ = t(name)
    n = sum(1 for _ in open("%s/%s.alerts" % (s, name), errors="replace"))
    print("| %s | %.0f | %.2f | %.2f | %.1f | %d |" % (label, lines / cpu, cpu, u, rss, n))
    if name == "ward-ossec":
        wo = cpu
    else:
        print("\nWazuh ruleset load: %.3f s wall, %.3f s CPU" % (lw, lc))
print("ward / ossec-logtest lines/s per core: %.2fx (user+sys), %.2fx (user only)" % (o_cpu / wo, o_user / wo))
print("(processing CPU: ossec-logtest's total minus an empty-input run's; ward's measured around the loop)")
PY
python3 "$ROOT/bench/loginspect/compare.py" "$S/ossec.alerts" "$S/ward-ossec.alerts" > "$S/compare.txt"
head -40 "$S/compare.txt"

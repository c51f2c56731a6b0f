#!/bin/sh
# Bytes an agent fetches for one ClamAV daily update: the whole file vs the cdiff the manager
# makes (docs/updates.md, "Incremental ClamAV updates"; figures in bench/RESULTS.md).
# Builds two versions of a daily database with ClamAV's sigtool (Debian package clamav):
# HASH hash and BODY body signatures, then the next version with CHANGE per mille of the lines
# of each file dropped and 2 x CHANGE per mille new ones added (a daily update adds more than it
# drops), publishes both with `ward-manager updates publish` and reads the signed manifest.
# Usage: bench/updates/cdiff_bytes.sh BUILD_DIR [HASH=100000] [BODY=10000] [CHANGE=5]
set -eu
BUILD=$(cd "$1" && pwd); HASH=${2:-100000}; BODY=${3:-10000}; CHANGE=${4:-5}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT INT TERM
MGRBIN=$BUILD/bin/ward-manager
"$MGRBIN" init --db "sqlite:$W/m.db" --state-dir "$W/state" --json > /dev/null
gen() {  # gen VERSION DIR
  python3 - "$HASH" "$BODY" "$CHANGE" "$1" "$2" <<'PY'
import hashlib, sys
h, b, change, version, d = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                            int(sys.argv[4]), sys.argv[5])
def lines(n, fmt):
    out = [fmt(i) for i in range(n)]
    if version == 2:
        step = max(1, 1000 // change)
        out = [l for i, l in enumerate(out) if i % step != 7]
        out += [fmt(n + i) for i in range(max(1, n * 2 * change // 1000))]
    return out
md5 = lambda i: hashlib.md5(str(i).encode()).hexdigest()
with open(d + "/daily.hdb", "w") as f:
    f.write("".join("%s:%d:Bench.Hash.%d\n" % (md5(i), 1000 + i, i) for i in lines(h, int)))
with open(d + "/daily.ndb", "w") as f:
    f.write("".join("Bench.Body.%d:0:*:%s%s\n" % (i, md5(i), md5(-i)) for i in lines(b, int)))
with open(d + "/COPYING", "w") as f:
    f.write("bench database\n")
PY
}
for v in 1 2; do
  mkdir -p "$W/v$v"
  gen "$v" "$W/v$v"
  (cd "$W/v$v" && echo bench | sigtool --build=daily.cud --unsigned --cvd-version="$v" \
     --datadir="$W/none" >/dev/null 2>&1)
done
S0=$(date +%s.%N)
"$MGRBIN" updates publish --state-dir "$W/state" --kind clamav "$W/v1/daily.cud" > /dev/null
S1=$(date +%s.%N)
"$MGRBIN" updates publish --state-dir "$W/state" --kind clamav "$W/v2/daily.cud" > /dev/null
S2=$(date +%s.%N)
M=$(jq -r .manifest "$W/state/updates/clamav/2.json")
WHOLE=$(echo "$M" | jq '.files[] | select(.name=="daily.cud") | .size')
DELTA=$(echo "$M" | jq '.files[] | select(.name=="daily.cud") | .delta.size // 0')
SIGTOOL=$(stat -c %s "$W/v2/daily.cud")
printf 'signatures v1: %s hash + %s body; change %s/1000 dropped, %s/1000 added\n' \
  "$HASH" "$BODY" "$CHANGE" $((2 * CHANGE))
printf 'whole file (canonical .cud, tar): %s bytes\n' "$WHOLE"
printf 'whole file as sigtool wrote it (tar.gz): %s bytes\n' "$SIGTOOL"
printf 'cdiff: %s bytes\n' "$DELTA"
python3 -c "import sys; w,d,s=map(int,sys.argv[1:]); print('whole/cdiff: %.1fx (tar.gz/cdiff: %.1fx)' % (w/d, s/d))" \
  "$WHOLE" "$DELTA" "$SIGTOOL"
python3 -c "import sys; a,b,c=map(float,sys.argv[1:]); print('publish v1 %.2f s, v2 (with the cdiff) %.2f s' % (b-a, c-b))" \
  "$S0" "$S1" "$S2"

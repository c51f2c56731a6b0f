#!/bin/sh
# Distributes one signature update to N simulated agents through a real ward-manager and
# measures the time, the manager's CPU and the bytes sent (docs/updates.md, bench/RESULTS.md).
# Each simulated agent activates with a real token and fetches the signed manifest and the file
# over /agent/v1 exactly as ward-agent does (curl over TLS, one connection per request).
# Usage: bench/updates/run.sh BUILD_DIR [SIZE_MB=100] [AGENTS=100] [PARALLEL=20]
set -eu
BUILD=$(cd "$1" && pwd); SIZE_MB=${2:-100}; AGENTS=${3:-100}; PAR=${4:-20}
W=$(mktemp -d); trap 'kill $MGR 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT INT TERM
MGRBIN=$BUILD/bin/ward-manager
"$MGRBIN" init --db "sqlite:$W/m.db" --state-dir "$W/state" --json > "$W/init.json"
KEY=$(jq -r .api_key "$W/init.json")
# A 100 MB ClamAV database: hash signatures (one per line, as daily.hdb).
python3 -c "
import hashlib,sys
n=int(sys.argv[1])*1024*1024; out=open(sys.argv[2],'w'); i=0; w=0
while w<n:
  l='%s:%d:Bench.Sig.%d\n'%(hashlib.md5(str(i).encode()).hexdigest(),1000+i,i); out.write(l); w+=len(l); i+=1
" "$SIZE_MB" "$W/bench.hdb"
"$MGRBIN" updates publish --state-dir "$W/state" --kind clamav "$W/bench.hdb" >/dev/null
"$MGRBIN" serve --db "sqlite:$W/m.db" --state-dir "$W/state" --listen 127.0.0.1:0 --no-jobs \
  --rate-limit-agent 0 > "$W/serve.out" 2> "$W/serve.err" &
MGR=$!
while ! grep -q listening "$W/serve.out"; do sleep 0.1; done
URL=$(sed -n 's/^listening: //p' "$W/serve.out")
C="curl -sk --fail"
TOKEN=$($C -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "{\"max_uses\": $AGENTS}" "$URL/api/v1/activation-tokens" | jq -r .token)
for i in $(seq 1 "$AGENTS"); do
  $C -H 'Content-Type: application/json' \
    -d "{\"token\":\"$TOKEN\",\"hostname\":\"sim-$i\",\"machine_id\":\"m-$i\"}" \
    "$URL/agent/v1/activate" | jq -r .credential > "$W/cred.$i"
done
SHA=$(sha256sum "$W/bench.hdb" | cut -d' ' -f1)
ticks() { awk '{print $14+$15}' "/proc/$MGR/stat"; }
T0=$(ticks); S0=$(date +%s.%N)
seq 1 "$AGENTS" | xargs -P "$PAR" -I{} sh -c "
  CRED=\$(cat $W/cred.{})
  $C -H \"Authorization: Bearer \$CRED\" -H 'Content-Type: application/json' \
     -d '{\"kind\":\"clamav\",\"version\":1}' $URL/agent/v1/updates/manifest > /dev/null
  GOT=\$($C -H \"Authorization: Bearer \$CRED\" -H 'Content-Type: application/json' \
     -d '{\"kind\":\"clamav\",\"sha256\":\"$SHA\"}' $URL/agent/v1/updates/file | sha256sum | cut -d' ' -f1)
  [ \"\$GOT\" = $SHA ] && echo $((SIZE_MB * 1048576)) >> $W/sizes || echo bad >> $W/bad"
S1=$(date +%s.%N); T1=$(ticks)
HZ=$(getconf CLK_TCK)
BYTES=$(awk '{s+=$1} END {print s}' "$W/sizes")
BAD=$(cat "$W/bad" 2>/dev/null | wc -l)
awk -v s0="$S0" -v s1="$S1" -v t0="$T0" -v t1="$T1" -v hz="$HZ" -v b="$BYTES" -v n="$AGENTS" \
    -v mb="$SIZE_MB" -v bad="$BAD" -v par="$PAR" 'BEGIN {
  w = s1 - s0; cpu = (t1 - t0) / hz
  printf "agents %d (parallel %d), file %d MiB: wall %.1f s, manager CPU %.1f s (%.0f%% of one core), sent %.0f MiB (%.0f MiB/s), bad copies %d\n",
         n, par, mb, w, cpu, 100 * cpu / w, b / 1048576, b / 1048576 / w, bad }'

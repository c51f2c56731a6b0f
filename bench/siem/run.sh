#!/usr/bin/env bash
# SIEM forwarding throughput against rsyslog's own (bench/siem/README.md).
# usage: bench/siem/run.sh [BUILD_DIR] [EVENTS] [INGEST_EVENTS_PER_S]
# Ward: one forwarder over TCP (CEF) drains a backlog of EVENTS stored events into a local
# rsyslogd (imtcp -> omfile) while ingestion stores INGEST_EVENTS_PER_S more in the same database.
# Anchor: the same EVENTS messages sent to the same rsyslogd by `logger --tcp --octet-count`.
# Both are timed until rsyslogd has written every message to its file.
set -euo pipefail
BUILD=${1:-build}
N=${2:-200000}
RATE=${3:-5000}
DIR=$(mktemp -d /tmp/ward-siem-bench.XXXXXX)
cleanup() {
  if [[ -f $DIR/rsyslogd.pid ]]; then kill "$(cat "$DIR/rsyslogd.pid")" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

start_rsyslog() {
  rm -f "$DIR/out.log" "$DIR/port"
  cat > "$DIR/rsyslog.conf" <<CONF
global(workDirectory="$DIR" maxMessageSize="64k")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="$DIR/port")
template(name="raw" type="string" string="%rawmsg%\n")
action(type="omfile" file="$DIR/out.log" template="raw")
CONF
  rsyslogd -n -f "$DIR/rsyslog.conf" -i "$DIR/rsyslogd.pid" >"$DIR/rsyslogd.log" 2>&1 &
  for _ in $(seq 200); do [[ -s $DIR/port ]] && break; sleep 0.05; done
  PORT=$(cat "$DIR/port")
}
stop_rsyslog() { kill "$(cat "$DIR/rsyslogd.pid")"; while [[ -f $DIR/rsyslogd.pid ]] && kill -0 "$(cat "$DIR/rsyslogd.pid")" 2>/dev/null; do sleep 0.05; done; }

start_rsyslog
WARD=$("$BUILD/manager/siem/siem_bench" --db "sqlite:$DIR/ward.db" --port "$PORT" --events "$N" \
  --ingest-rate "$RATE" --anchor-file "$DIR/anchor.txt" --wait-file "$DIR/out.log")
stop_rsyslog

start_rsyslog
T0=$(date +%s.%N)
logger --tcp --octet-count -n 127.0.0.1 -P "$PORT" -f "$DIR/anchor.txt"
while [[ $(wc -l < "$DIR/out.log" 2>/dev/null || echo 0) -lt $N ]]; do sleep 0.02; done
T1=$(date +%s.%N)
stop_rsyslog
ANCHOR=$(python3 -c "print(round($N / ($T1 - $T0)))")
echo "ward:   $WARD"
echo "anchor: {\"tool\":\"logger --tcp --octet-count -f\",\"events\":$N,\"events_per_s_to_file\":$ANCHOR}"
python3 - "$WARD" "$ANCHOR" <<'PY'
import json, sys
w = json.loads(sys.argv[1]); a = float(sys.argv[2])
print(f"ratio ward/anchor (to the receiver's file): {w['events_per_s_to_file'] / a:.2f}")
PY

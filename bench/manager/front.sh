#!/usr/bin/env bash
# The manager under hostile connections (issue #13): starts `ward-manager serve` (the binary given
# as $1, default build/bin/ward-manager) on a fresh SQLite database in a temporary directory, then
# runs manager_front_bench against it in each mode. Not a test; figures go to bench/RESULTS.md.
#   bench/manager/front.sh [WARD_MANAGER] [BENCH_BINARY]
set -euo pipefail
manager=${1:-build/bin/ward-manager}
bench=${2:-build/manager/manager_front_bench}
requests=${REQUESTS:-600}
hostile=${HOSTILE:-1000}
modes=${MODES:-latency body-unauth body-auth}
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

start() {
  "$manager" init --db "sqlite:$dir/ward.db" --json >"$dir/init.json"
  key=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("api_key") or d["key"])' "$dir/init.json")
  "$manager" serve --db "sqlite:$dir/ward.db" --listen 127.0.0.1:0 --state-dir "$dir" \
    --no-jobs --threads 16 --rate-limit-key 0 --rate-limit-tenant 0 --rate-limit-agent 0 \
    >"$dir/serve.out" 2>"$dir/serve.err" &
  pid=$!
  port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's|^listening: https://127.0.0.1:||p' "$dir/serve.out" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; rm -f "$dir"/ward.db* "$dir/serve.out"; }

for mode in $modes; do
  case $mode in
    latency) echo "== latency under $hostile hostile connections ($manager)" ;;
    body-unauth) echo "== unauthenticated 500 MB POST ($manager)" ;;
    body-auth) echo "== 4 x 100 MB authenticated POSTs, Content-Length then chunked ($manager)" ;;
  esac
  start
  "$bench" --port "$port" --api-key "$key" --mode "$mode" --pid "$pid" --hostile "$hostile" \
    --requests "$requests"
  stop
done

#!/bin/sh
# The console benchmark (bench/console/README.md): a fresh manager database filled with N events
# and M agents through the store's bulk path, ward-manager serving it, and measure.mjs driving
# Debian's chromium against it. Everything lives in a temporary directory removed at the end.
#
#   bench/console/run.sh [--build DIR] [--events N] [--agents M] [--days D] [--db URL]
#                        [--export-rows N] [--keep]
# --db takes an empty PostgreSQL/MySQL database URL (default: SQLite in the temporary directory).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build"
events=100000
agents=50
days=7
db=""
export_rows=1000000
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --agents) agents=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --db) db=$2; shift 2 ;;
    --export-rows) export_rows=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$build/bin/ward-manager"
fill="$build/manager/console_bench_fill"
for f in "$bin" "$fill"; do
  [ -x "$f" ] || { echo "missing $f: cmake --build $build --target ward-manager console_bench_fill" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/ward-console-bench.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ "$keep" = 1 ] && echo "kept $dir" >&2 || rm -rf "$dir"
}
trap cleanup EXIT INT TERM
[ -n "$db" ] || db="sqlite:$dir/ward.db"
echo 'bench password 123' > "$dir/password"
init=$("$bin" init --db "$db" --json --admin-password-file "$dir/password")
key=$(printf '%s' "$init" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).api_key))')
user=$(printf '%s' "$init" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).admin_user))')
echo "fill: $events events, $agents agents over $days days into $db" >&2
fill_start=$(date +%s)
"$fill" --db "$db" --events "$events" --agents "$agents" --days "$days" >&2
echo "fill: $(($(date +%s) - fill_start)) s" >&2
# The side tables the batch ingest wrote agree with the events: each dashboard aggregate of the
# last 24 hours answered from the rollups and counted from the events, compared.
agg="$build/manager/console_bench_aggregates"
if [ -x "$agg" ]; then
  "$agg" --db "$db" --runs 1 --range-hours 24 --verify 1 >&2
fi
"$bin" serve --db "$db" --listen 127.0.0.1:0 --state-dir "$dir" --threads 8 \
  --signin-rate-address 1000 >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^listening: \(https:[^ ]*\)$/\1/p' "$dir/serve.out" | head -n1)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "ward-manager did not start" >&2; exit 1; }
node "$here/measure.mjs" "$url" "$key" "$user" "bench password 123" "$build/console/dist" "$export_rows"

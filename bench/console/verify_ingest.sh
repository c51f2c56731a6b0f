#!/bin/sh
# Checks a database filled by console_bench_fill (SQLite) against API ingestion: the events of
# `--hosts` of its agents are sent again, as their agents would send them, through the HTTPS agent
# API of a second, fresh ward-manager; then the rows each path stored are compared. Every search
# column (id, time, module, action, severity, path, rule), the per-hour rollups and the IPS
# matches must be the same (agent ids differ: compared by host name); and in the filled database
# the side tables must agree with its events (what the migration would rebuild from them).
#
#   bench/console/verify_ingest.sh [--build DIR] [--hosts N] FILLED.db
# Exit status 0 when every comparison is empty. bench/console/README.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build"
hosts=20
while [ $# -gt 1 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
a=$1
bin="$build/bin/ward-manager"
dir=$(mktemp -d /tmp/ward-console-verify.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
echo 'verify password 123' >"$dir/password"
key=$("$bin" init --db "sqlite:$dir/b.db" --json --state-dir "$dir" \
  --admin-password-file "$dir/password" 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).api_key))')
"$bin" serve --db "sqlite:$dir/b.db" --listen 127.0.0.1:0 --state-dir "$dir" \
  >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^listening: \(https:[^ ]*\)$/\1/p' "$dir/serve.out" | head -n1)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "ward-manager did not start" >&2; exit 1; }
post() {  # post PATH BEARER FILE [TYPE]
  if [ -n "$2" ]; then set -- "$1" "Authorization: Bearer $2" "$3" "${4:-application/json}"; else
    set -- "$1" "X-No-Credential: 1" "$3" "${4:-application/json}"; fi
  curl -sk --fail-with-body -X POST -H "$2" -H "Content-Type: $4" --data-binary "@$3" "$url$1"
}
json() { node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>console.log(JSON.parse(s).$1))"; }
sent=0
for h in $(sqlite3 "$a" "SELECT hostname FROM agents ORDER BY hostname LIMIT $hosts"); do
  echo '{}' >"$dir/empty.json"
  token=$(post /api/v1/activation-tokens "$key" "$dir/empty.json" | json token)
  printf '{"token":"%s","hostname":"%s","machine_id":"m-%s"}' "$token" "$h" "$h" >"$dir/act.json"
  cred=$(post /agent/v1/activate "" "$dir/act.json" | json credential)
  # The lines as the agent sent them: the stored document without the block the manager adds.
  sqlite3 "$a" "SELECT json_remove(e.doc, '\$.agent') FROM events e JOIN agents g ON g.id = e.agent_id
                WHERE g.hostname = '$h' ORDER BY e.seq" >"$dir/lines"
  split -l 1000 "$dir/lines" "$dir/part."
  for p in "$dir"/part.*; do
    post /agent/v1/events "$cred" "$p" application/x-ndjson >/dev/null
    rm -f "$p"
  done
  sent=$((sent + $(wc -l <"$dir/lines")))
done
kill "$pid" && wait "$pid" 2>/dev/null || true
pid=""
echo "sent $sent events of $hosts hosts through the agent API" >&2
# Both databases side by side: A (filled), B (API). Each query counts the rows in one and not
# the other; every count must be 0.
sqlite3 "$a" "ATTACH '$dir/b.db' AS b;
CREATE TEMP VIEW ea AS SELECT g.hostname h, e.id, e.ts, e.module, e.action, e.severity, e.path,
  e.rule FROM main.events e JOIN main.agents g ON g.id = e.agent_id
  WHERE g.hostname IN (SELECT hostname FROM b.agents);
CREATE TEMP VIEW eb AS SELECT g.hostname h, e.id, e.ts, e.module, e.action, e.severity, e.path,
  e.rule FROM b.events e JOIN b.agents g ON g.id = e.agent_id;
CREATE TEMP VIEW ma AS SELECT g.hostname h, m.event_id, m.ord, m.ts, m.blocked, m.would_block,
  m.n_matches, m.first_of_rule, m.rule_id, m.variable, m.client, m.path, m.url
  FROM main.ips_matches m JOIN main.agents g ON g.id = m.agent_id
  WHERE g.hostname IN (SELECT hostname FROM b.agents);
CREATE TEMP VIEW mb AS SELECT g.hostname h, m.event_id, m.ord, m.ts, m.blocked, m.would_block,
  m.n_matches, m.first_of_rule, m.rule_id, m.variable, m.client, m.path, m.url
  FROM b.ips_matches m JOIN b.agents g ON g.id = m.agent_id;
SELECT 'events compared', (SELECT COUNT(*) FROM eb);
SELECT 'events: filled, not API', COUNT(*) FROM (SELECT * FROM ea EXCEPT SELECT * FROM eb);
SELECT 'events: API, not filled', COUNT(*) FROM (SELECT * FROM eb EXCEPT SELECT * FROM ea);
SELECT 'IPS matches compared', (SELECT COUNT(*) FROM mb);
SELECT 'IPS matches: filled, not API', COUNT(*) FROM (SELECT * FROM ma EXCEPT SELECT * FROM mb);
SELECT 'IPS matches: API, not filled', COUNT(*) FROM (SELECT * FROM mb EXCEPT SELECT * FROM ma);
SELECT 'API rollups vs its events', COUNT(*) FROM (SELECT hour, module, severity, action, n
  FROM b.event_rollup EXCEPT SELECT (ts / 3600000000) * 3600000000, module, severity, action,
  COUNT(*) FROM b.events GROUP BY 1, 2, 3, 4);
SELECT 'filled rollups vs its events', COUNT(*) FROM (SELECT tenant_id, hour, module, severity,
  action, n FROM main.event_rollup EXCEPT SELECT tenant_id, (ts / 3600000000) * 3600000000,
  module, severity, action, COUNT(*) FROM main.events GROUP BY 1, 2, 3, 4, 5);
SELECT 'filled events vs its rollups', COUNT(*) FROM (SELECT tenant_id,
  (ts / 3600000000) * 3600000000, module, severity, action, COUNT(*) FROM main.events
  GROUP BY 1, 2, 3, 4, 5 EXCEPT SELECT tenant_id, hour, module, severity, action, n
  FROM main.event_rollup);
SELECT 'filled agent/rule/path rollups vs its events', COUNT(*) FROM (
  SELECT hour, 1, '', value, n FROM main.event_rollup_values WHERE field = 1
  UNION ALL SELECT hour, field, module, value, n FROM main.event_rollup_values WHERE field <> 1
  EXCEPT SELECT (ts / 3600000000) * 3600000000, 1, '', agent_id, COUNT(*) FROM main.events
    GROUP BY 1, 4
  EXCEPT SELECT (ts / 3600000000) * 3600000000, 0, module, rule, COUNT(*) FROM main.events
    WHERE rule <> '' GROUP BY 1, 3, 4
  EXCEPT SELECT (ts / 3600000000) * 3600000000, 2, module, path, COUNT(*) FROM main.events
    WHERE path <> '' AND module <> 'ips' GROUP BY 1, 3, 4);
SELECT 'filled IPS events without their match', COUNT(*) FROM main.events e WHERE e.module = 'ips'
  AND NOT EXISTS (SELECT 1 FROM main.ips_matches m WHERE m.tenant_id = e.tenant_id
                  AND m.event_id = e.id);
SELECT 'filled ingest sequence: events, distinct seq, max, counter', COUNT(*),
  COUNT(DISTINCT seq), MAX(seq), (SELECT SUM(seq) FROM main.ingest_seq) FROM main.events;
" | tee "$dir/report"
# Every difference count is 0 (the compared counts and the sequence line are informative).
if grep -v -e '^events compared' -e '^IPS matches compared' -e '^filled ingest sequence' \
  "$dir/report" | grep -qv '|0$'; then
  echo "verify: DIFFERENCES" >&2
  exit 1
fi
echo "verify: the filled rows are what API ingestion stores" >&2

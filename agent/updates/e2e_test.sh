#!/bin/sh
# End to end (docs/updates.md): a real ward-manager holds a clamav bundle; a real ward-agent,
# activated with a policy using managed:clamav and real-time scanning (fanotify, root), gets the
# bundle before the policy applies and detects EICAR; a second version published through
# PUT /api/v1/updates replaces it live (update_applied v2) and its new signature detects.
# Usage: e2e_test.sh WARD_MANAGER WARD_AGENT TESTDATA_DIR
set -eu
MGRBIN=$1 AGENTBIN=$2 DATA=$3
W=$(mktemp -d)
MGR= AG=
cleanup() {
  [ -n "$AG" ] && kill "$AG" 2>/dev/null && wait "$AG" 2>/dev/null
  [ -n "$MGR" ] && kill "$MGR" 2>/dev/null && wait "$MGR" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; tail -20 "$W/agent.err" 2>/dev/null; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
# Waits (up to $1 seconds) until the command in $2 succeeds.
until_ok() {
  n=$(($1 * 10))
  while ! sh -c "$2" > /dev/null 2>&1; do
    n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1
  done
}
"$MGRBIN" init --db "sqlite:$W/m.db" --state-dir "$W/state" --json > "$W/init.json" 2>/dev/null
KEY=$(json 'd["api_key"]' < "$W/init.json")
"$MGRBIN" updates publish --state-dir "$W/state" --kind clamav "$DATA/eicar.hdb" > /dev/null 2>&1
"$MGRBIN" serve --db "sqlite:$W/m.db" --state-dir "$W/state" --listen 127.0.0.1:0 --no-jobs \
  > "$W/serve.out" 2> "$W/serve.err" &
MGR=$!
until_ok 30 "grep -q listening $W/serve.out" || fail "manager did not start"
URL=$(sed -n 's/^listening: //p' "$W/serve.out")
api() { curl -sk -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@"; }
api -X PATCH -d '{"heartbeat_interval_s": 10}' "$URL/api/v1/settings" > /dev/null
mkdir -p "$W/scan"
PID=$(api -d "{\"name\":\"am\",\"document\":{\"antimalware\":{\"databases\":[\"managed:clamav\"],
  \"action\":\"log\",\"realtime\":{\"paths\":[\"$W/scan\"],\"mode\":\"detect\"}}}}" \
  "$URL/api/v1/policies" | json 'd["id"]')
TOKEN=$(api -d "{\"policy_id\":\"$PID\"}" "$URL/api/v1/activation-tokens" | json 'd["token"]')
"$AGENTBIN" activate --manager "$URL" --token "$TOKEN" --state-dir "$W/agent" > /dev/null 2>&1
"$AGENTBIN" run --state-dir "$W/agent" > "$W/agent.out" 2> "$W/agent.err" &
AG=$!
events() { api "$URL/api/v1/events?module=$1"; }
until_ok 30 "curl -sk -H 'Authorization: Bearer $KEY' '$URL/api/v1/events?module=antimalware' | grep -q realtime_started" ||
  fail "the policy using managed:clamav did not start the antimalware module"
events ward | grep -q '"update_applied"' || fail "no update_applied event"
[ "$(readlink "$W/agent/updates/clamav/current")" = v1 ] || fail "current is not v1"
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > "$W/eicar.tmp"
sh -c "cp $W/eicar.tmp $W/scan/eicar.com"
until_ok 20 "curl -sk -H 'Authorization: Bearer $KEY' '$URL/api/v1/events?module=antimalware' | grep -q Test.EICAR-hdb" ||
  fail "EICAR not detected with the v1 bundle"
# v2 through the API: adds a body signature; the agent swaps it in at a heartbeat.
api -X PUT --data-binary "@$DATA/eicar.ndb" "$URL/api/v1/updates/clamav/files/eicar.ndb" \
  | grep -q '"version":2' || fail "PUT did not make v2"
until_ok 40 "[ \"\$(readlink $W/agent/updates/clamav/current)\" = v2 ]" || fail "v2 not applied"
until_ok 20 "curl -sk -H 'Authorization: Bearer $KEY' '$URL/api/v1/events?module=antimalware' | grep -o database_loaded | wc -l | grep -qx 2" ||
  fail "the engine was not reloaded with v2"
sh -c "cp $W/eicar.tmp $W/scan/eicar2.com"
until_ok 20 "curl -sk -H 'Authorization: Bearer $KEY' '$URL/api/v1/events?module=antimalware' | grep -q eicar2.com" ||
  fail "EICAR not detected after the swap"
echo "PASS: bundle v1 before the policy, EICAR detected, v2 published by API swapped in live"

#!/bin/bash
# IPS benchmark: wrk -t2 -c16 against nginx (1 worker) on loopback — plain (the anchor), behind
# Ward inline (NFQUEUE, prevent, CRS PL1), and nginx + ModSecurity + CRS PL1 in the server
# (Debian's libnginx-mod-http-modsecurity) — for a static GET with a 10-parameter query and a
# 1 KB form POST. Prints req/s, p50/p99 latency and CPU per request (utime+stime of nginx and
# ward-agent from /proc, divided by the requests served), and ratios to plain nginx.
#   bench/ips/run.sh [BUILD_DIR] [SECONDS]      (root; uses iptables on loopback port 18090)
# Also prints the kernel (stime) part of CPU/request and the packets queued to the agent per
# request (iptables counters). Environment:
#   THREADS=N          ips.threads for the agent (default: the policy default, one per CPU)
#   ENGINE=name        ips.engine for the agent: ward (default) or libmodsecurity
#   PERF=get|post      perf profile of the agent (by stage, into $PERF_OUT, default
#                      /tmp/ward-ips-perf.txt) and of the ModSecurity nginx worker ($PERF_OUT.modsec)
#   KEEP_PERF=1        keep the agent's perf.data as $PERF_OUT.data
#   AGENT_ENV="K=V"    environment for the agent only (e.g. GLIBC_TUNABLES=...)
#   HOST_HEADER=name   send this Host header (default: wrk's 127.0.0.1:PORT, which CRS 920350
#                      flags as a numeric Host: 3 points, below the threshold, one event each)
#   RATE=N             latency mode instead of wrk: an open-loop load at a fixed N requests/s
#                      (ips_fixed_rate, built beside ips_engine_cpu; latency from each request's
#                      due time) of a mix of 7 10-parameter GETs, 2 1 KB form POSTs and 1 JSON
#                      POST in 10, SECONDS long after 2 s of warm-up, against the same three
#                      setups; prints p50/p99 and Ward's p99 against ModSecurity's and nginx's
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
AGENT=$(cd "$BUILD" && pwd)/bin/ward-agent
W=$(mktemp -d /tmp/ward-ips-bench.XXXXXX)
chmod 755 "$W"
PORT=18090
MSPORT=18091
TICK=$(getconf CLK_TCK)
AGENT_PID=""
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null || true
  for p in "$W"/nginx*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
  iptables -w -D INPUT -j WARD_IPS_IN 2>/dev/null || true
  iptables -w -D OUTPUT -j WARD_IPS_OUT 2>/dev/null || true
  iptables -w -F WARD_IPS_IN 2>/dev/null || true; iptables -w -X WARD_IPS_IN 2>/dev/null || true
  iptables -w -F WARD_IPS_OUT 2>/dev/null || true; iptables -w -X WARD_IPS_OUT 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W"/{www,tmp,logs}
echo ok > "$W/www/index.html"

nginx_conf() {  # name port extra-server-lines extra-top-lines
  cat > "$W/nginx-$1.conf" <<CONF
$4
worker_processes 1;
daemon on;
pid $W/nginx-$1.pid;
error_log $W/logs/$1.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $W/tmp/cb; proxy_temp_path $W/tmp/px; fastcgi_temp_path $W/tmp/fc;
  uwsgi_temp_path $W/tmp/uw; scgi_temp_path $W/tmp/sc;
  server {
    listen 127.0.0.1:$2;
    root $W/www;
    location / { try_files \$uri /index.html; }
    error_page 405 =200 /index.html;
    $3
  }
}
CONF
}

# nginx + ModSecurity: the oracle's reference config, switched to blocking at PL1. The oracles are
# the copy in the tree (testdata/oracles) unless WARD_ORACLES says otherwise.
ORACLES=${WARD_ORACLES:-$(cd "$HERE/../.." && pwd)/testdata/oracles}
sed -e "s|@DIR@|$W|g" -e 's/^SecRuleEngine DetectionOnly/SecRuleEngine On/' \
    -e '/^SecAction "id:900005/d' -e '/^SecRule REQUEST_HEADERS:X-CRS-Test/d' \
    "$ORACLES/tools/reference-nginx-modsec3/modsec-main.conf" > "$W/modsec.conf"
nginx_conf plain $PORT "" ""
nginx_conf modsec $MSPORT "modsecurity on; modsecurity_rules_file $W/modsec.conf;" \
  "load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;"
nginx -c "$W/nginx-plain.conf"
nginx -c "$W/nginx-modsec.conf"

cat > "$W/policy.yaml" <<POL
agent: { outputs: { stdout: false, file: false } }
ips: { engine: ${ENGINE:-ward}, mode: prevent, capture: nfqueue, queue: 29, ports: [$PORT], fail: open,
       ${THREADS:+threads: $THREADS,} crs: { paranoia_level: 1 } }
POL

cpu_of() {  # pids -> total utime+stime ticks (SPLIT=1: "utime stime")
  local u=0 k=0
  for p in "$@"; do
    for tp in /proc/$p/task/*/stat; do
      [ -r "$tp" ] || continue
      read -r a b < <(awk '{print $14, $15}' "$tp")
      u=$((u + a)); k=$((k + b))
    done
  done
  if [ -n "${SPLIT:-}" ]; then echo "$u $k"; else echo $((u + k)); fi
}
nginx_pids() { local m; m=$(cat "$W/nginx-$1.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')"; }

if [ -n "${RATE:-}" ]; then
  GEN=$(cd "$BUILD" && pwd)/agent/modules/ips/seclang/ips_fixed_rate
  printf "%-28s %s\n" setup "fixed-rate mix (ips_fixed_rate --rate $RATE --seconds $SECS)"
  declare -A P50 P99
  rate_case() {  # label port
    local out; out=$("$GEN" --port "$2" --rate "$RATE" --seconds "$SECS" --warmup 2) || true
    P50[$1]=$(echo "$out" | awk '{for (i = 1; i < NF; i++) if ($i == "p50") print $(i + 1)}')
    P99[$1]=$(echo "$out" | awk '{for (i = 1; i < NF; i++) if ($i == "p99") print $(i + 1)}')
    printf "%-28s %s\n" "$1" "$out"
  }
  rate_case "nginx (anchor)" $PORT
  rate_case "nginx+modsecurity+crs" $MSPORT
  env ${AGENT_ENV:-} "$AGENT" run --config "$W/policy.yaml" --state-dir "$W/state" --log-level info 2>"$W/agent.err" &
  AGENT_PID=$!
  for _ in $(seq 100); do iptables -w -S WARD_IPS_IN 2>/dev/null | grep -q NFQUEUE && break; sleep 0.1; done
  rate_case "nginx+ward inline (prevent)" $PORT
  kill $AGENT_PID; wait $AGENT_PID 2>/dev/null || true; AGENT_PID=""
  awk -v a50="${P50[nginx (anchor)]}" -v a99="${P99[nginx (anchor)]}" \
      -v m50="${P50[nginx+modsecurity+crs]}" -v m99="${P99[nginx+modsecurity+crs]}" \
      -v w50="${P50[nginx+ward inline (prevent)]}" -v w99="${P99[nginx+ward inline (prevent)]}" \
      'BEGIN{printf "p50/p99 ms: nginx %.3f/%.3f, +modsecurity %.3f/%.3f, +ward %.3f/%.3f; p99 modsecurity/ward %.1fx, ward - nginx %+.3f ms\n", a50, a99, m50, m99, w50, w99, (w99 > 0 ? m99 / w99 : 0), w99 - a99}'
  exit 0
fi

GET_PATH="/index.html?a1=alpha&a2=bravo&a3=charlie&a4=delta&a5=echo&a6=foxtrot&a7=golf&a8=hotel&a9=india&a10=juliet"
printf "%-28s %-5s %10s %9s %9s %12s\n" setup load req/s p50 p99 "cpu/req"
declare -A RPS CPU
run_case() {  # label port load pids...
  local label=$1 port=$2 load=$3; shift 3
  local args=(-t2 -c16 -d"${SECS}s" --latency ${HOST_HEADER:+-H "Host: $HOST_HEADER"})
  [ "$load" = post ] && args+=(-s "$HERE/post.lua")
  local url="http://127.0.0.1:$port$GET_PATH"
  [ "$load" = post ] && url="http://127.0.0.1:$port/form"
  local s0; s0=$(SPLIT=1 cpu_of "$@")
  local out; out=$(wrk "${args[@]}" "$url")
  local s1; s1=$(SPLIT=1 cpu_of "$@")
  local c0 c1 sys
  c0=$(echo "$s0" | awk '{print $1 + $2}'); c1=$(echo "$s1" | awk '{print $1 + $2}')
  sys=$(( $(echo "$s1" | awk '{print $2}') - $(echo "$s0" | awk '{print $2}') ))
  local reqs rps p50 p99 non2xx
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $4}')
  local us; us=$(awk -v c=$((c1 - c0)) -v t="$TICK" -v n="$reqs" 'BEGIN{printf "%.1f", c/t*1e6/n}')
  RPS[$label/$load]=$rps; CPU[$label/$load]=$us; LAST_REQS=$reqs
  local sys_us; sys_us=$(awk -v c=$sys -v t="$TICK" -v n="$reqs" 'BEGIN{printf "%.0f", c/t*1e6/n}')
  printf "%-28s %-5s %10s %9s %9s %10s us  (kernel %s us)%s\n" "$label" "$load" "$rps" "$p50" "$p99" \
    "$us" "$sys_us" "${non2xx:+  (non-2xx: $non2xx)}"
}

for load in get post; do
  run_case "nginx (anchor)" $PORT $load $(nginx_pids plain)
  if [ -n "${PERF:-}" ] && [ "$load" = "$PERF" ]; then
    # The ModSecurity case's nginx worker, for comparison (top symbols only).
    perf record -g -o "$W/perf-modsec.data" -p "$(pgrep -P "$(cat "$W/nginx-modsec.pid")" | head -1)" \
      -- sleep $((SECS - 2)) >/dev/null 2>&1 &
    PERF_PID=$!
  fi
  run_case "nginx+modsecurity+crs" $MSPORT $load $(nginx_pids modsec)
  if [ -n "${PERF:-}" ] && [ "$load" = "$PERF" ]; then
    wait "$PERF_PID" || true
    perf report -i "$W/perf-modsec.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null \
      | grep '%' | grep -v '^#' | head -40 | cut -c1-160 > "${PERF_OUT:-/tmp/ward-ips-perf.txt}.modsec" || true
  fi
  env ${AGENT_ENV:-} "$AGENT" run --config "$W/policy.yaml" --state-dir "$W/state" --log-level info 2>"$W/agent.err" &
  AGENT_PID=$!
  for _ in $(seq 100); do iptables -w -S WARD_IPS_IN 2>/dev/null | grep -q NFQUEUE && break; sleep 0.1; done
  if [ -n "${PERF:-}" ] && [ "$load" = "$PERF" ]; then
    perf record -g -o "$W/perf.data" -p $AGENT_PID -- sleep $((SECS - 2)) >/dev/null 2>&1 &
    PERF_PID=$!
  fi
  iptables -w -Z WARD_IPS_IN; iptables -w -Z WARD_IPS_OUT
  run_case "nginx+ward inline (prevent)" $PORT $load $(nginx_pids plain) $AGENT_PID
  # Packets queued to the agent per request (both directions), from the iptables counters.
  queued=$(iptables -w -nvxL WARD_IPS_IN; iptables -w -nvxL WARD_IPS_OUT) 
  echo "$queued" | awk -v n="$LAST_REQS" '$3=="NFQUEUE" {q+=$1} $3=="RETURN" {r+=$1}
    END {printf "%28s packets per request: %.2f queued, %.2f not queued (no payload)\n", "", q/n, r/n}'
  if [ -n "${PERF:-}" ] && [ "$load" = "$PERF" ]; then
    wait "$PERF_PID" || true
    # Flat profile of the agent, each sample put in one stage of the per-request path.
    perf report -i "$W/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null \
      | awk '/%/ && $1 ~ /%$/ {
          p = $1; sub("%", "", p); dso = $2; sym = ""; for (i = 4; i <= NF; i++) sym = sym " " $i
          if (dso ~ /modsecurity|pcre|libxml|libyajl|liblua|libmaxmind|libfuzzy|libGeoIP/) c = "rule evaluation (libmodsecurity, PCRE)"
          else if (dso ~ /libc\.so|libstdc\+\+/) c = "allocation/copies/strings (libc, libstdc++; mostly under libmodsecurity)"
          else if (dso ~ /http_parser/ || sym ~ /HttpConnection|LenientRequestHead|Dechunk/) c = "HTTP parsing (libhttp-parser + framing)"
          else if (sym ~ /TcpStream/) c = "TCP reassembly"
          else if (dso ~ /kernel|netfilter|mnl|nfnetlink/ || sym ~ /DecodeIpTcp|IpsEngine::OnPacket|NfQueue|BuildTcpPacket|RawSender/) c = "packet handling (NFQUEUE I/O, verdicts, decoding, flow table)"
          else if (sym ~ /WafTransaction|ParseLogLine|WafLog|Token|CrsScore|TransactionEvent|Event/) c = "Ward WAF glue + events"
          else c = "other (" dso ")"
          t[c] += p
        } END { for (c in t) printf "%6.2f%%  %s\n", t[c], c }' | sort -rn > "${PERF_OUT:-/tmp/ward-ips-perf.txt}" || true
    perf report -i "$W/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null \
      | grep '%' | grep -v '^#' | head -25 | cut -c1-160 >> "${PERF_OUT:-/tmp/ward-ips-perf.txt}" || true
  fi
  [ -n "${KEEP_PERF:-}" ] && [ -f "$W/perf.data" ] && cp "$W/perf.data" "${PERF_OUT:-/tmp/ward-ips-perf.txt}.data"
  kill $AGENT_PID; wait $AGENT_PID 2>/dev/null || true; AGENT_PID=""
  # How the flows were spread over the engine threads.
  grep -o 'engine thread on NFQUEUE.*' "$W/agent.err" | sed 's/^/                             /' || true
done
echo
for load in get post; do
  awk -v a="${RPS[nginx (anchor)/$load]}" -v m="${RPS[nginx+modsecurity+crs/$load]}" -v w="${RPS[nginx+ward inline (prevent)/$load]}" \
      -v ca="${CPU[nginx (anchor)/$load]}" -v cm="${CPU[nginx+modsecurity+crs/$load]}" -v cw="${CPU[nginx+ward inline (prevent)/$load]}" -v l=$load \
      'BEGIN{printf "%s: req/s ratio to nginx: modsecurity %.3f, ward %.3f; CPU added per request: modsecurity %.0f us, ward %.0f us (ward/modsecurity %.2f)\n", l, m/a, w/a, cm-ca, cw-ca, (cw-ca)/(cm-ca)}'
done

#!/usr/bin/env bash
# Egress name lookups against the anchor (bench/egress/README.md): Ward's reputation loader and
# index with N names (default 1,000,000) and 1,500 DROP CIDRs, then Squid 5 with the same names as
# a `dstdomain` ACL (as the brief's team filtered egress): its start-up time with the list and the
# memory the list costs it (RSS with the list minus RSS with an empty list).
#   bench/egress/run.sh [BUILD_DIR] [NAMES]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
names=${2:-1000000}
requests=${REQUESTS:-5000}
cmake --build "$build" --target egress_names_bench egress_latency_bench >/dev/null
work=$(mktemp -d)
trap 'kill $(cat "$work"/squid.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 755 "$work"

echo "== Ward ($names names, 1,500 CIDRs)"
"$build"/bench/egress/egress_names_bench --names "$names" --write-list "$work/names.txt"

# Squid: a leading dot makes a dstdomain entry cover subdomains, as Ward's entries do.
sed 's/^/./' "$work/names.txt" > "$work/acl.txt"
: > "$work/empty.txt"
squid_run() {  # $1: ACL file; prints "seconds-to-listening rss-kb"
  local port=$((20000 + RANDOM % 20000))
  cat > "$work/squid.conf" <<CONF
http_port 127.0.0.1:$port
pid_filename $work/squid.pid
cache_log $work/cache.log
access_log none
cache deny all
shutdown_lifetime 0 seconds
acl blocked dstdomain "$1"
http_access deny blocked
http_access deny all
CONF
  chown proxy "$work" 2>/dev/null || true
  local t0; t0=$(date +%s.%N)
  /usr/sbin/squid -N -f "$work/squid.conf" >/dev/null 2>&1 &
  local pid=$!
  until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "squid exited: see $work/cache.log" >&2; exit 1; }
    sleep 0.05
  done
  local t1; t1=$(date +%s.%N)
  local rss; rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true
  echo "$(echo "$t1 - $t0" | bc) $rss"
}
read -r empty_s empty_rss < <(squid_run "$work/empty.txt")
read -r full_s full_rss < <(squid_run "$work/acl.txt")
echo "== Squid $(/usr/sbin/squid -v | head -1 | awk '{print $4}') dstdomain ACL ($names names)"
printf 'start-up          %.3f s with the list, %.3f s without\n' "$full_s" "$empty_s"
printf 'memory            %.1f MB RSS for the list (%d kB - %d kB)\n' \
  "$(echo "($full_rss - $empty_rss) / 1024" | bc -l)" "$full_rss" "$empty_rss"

# New-connection latency (client → server on 10.9.1.80:80, one request per connection), in a
# network namespace of our own: without Ward, with Ward's egress module (the same names loaded;
# the destination's name is not listed), and through Squid with the dstdomain ACL.
echo "== New-connection latency ($requests requests each)"
cat > "$work/squid-lat.conf" <<CONF
http_port 127.0.0.1:3128
pid_filename $work/squid.pid
cache_log $work/cache.log
access_log none
cache deny all
shutdown_lifetime 0 seconds
hosts_file $work/hosts
acl blocked dstdomain "$work/acl.txt"
http_access deny blocked
http_access allow all
CONF
echo "10.9.1.80 allowed.example" > "$work/hosts"
unshare -n bash -c "
  set -e
  ip link set lo up
  '$build/bench/egress/egress_latency_bench' --mode none --requests $requests
  '$build/bench/egress/egress_latency_bench' --mode ward --requests $requests --names $names
  /usr/sbin/squid -N -f '$work/squid-lat.conf' >/dev/null 2>&1 &
  until (exec 3<>/dev/tcp/127.0.0.1/3128) 2>/dev/null; do sleep 0.05; done
  '$build/bench/egress/egress_latency_bench' --mode proxy --proxy 3128 --requests $requests \
    --proxy-pid \$!
  kill %1; wait
"

# Established-flow throughput with iperf3, Ward's egress rules in place and not (throughput.sh).
echo "== Established-flow throughput (iperf3, one stream to port 443, Gbit/s)"
unshare -n bench/egress/throughput.sh "$build" "$names"

# The Squid anchor for throughput: a 2 GB HTTP download direct, with Ward, through Squid.
echo "== HTTP download (2 GB from nginx, Gbit/s)"
unshare -n bench/egress/download.sh "$build" "$names"

# What the eBPF process attribution adds to connect(), and the cost of naming a flow's process
# (connect_bench.cc): the anchor (no program attached) in alternating rounds of the same run.
echo "== connect() with and without egress's eBPF cgroup/connect4 program"
unshare -n bash -c "ip link set lo up && '$build/bench/egress/egress_connect_bench' \
  --connects ${CONNECTS:-20000} --rounds ${CONNECT_ROUNDS:-10} --lookups ${LOOKUPS:-1000}"

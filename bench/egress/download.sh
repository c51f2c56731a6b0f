#!/usr/bin/env bash
# The Squid anchor for established-flow throughput (bench/egress/README.md; run.sh calls it in a
# network namespace of its own: `unshare -n bench/egress/download.sh BUILD_DIR NAMES`).
# iperf3 cannot go through an HTTP proxy, so: a 2 GB HTTP download (curl from nginx on
# 10.9.1.81:80, sendfile; the latency bench's own server has .80) direct, with Ward's egress
# module in place (prevent mode, NAMES generated names loaded; the flow is named by its Host and
# then bypasses the queue), and through Squid with NAMES names (egress_names_bench's list) as a
# `dstdomain` ACL — ROUNDS (default 3) rounds. Prints Gbit/s per run and the medians.
set -euo pipefail
build=${1:-build}
names=${2:-1000000}
rounds=${ROUNDS:-3}
[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/1/ns/net)" ] || {
  echo "run me in a network namespace of my own (unshare -n)" >&2
  exit 1
}
ip link set lo up
ip addr add 10.9.1.81/24 dev lo
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
  kill "$(cat "$work/nginx.pid" 2>/dev/null)" "$(cat "$work/squid.pid" 2>/dev/null)" 2>/dev/null ||
    true
  rm -rf "$work"
}
trap cleanup EXIT
truncate -s 2G "$work/big"
cat > "$work/nginx.conf" <<CONF
daemon on;
pid $work/nginx.pid;
error_log $work/nginx.log;
events {}
http {
  access_log off;
  sendfile on;
  server { listen 10.9.1.81:80; root $work; }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
"$build"/bench/egress/egress_names_bench --names "$names" --write-list "$work/names.txt" >/dev/null
sed 's/^/./' "$work/names.txt" > "$work/acl.txt"
echo "10.9.1.81 allowed.example" > "$work/hosts"
cat > "$work/squid.conf" <<CONF
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
chown proxy "$work" 2>/dev/null || true
/usr/sbin/squid -f "$work/squid.conf" >/dev/null 2>&1
until (exec 3<>/dev/tcp/127.0.0.1/3128) 2>/dev/null; do sleep 0.2; done
get="curl -s -o /dev/null -w '%{speed_download}' http://allowed.example/big \
  --resolve allowed.example:80:10.9.1.81; echo"
gbps() { echo "$1 * 8 / 1000000000" | bc -l; }
eval "$get" >/dev/null  # warm-up: the file's pages, nginx, the route
direct=() ward=() squid=()
for i in $(seq "$rounds"); do
  d=$(gbps "$(eval "$get")")
  w=$(gbps "$("$build"/bench/egress/egress_latency_bench --mode ward --requests 0 \
    --names "$names" --then "$get" 2>/dev/null | tail -1)")
  s=$(gbps "$(eval "${get%; echo} -x http://127.0.0.1:3128; echo")")
  printf 'round %d: direct %.2f Gbit/s, Ward egress %.2f Gbit/s, through Squid %.2f Gbit/s\n' \
    "$i" "$d" "$w" "$s"
  direct+=("$d") ward+=("$w") squid+=("$s")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
md=$(median "${direct[@]}") mw=$(median "${ward[@]}") ms=$(median "${squid[@]}")
printf 'median: direct %.2f, Ward egress %.2f (%.1f %%), Squid %.2f Gbit/s (%.1f %%)\n' \
  "$md" "$mw" "$(echo "100 * $mw / $md" | bc -l)" "$ms" "$(echo "100 * $ms / $md" | bc -l)"

#!/usr/bin/env bash
# Established-flow throughput through egress's rules (bench/egress/README.md; run.sh calls it in a
# network namespace of its own: `unshare -n bench/egress/throughput.sh BUILD_DIR NAMES`).
# iperf3, one TCP stream to 10.9.1.80:443 — a port egress reads, so the flow's first packets go
# through its queue and every later one through its rules (the conntrack-mark RETURN in
# WARD_EGRESS_OUT, the nftables CIDR chain) — with the egress module in place (prevent mode, NAMES
# names loaded) and without it, alternated ROUNDS times (default 3), SECONDS_PER_RUN each (5).
set -euo pipefail
build=${1:-build}
names=${2:-1000000}
rounds=${ROUNDS:-3}
seconds=${SECONDS_PER_RUN:-5}
[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/1/ns/net)" ] || {
  echo "run me in a network namespace of my own (unshare -n)" >&2
  exit 1
}
ip link set lo up
ip addr add 10.9.1.80/24 dev lo
pidfile=$(mktemp)
trap 'kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"' EXIT
iperf3 -s -B 10.9.1.80 -p 443 -D --pidfile "$pidfile"
until (exec 3<>/dev/tcp/10.9.1.80/443) 2>/dev/null; do sleep 0.05; done
measure="iperf3 -c 10.9.1.80 -p 443 -t $seconds -f g | awk '/receiver/ {print \$7}'"
sum_none=0 sum_ward=0
for i in $(seq "$rounds"); do
  none=$("$build"/bench/egress/egress_latency_bench --mode none --requests 0 --then "$measure" |
    tail -1)
  ward=$("$build"/bench/egress/egress_latency_bench --mode ward --requests 0 --names "$names" \
    --then "$measure" | tail -1)
  echo "round $i: no Ward $none Gbit/s, Ward egress $ward Gbit/s"
  sum_none=$(echo "$sum_none + $none" | bc -l)
  sum_ward=$(echo "$sum_ward + $ward" | bc -l)
done
printf 'mean: no Ward %.2f Gbit/s, Ward egress %.2f Gbit/s: %.1f %%\n' \
  "$(echo "$sum_none / $rounds" | bc -l)" "$(echo "$sum_ward / $rounds" | bc -l)" \
  "$(echo "100 * $sum_ward / $sum_none" | bc -l)"

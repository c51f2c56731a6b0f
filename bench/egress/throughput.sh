#!/usr/bin/env bash
# Established-flow throughput through egress's rules (bench/egress/README.md; run.sh calls it in a
# network namespace of its own: `unshare -n bench/egress/throughput.sh BUILD_DIR NAMES`).
# iperf3, one TCP stream to 10.9.1.80:443 — a port egress reads, so the flow's first packets go
# through its queue and every later one through its rules (the conntrack-mark RETURN in
# WARD_EGRESS_OUT, the nftables CIDR chain) — with the egress module in place (prevent mode, NAMES
# names loaded) and without it, alternated ROUNDS times (default 5), SECONDS_PER_RUN each (5).
# Printed per run: Gbit/s received, and the CPU time of iperf3's client and server (user + system,
# from iperf3's own report; on loopback the kernel's work for both ends is in them) per GB moved —
# the steadier figure on a shared machine. Then the medians and their ratios.
set -euo pipefail
build=${1:-build}
names=${2:-1000000}
rounds=${ROUNDS:-5}
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
# Prints "Gbit/s CPU-ms-per-GB".
measure="iperf3 -c 10.9.1.80 -p 443 -t $seconds -J | python3 -c '
import json, sys
e = json.load(sys.stdin)[\"end\"]
r, c = e[\"sum_received\"], e[\"cpu_utilization_percent\"]
cpu_s = (c[\"host_total\"] + c[\"remote_total\"]) / 100 * r[\"seconds\"]
print(\"%.2f %.0f\" % (r[\"bits_per_second\"] / 1e9, cpu_s * 1000 / (r[\"bytes\"] / 1e9)))'"
# A third run per round: no Ward, but a stateful iptables rule, so that the kernel tracks
# connections (in a namespace without rules it does not; egress's rules need it, as any stateful
# firewall on the host does): what Ward's own rules cost beyond connection tracking.
none_g=() ward_g=() none_c=() ward_c=() ct_g=() ct_c=()
for i in $(seq "$rounds"); do
  read -r ng nc < <("$build"/bench/egress/egress_latency_bench --mode none --requests 0 \
    --then "$measure" | tail -1)
  iptables -A OUTPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
  read -r cg cc < <("$build"/bench/egress/egress_latency_bench --mode none --requests 0 \
    --then "$measure" | tail -1)
  iptables -D OUTPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
  read -r wg wc < <("$build"/bench/egress/egress_latency_bench --mode ward --requests 0 \
    --names "$names" --then "$measure" 2>/dev/null | tail -1)
  echo "round $i: no Ward $ng Gbit/s ($nc ms CPU/GB), conntrack only $cg Gbit/s ($cc ms CPU/GB)," \
    "Ward egress $wg Gbit/s ($wc ms CPU/GB)"
  none_g+=("$ng") ward_g+=("$wg") none_c+=("$nc") ward_c+=("$wc") ct_g+=("$cg") ct_c+=("$cc")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mng=$(median "${none_g[@]}") mwg=$(median "${ward_g[@]}")
mnc=$(median "${none_c[@]}") mwc=$(median "${ward_c[@]}")
mcg=$(median "${ct_g[@]}") mcc=$(median "${ct_c[@]}")
printf 'median: no Ward %.2f Gbit/s, Ward egress %.2f Gbit/s: %.1f %% of the throughput\n' \
  "$mng" "$mwg" "$(echo "100 * $mwg / $mng" | bc -l)"
printf 'median CPU per GB: no Ward %.0f ms, Ward egress %.0f ms: %.2fx\n' \
  "$mnc" "$mwc" "$(echo "$mwc / $mnc" | bc -l)"
printf 'against conntrack only (%.2f Gbit/s, %.0f ms CPU/GB): %.1f %% of the throughput, %.2fx CPU\n' \
  "$mcg" "$mcc" "$(echo "100 * $mwg / $mcg" | bc -l)" "$(echo "$mwc / $mcc" | bc -l)"

#!/usr/bin/env bash
# Integrity-monitoring benchmark: ward-agent against AIDE and against plain hashing, on the same
# generated tree with a warm page cache. See bench/integrity/README.md.
#
# Usage: bench/integrity/run.sh [--write-results] [--runs N] [--work DIR]
# Environment:
#   CORPUS_FILES   entries in the generated tree (default 100000)
#   CORPUS_GB      its total size in GB of 10^9 bytes (default 2 per 100000 files)
#   WARD_AGENT     the ward-agent binary (default $BUILD_DIR/bin/ward-agent, BUILD_DIR=build)
#   JOBS           worker count for AIDE and xargs (default nproc)
#   BENCH_NOTE     a sentence added to the results, e.g. "two compilers ran concurrently"
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=/usr/bin/python3

write_results=0
runs=3
work="$here/work"
cmdline="bench/integrity/run.sh"
while (($#)); do
  case "$1" in
    --write-results) write_results=1 ;;
    --runs) runs=${2:?--runs needs a number}; shift; cmdline+=" --runs $runs" ;;
    --work) work=${2:?--work needs a directory}; shift; cmdline+=" --work $work" ;;
    -h | --help) sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
((write_results)) && cmdline+=" --write-results"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs needs a positive integer" >&2; exit 2; }

files=${CORPUS_FILES:-100000}
gb=${CORPUS_GB:-}
jobs=${JOBS:-$(nproc)}
ward=${WARD_AGENT:-$repo/${BUILD_DIR:-build}/bin/ward-agent}
envs=""
[[ -n "${CORPUS_FILES:-}" ]] && envs+="CORPUS_FILES=$CORPUS_FILES "
[[ -n "${CORPUS_GB:-}" ]] && envs+="CORPUS_GB=$CORPUS_GB "
[[ -n "${JOBS:-}" ]] && envs+="JOBS=$JOBS "
[[ -n "${WARD_AGENT:-}" ]] && envs+="WARD_AGENT=${WARD_AGENT#"$repo"/} "
cmdline="$envs$cmdline"

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

[[ -x "$ward" ]] || die "no ward-agent at $ward (build it, or set WARD_AGENT)"
for tool in aide openssl sha256sum flock /usr/bin/time; do
  command -v "$tool" > /dev/null || die "$tool is not installed"
done

mkdir -p "$work"
work=$(cd "$work" && pwd)
# Runs sharing a work directory would delete each other's files and load the machine: one at a time.
exec 9> "$work/.lock"
if ! flock -n 9; then
  say "another run is using $work: waiting for it to finish"
  flock 9
fi
corpus="$work/corpus"
params="files=$files gb=${gb:-default}"

# --- corpus ----------------------------------------------------------------------------------
if [[ -d "$corpus" && "$(head -n1 "$work/corpus.params" 2> /dev/null)" != "$params" ]]; then
  say "the corpus in $corpus was made with other parameters: regenerating"
  rm -rf "$corpus" "$work/corpus.params"
fi
if [[ ! -d "$corpus" ]]; then
  say "generating the corpus ($params) in $corpus"
  gen_args=(--files "$files")
  [[ -n "$gb" ]] && gen_args+=(--gb "$gb")
  summary=$("$py" "$here/gen_corpus" "$corpus" "${gen_args[@]}")
  printf '%s\n%s\n' "$params" "$summary" > "$work/corpus.params"
fi
corpus_summary=$(sed -n 2p "$work/corpus.params")
entries=$(find "$corpus" | wc -l)
bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
say "corpus: $corpus_summary ($entries entries)"

# --- configurations --------------------------------------------------------------------------
run_dir="$work/run"
rm -rf "$run_dir"
mkdir -p "$run_dir"
cat > "$run_dir/policy.yaml" << EOF
agent: {outputs: {stdout: false, file: false}}
integrity:
  paths: [{path: $corpus}]
  schedule: 0
  realtime: false
EOF
corpus_re=$(printf '%s' "$corpus" | sed 's/[][\.*^$+?(){}|]/\\&/g')
sed -e "s|@DB_IN@|$run_dir/aide.db|" -e "s|@DB_OUT@|$run_dir/aide.db.new|" \
  -e "s|@DB_NEW@|$run_dir/aide.db.new|" -e "s#@CORPUS_RE@#$corpus_re(/|\$)#" \
  "$here/aide.conf.in" > "$run_dir/aide.conf"
aide --config-check -c "$run_dir/aide.conf" || die "AIDE rejects $run_dir/aide.conf"

# --- measurement -----------------------------------------------------------------------------
raw="$run_dir/raw.txt"
: > "$raw"

# measure NAME EXPECTED_EXIT CMD...: runs CMD under /usr/bin/time with its output in
# $run_dir/NAME.out/.err and appends "NAME wall user sys maxrss_kb" to $raw.
measure() {
  local name=$1 expect=$2 rc=0
  shift 2
  /usr/bin/time -f '%e %U %S %M' -o "$run_dir/$name.time" "$@" \
    > "$run_dir/$name.out" 2> "$run_dir/$name.err" || rc=$?
  if [[ "$rc" != "$expect" ]]; then
    tail -n 20 "$run_dir/$name.err" >&2
    die "$name exited with $rc, expected $expect (output in $run_dir/$name.*)"
  fi
  local wall user sys rss
  read -r wall user sys rss < <(tail -n 1 "$run_dir/$name.time")
  echo "$name $wall $user $sys $rss" >> "$raw"
  say "$(printf '%-22s wall %6ss  user %6ss  sys %6ss  rss %8s KB' "$name" "$wall" "$user" "$sys" "$rss")"
}

# count_events FILE [PATH]: the JSON lines in FILE, or those whose file.path is PATH.
count_events() {
  "$py" - "$@" << 'EOF'
import json, sys
def get(e, key):
    if key in e:
        return e[key]
    for part in key.split("."):
        e = e.get(part) if isinstance(e, dict) else None
    return e
n = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if not line.strip():
        continue
    e = json.loads(line)
    if len(sys.argv) < 3 or get(e, "file.path") == sys.argv[2]:
        n += 1
print(n)
EOF
}

hash_all() {  # hash_all CMD...: every regular file of the corpus, 64 a time, $jobs in parallel
  find "$corpus" -type f -print0 | xargs -0 -P "$jobs" -n 64 "$@" > /dev/null
}
export -f hash_all
export corpus jobs

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
((bytes / 1024 < avail_kb)) || say "warning: the corpus is larger than available memory; the cache cannot stay warm"
say "warming the page cache"
find "$corpus" -type f -print0 | xargs -0 -P "$jobs" -n 256 cat > /dev/null
cat "$ward" "$(command -v aide)" > /dev/null

# Each round runs every tool once, so that load from elsewhere falls on all of them alike.
for ((r = 1; r <= runs; r++)); do
  say "round $r of $runs"
  state="$run_dir/ward-state"
  rm -rf "$state" "$run_dir/aide.db" "$run_dir/aide.db.new"
  measure ward_baseline 0 "$ward" integrity baseline --config "$run_dir/policy.yaml" --state-dir "$state"
  measure ward_check 0 "$ward" integrity check --config "$run_dir/policy.yaml" --state-dir "$state"
  [[ "$(count_events "$run_dir/ward_check.out")" == 0 ]] ||
    die "ward-agent reported events on the unchanged tree (see $run_dir/ward_check.out)"
  measure aide_init 0 aide --init -c "$run_dir/aide.conf" -W "$jobs"
  cp "$run_dir/aide.db.new" "$run_dir/aide.db"
  measure aide_check 0 aide --check -c "$run_dir/aide.conf" -W "$jobs"
  measure sha256sum 0 bash -c 'hash_all sha256sum'
  measure openssl_dgst 0 bash -c 'hash_all openssl dgst -sha256'
done

# One file's content changes, with its size and mtime kept: only hashing can see it. Both tools
# must report that file and nothing else.
victim=$(find "$corpus" -type f -size +1k -size -32k -print | LC_ALL=C sort | awk 'NR == 1')
saved="$run_dir/victim.orig"
cp -p "$victim" "$saved"
trap 'cp -p "$saved" "$victim"' EXIT
"$py" - "$victim" << 'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(512)
    b = f.read(1)
    f.seek(512)
    f.write(bytes([b[0] ^ 0xFF]))
EOF
touch -r "$saved" "$victim"
say "changed one byte of $victim (size and mtime kept)"
for ((r = 1; r <= runs; r++)); do
  say "changed-file round $r of $runs"
  measure ward_check_1change 1 "$ward" integrity check --config "$run_dir/policy.yaml" --state-dir "$state"
  total=$(count_events "$run_dir/ward_check_1change.out")
  mine=$(count_events "$run_dir/ward_check_1change.out" "$victim")
  [[ "$total" == 1 && "$mine" == 1 ]] ||
    die "ward-agent reported $total event(s), $mine for $victim; expected exactly one for it"
  measure aide_check_1change 4 aide --check -c "$run_dir/aide.conf" -W "$jobs"
  if ! grep -q "Changed entries:[[:space:]]*1\$" "$run_dir/aide_check_1change.out" ||
    ! grep -qF ": $victim" "$run_dir/aide_check_1change.out"; then
    die "AIDE did not report exactly the one change (see $run_dir/aide_check_1change.out)"
  fi
done
cp -p "$saved" "$victim"
trap - EXIT
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# The SHA-256 rate of one core on 256 KiB blocks, in bytes/s: what hashing alone would cost.
sha_rate=$(openssl speed -seconds 2 -bytes 262144 -evp sha256 2> /dev/null |
  awk '$1 == "sha256" {sub(/k$/, "", $2); printf "%d", $2 * 1000}')

# --- report ----------------------------------------------------------------------------------
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem_gb=$(awk '/^MemTotal:/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
machine="$(nproc) CPUs ($cpu_model), ${mem_gb} GB RAM, Linux $(uname -r)"
versions="ward-agent $("$ward" --version 2> /dev/null | sed -n 1p); $(aide --version 2>&1 | sed -n 1p); \
$(openssl version | cut -d' ' -f1-2); $(sha256sum --version | sed -n 1p)"

report=$("$py" - "$raw" "$bytes" "${sha_rate:-0}" << EOF
import statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    name, wall, user, sys_, rss = line.split()
    if name not in rows:
        rows[name] = []
        order.append(name)
    rows[name].append((float(wall), float(user) + float(sys_), int(rss)))
nbytes = int(sys.argv[2])
sha_rate = int(sys.argv[3])
med = {n: tuple(statistics.median(r[i] for r in rows[n]) for i in range(3)) for n in order}
labels = {
    "ward_baseline": "ward-agent integrity baseline",
    "ward_check": "ward-agent integrity check",
    "ward_check_1change": "ward-agent integrity check, 1 file changed",
    "aide_init": "aide --init -W $jobs",
    "aide_check": "aide --check -W $jobs",
    "aide_check_1change": "aide --check -W $jobs, 1 file changed",
    "sha256sum": "find \\\\| xargs -P$jobs -n 64 sha256sum",
    "openssl_dgst": "find \\\\| xargs -P$jobs -n 64 openssl dgst -sha256",
}
print(f"Median of $runs run(s); wall range in brackets. {nbytes / 1e9:.2f} GB in $entries entries"
      f" ($corpus_summary).")
print()
print("| command | wall s | CPU s (user+sys) | peak RSS MiB | MB/s |")
print("|---|---:|---:|---:|---:|")
for n in order:
    w, c, m = med[n]
    ws = [r[0] for r in rows[n]]
    rng = f" [{min(ws):.2f}-{max(ws):.2f}]" if len(ws) > 1 else ""
    print(f"| {labels.get(n, n)} | {w:.2f}{rng} | {c:.2f} | {m / 1024:.1f} | {nbytes / 1e6 / w:.0f} |")
print()
ward_rss = max(r[2] for n in order if n.startswith("ward") for r in rows[n]) * 1024
def rounds(num, den, scale=1):  # the ratio within each round, same index = same round
    return [scale * a[0] / b[0] for a, b in zip(rows[num], rows[den])]
checks = [
    ("aide --init / ward baseline (wall)", med["aide_init"][0] / med["ward_baseline"][0],
     rounds("aide_init", "ward_baseline"), 4, "x"),
    ("aide --check / ward check (wall)", med["aide_check"][0] / med["ward_check"][0],
     rounds("aide_check", "ward_check"), 8, "x"),
    ("ward baseline throughput, % of openssl dgst",
     100 * med["openssl_dgst"][0] / med["ward_baseline"][0],
     rounds("openssl_dgst", "ward_baseline", 100), 85, "%"),
]
print("| ratio (of the medians) | measured | round by round | target | |")
print("|---|---:|---:|---:|---|")
for label, v, per_round, target, unit in checks:
    ok = "met" if v >= target else "**missed**"
    f = (lambda x: f"{x:.0f}%") if unit == "%" else (lambda x: f"{x:.2f}x")
    print(f"| {label} | {f(v)} | {', '.join(f(x) for x in per_round)} | >= {target}{unit} | {ok} |")
print(f"| ward-agent peak RSS, largest of all runs | {ward_rss / 1e6:.1f} MB "
      f"({ward_rss / 2**20:.1f} MiB) | | < 100 MB | {'met' if ward_rss < 100e6 else '**missed**'} |")
print(f"| aide --init / ward baseline (CPU) | {med['aide_init'][1] / med['ward_baseline'][1]:.2f}x"
      " | | | for information |")
print(f"| aide --check / ward check (CPU) | {med['aide_check'][1] / med['ward_check'][1]:.2f}x"
      " | | | for information |")
if sha_rate:
    floor = nbytes / sha_rate
    print(f"| SHA-256 alone: {floor:.2f} s CPU, {floor / $jobs:.2f} s wall on $jobs cores "
          f"(openssl speed, {sha_rate / 1e9:.2f} GB/s per core); ward baseline CPU / that "
          f"| {med['ward_baseline'][1] / floor:.2f}x | | | for information |")
EOF
)

echo
echo "$report"
echo
echo "Machine: $machine; load average $load_before before, $load_after after."

((write_results)) || exit 0

section="$run_dir/section.md"
{
  echo "## Integrity monitoring"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') with \`$cmdline\` at commit" \
    "$(git -C "$repo" rev-parse --short HEAD 2> /dev/null || echo unknown)$(
      [[ -n "$(git -C "$repo" status --porcelain -- agent common ':!*_test.cc' 2> /dev/null)" ]] &&
        echo ' with uncommitted changes to agent sources')."
  echo
  echo "- Machine: $machine."
  echo "- Load average (1, 5, 15 min): $load_before before, $load_after after."
  [[ -n "${BENCH_NOTE:-}" ]] && echo "- Note: $BENCH_NOTE"
  echo "- Tools: $versions."
  echo "- The same tree, page cache warm; each round runs every command once. The changed-file"
  echo "  rows flip one byte of ${victim#"$work"/}, keeping its size and mtime; each tool"
  echo "  reported exactly that one change."
  echo
  echo "$report"
} > "$section"

results="$repo/bench/RESULTS.md"
"$py" - "$results" "$section" << 'EOF'
import os, re, sys
path, section = sys.argv[1], open(sys.argv[2]).read().rstrip("\n") + "\n"
header = ("# Benchmark results\n\n"
          "Figures measured by the benchmarks under bench/, one section per benchmark, each "
          "rewritten by its runner's --write-results.\n")
text = open(path).read() if os.path.exists(path) else header
m = re.search(r"^## Integrity monitoring\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
if m:
    text = text[:m.start()] + section + ("\n" if text[m.end():] else "") + text[m.end():]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
EOF
say "results written to $results"

#!/usr/bin/python3
"""Auto-healing benchmark: change-to-restore latency in a real tree watched in real time.

Makes a git repository of N files, checks it out as the web root, runs the real `ward-agent run`
with integrity (fanotify) + autoheal, then
  1. tampers SINGLE files one at a time (waiting for each restore), and
  2. tampers BURST files at once,
timing from the tampering write's close() to the moment the agent's `restored` event is read,
and also collecting the agent's own `autoheal.latency_ms` (from the file's ctime). Prints
p50/p99/max and checks every file's content afterwards.

Usage: bench/autoheal/run.py [--files 1000] [--single 200] [--burst 200] [--agent PATH]
"""
import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


class Agent:
    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buf = b""
        self.events = []

    def poll(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return []
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            raise RuntimeError("agent exited")
        now = time.monotonic()
        self.buf += chunk
        out = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            ev = json.loads(line)
            out.append((now, ev))
        self.events.extend(out)
        return out

    def wait_for(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, ev in self.poll(deadline - time.monotonic()):
                if pred(ev):
                    return t, ev
        raise TimeoutError("event not seen")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def git(repo, *args):
    subprocess.run(["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=b@b", *args],
                   check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--single", type=int, default=200)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "bin", "ward-agent"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="ward-autoheal-bench-")
    try:
        repo = os.path.join(work, "site")
        www = os.path.join(work, "www")
        os.makedirs(repo)
        git(repo, "init", "-q", "-b", "main")
        for i in range(args.files):
            d = os.path.join(repo, "d%02d" % (i % 50))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "page%04d.html" % i), "w") as f:
                f.write("<html><body>page %d %s</body></html>\n" % (i, "x" * (200 + i % 3000)))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "site")
        shutil.copytree(repo, www, ignore=shutil.ignore_patterns(".git"))
        policy = os.path.join(work, "policy.yaml")
        with open(policy, "w") as f:
            f.write("agent: {outputs: {file: false}}\n"
                    "integrity: {paths: [{path: %s}], schedule: 0, realtime: true}\n"
                    "autoheal: {roots: [{path: %s, repository: %s, ref: refs/heads/main}],"
                    " persistent_threshold: 1000}\n" % (www, www, repo))
        agent = Agent([args.agent, "run", "--config", policy, "--state-dir",
                       os.path.join(work, "state")])
        agent.wait_for(lambda e: e["event"]["module"] == "integrity" and
                       e["event"]["action"] == "started", 60)

        files = sorted(os.path.join(dp, n) for dp, _, ns in os.walk(www) for n in ns)
        single_ext, single_int = [], []
        for path in files[:args.single]:
            with open(path, "w") as f:
                f.write("DEFACED\n")
            t0 = time.monotonic()
            t, ev = agent.wait_for(lambda e: e["event"]["module"] == "autoheal" and
                                   e["event"]["action"] == "restored" and
                                   e["file"]["path"] == path, 10)
            single_ext.append((t - t0) * 1000)
            if "latency_ms" in ev.get("autoheal", {}):
                single_int.append(ev["autoheal"]["latency_ms"])

        burst = files[args.single:args.single + args.burst]
        pending = set(burst)
        t0 = time.monotonic()
        for path in burst:
            with open(path, "w") as f:
                f.write("DEFACED\n")
        t_written = time.monotonic()
        burst_ext, burst_int = [], []
        deadline = t0 + 60
        while pending and time.monotonic() < deadline:
            for t, ev in agent.poll(deadline - time.monotonic()):
                if ev["event"]["module"] == "autoheal" and ev["event"]["action"] == "restored":
                    p = ev["file"]["path"]
                    if p in pending:
                        pending.discard(p)
                        burst_ext.append((t - t0) * 1000)
                        if "latency_ms" in ev.get("autoheal", {}):
                            burst_int.append(ev["autoheal"]["latency_ms"])
        t_all = (time.monotonic() - t0) * 1000
        agent.stop()

        bad = 0
        for path in files[:args.single + args.burst]:
            rel = os.path.relpath(path, www)
            with open(path, "rb") as a, open(os.path.join(repo, rel), "rb") as b:
                bad += a.read() != b.read()

        def row(name, v):
            return "| %s | %d | %.0f | %.0f | %.0f |" % (name, len(v), pct(v, 50), pct(v, 99),
                                                       max(v) if v else float("nan"))
        print("| measurement | n | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        print(row("single tamper, close() to restored event (external)", single_ext))
        print(row("single tamper, autoheal.latency_ms (ctime to restore)", single_int))
        print(row("burst of %d, first write to each restored event" % len(burst), burst_ext))
        print(row("burst of %d, autoheal.latency_ms" % len(burst), burst_int))
        print()
        print("burst: %d files written in %.0f ms; all restored after %.0f ms; not restored: %d; "
              "files differing from git afterwards: %d" %
              (len(burst), (t_written - t0) * 1000, t_all, len(pending), bad))
        ok = (pct(single_ext, 99) < 500 and not pending and t_all < 5000 and bad == 0)
        print("targets (single p99 < 500 ms, burst all restored < 5 s, content exact): %s" %
              ("met" if ok else "NOT met"))
        return 0 if not pending and bad == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

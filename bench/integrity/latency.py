#!/usr/bin/python3
"""Real-time integrity latency: from close() of a modified file to its event.

Runs the real `ward-agent integrity watch` (fanotify, then inotify) on a tree of --files files,
modifies --changes of them one at a time, and times from the writer's close() to the moment the
`modified` event is read from the agent's stdout. As the floor, the same is measured for
`inotifywait -m -r -e close_write` (the bare kernel notification, no hashing, no baseline).
Prints p50/p99/max for each. Target (issue): ward p99 < 200 ms.

Usage: bench/integrity/latency.py [--files 2000] [--changes 200] [--agent PATH]
"""
import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))] if s else float("nan")


class Lines:
    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buf = b""

    def wait_for(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("line not seen")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not chunk:
                raise RuntimeError("process exited")
            t = time.monotonic()
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if pred(line):
                    return t

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def measure(proc, files, changes, match):
    out = []
    for i, path in enumerate(files[:changes]):
        with open(path, "a") as f:
            f.write("change %d\n" % i)
        t0 = time.monotonic()
        t = proc.wait_for(lambda line: match(line, path), 10)
        out.append((t - t0) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "bin", "ward-agent"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ward-latency-bench-")
    try:
        tree = os.path.join(work, "www")
        files = []
        for i in range(args.files):
            d = os.path.join(tree, "d%02d" % (i % 40))
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, "f%05d.html" % i)
            with open(p, "w") as f:
                f.write("x" * (100 + i % 5000))
            files.append(p)
        rows = []
        for backend in ("fanotify", "inotify"):
            policy = os.path.join(work, "p-%s.yaml" % backend)
            with open(policy, "w") as f:
                f.write("agent: {outputs: {file: false}}\nintegrity: {paths: [{path: %s}], "
                        "schedule: 0, realtime: true, realtime_backend: %s}\n" % (tree, backend))
            state = os.path.join(work, "state-" + backend)
            agent = Lines([args.agent, "integrity", "watch", "--config", policy,
                           "--state-dir", state])
            agent.wait_for(lambda l: b'"started"' in l, 60)

            def is_mod(line, path):
                e = json.loads(line)
                return (e["event"]["module"] == "integrity" and
                        e.get("file", {}).get("path") == path and
                        e["event"]["action"] == "modified")
            v = measure(agent, files[::7], args.changes, is_mod)
            agent.stop()
            rows.append(("ward-agent integrity watch (%s)" % backend, v))
        iw = Lines(["inotifywait", "-m", "-r", "-q", "-e", "close_write", "--format", "%w%f", tree])
        time.sleep(1.0)  # inotifywait prints "Watches established" only without -q
        v = measure(iw, files[3::7], args.changes, lambda line, path: line.decode() == path)
        iw.stop()
        rows.append(("inotifywait -m -r -e close_write (floor)", v))
        print("| close() to event | n | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        for name, v in rows:
            print("| %s | %d | %.1f | %.1f | %.1f |" % (name, len(v), pct(v, 50), pct(v, 99), max(v)))
        ok = all(pct(v, 99) < 200 for name, v in rows[:2])
        print("\ntarget (ward p99 < 200 ms): %s" % ("met" if ok else "NOT met"))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

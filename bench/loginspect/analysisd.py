#!/usr/bin/env python3
"""Feed a corpus to a running ossec-analysisd through its queue socket and measure its CPU.

usage: analysisd.py OSSEC_ANALYSISD PREFIX CORPUS OUT_JSON [--location PATH]

Starts `unshare -n OSSEC_ANALYSISD -f` (foreground; it chroots into PREFIX, the directory it was
built for), waits until it listens on PREFIX/queue/ossec/queue, reads its CPU from
/proc/PID/stat (all threads), sends every corpus line as the log collector does
("1:LOCATION:LINE", one datagram each; a full socket blocks the sender, so nothing is dropped
there), waits until its state file (PREFIX/var/run/ossec-analysisd.state, written every
`analysisd.state_interval` seconds) says every line was processed and the alert writer's queue is
empty, reads the CPU again and stops it. Processing CPU = the difference (rule and decoder
loading happen before the first reading). Writes user/sys seconds, peak RSS (VmHWM), the
state-file counters and the alerts in PREFIX/logs/alerts/alerts.log to OUT_JSON.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick  # utime, stime


def hwm_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def state(path):
    values = {}
    try:
        with open(path) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    values[k] = float(v.strip("'"))
    except (OSError, ValueError):
        pass
    return values


def main():
    args = sys.argv[1:]
    location = "/var/log/corpus.log"
    if "--location" in args:
        i = args.index("--location")
        location = args[i + 1]
        del args[i : i + 2]
    binary, prefix, corpus, out = args
    sock_path = os.path.join(prefix, "queue/ossec/queue")
    state_path = os.path.join(prefix, "var/run/ossec-analysisd.state")
    for p in (sock_path, state_path):
        if os.path.exists(p):
            os.unlink(p)
    log = open(os.path.join(prefix, "analysisd.stderr"), "w")
    # unshare -n: OSSEC's is_valid_crawler rule does reverse DNS lookups; the queue is a
    # filesystem socket, which a network namespace does not hide.
    proc = subprocess.Popen(["unshare", "-n", binary, "-f"], stdout=log, stderr=log)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                sys.exit("ossec-analysisd exited with %d (see %s/analysisd.stderr)" % (proc.returncode, prefix))
            try:
                s.connect(sock_path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("ossec-analysisd did not open its queue")
                time.sleep(0.05)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        # The pipeline threads start after the socket is bound; let them settle.
        time.sleep(1)
        u0, s0 = cpu(proc.pid)
        head = ("1:%s:" % location).encode()
        n = 0
        t0 = time.monotonic()
        with open(corpus, "rb") as f:
            for line in f:
                line = line.rstrip(b"\n")
                s.send(head + line)
                n += 1
        sent = time.monotonic()
        last, still = None, 0
        while True:
            time.sleep(0.2)
            if proc.poll() is not None:
                sys.exit("ossec-analysisd died while processing")
            st = state(state_path)
            done = st.get("events_processed", 0) + st.get("events_dropped", 0) + st.get("events_dropped_shard", 0)
            if done >= n and st.get("alerts_queue_usage", 1) == 0 and st.get("fts_queue_usage", 1) == 0:
                break
            key = (st.get("events_processed"), st.get("alerts_written"))
            still = still + 1 if key == last else 0
            last = key
            if still > 100:  # 20 s without progress
                print("warning: ossec-analysisd stopped at %s of %d lines" % (key, n), file=sys.stderr)
                break
        u1, s1 = cpu(proc.pid)
        wall = time.monotonic() - t0
        rss = hwm_mb(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    alerts = 0
    with open(os.path.join(prefix, "logs/alerts/alerts.log"), "rb") as f:
        for line in f:
            if line.startswith(b"Rule: "):
                alerts += 1
    result = {
        "lines": n,
        "user": u1 - u0,
        "sys": s1 - s0,
        "wall": wall,
        "send_wall": sent - t0,
        "peak_rss_mb": rss,
        "alerts": alerts,
        "events_received": st.get("events_received"),
        "events_processed": st.get("events_processed"),
        "events_dropped": st.get("events_dropped", 0) + st.get("events_dropped_shard", 0),
        "alerts_dropped": st.get("alerts_dropped"),
        "alerts_written": st.get("alerts_written"),
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

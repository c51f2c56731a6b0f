#!/usr/bin/python3
"""Agent <-> manager channel benchmark (issue #6).

  /usr/bin/python3 bench/channel/run.py [BUILD_DIR] [--agents 2000] [--duration 60]
      [--interval 60] [--concurrency 64] [--idle 60] [--warmup 10] [--skip-postgres]
      [--skip-agent] [--pg-port 25442] [--mysql-port 23316]

1. ward-manager on SQLite (fresh temp dir): N simulated agents activated (not measured), then
   --duration seconds of heartbeats, each agent every --interval s (+-10% jitter, random first
   offset), one TLS connection per request (connect, handshake, POST, read, close), like the real
   agent. Latency is measured both excluding connect+TLS (request written -> response read) and
   including them. Manager CPU (utime+stime over the window, /proc/PID/stat) and RSS; the load
   tool's own CPU.
2. The same against a private PostgreSQL (scripts/test-databases, fsync on).
3. One real ward-agent, activated with a policy (integrity on a small directory, realtime on) and
   run managed: after --warmup s, CPU% and RSS over --idle s from /proc.
Prints a table with the issue's targets. Stdlib only; every process and temp dir is cleaned up.
"""
import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROCS = []  # Popen objects to stop at exit


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def proc_mem_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def thread_cpu(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[f"{name}/{tid}"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except OSError:
            pass
    return out


def measure_idle(proc, logpath, args):
    """CPU% (utime+stime delta / wall), VmRSS/VmHWM and per-thread CPU of a running agent."""
    time.sleep(args.warmup)
    if proc.poll() is not None:
        sys.exit("agent exited:\n" + open(logpath).read()[-3000:])
    la0 = loadavg()
    c0, t0, w0 = proc_cpu_s(proc.pid), thread_cpu(proc.pid), time.time()
    time.sleep(args.idle)
    c1, t1, w1 = proc_cpu_s(proc.pid), thread_cpu(proc.pid), time.time()
    mem = proc_mem_kib(proc.pid)
    per_thread = {k: round(100 * (t1[k] - t0.get(k, 0)) / (w1 - w0), 2) for k in t1}
    return {"window_s": round(w1 - w0, 1), "cpu_pct": 100 * (c1 - c0) / (w1 - w0),
            "rss_mib": mem.get("VmRSS", 0) / 1024, "hwm_mib": mem.get("VmHWM", 0) / 1024,
            "threads": len(t1), "thread_cpu_pct": per_thread, "load_before": la0,
            "load_after": loadavg()}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Manager:
    def __init__(self, bindir, db_url, state):
        self.state = state
        os.makedirs(state, exist_ok=True)
        out = subprocess.run([f"{bindir}/ward-manager", "init", "--db", db_url, "--json"],
                             check=True, capture_output=True, text=True).stdout
        self.key = json.loads(out)["api_key"]
        self.out_path = os.path.join(state, "serve.out")
        self.proc = subprocess.Popen(
            [f"{bindir}/ward-manager", "serve", "--db", db_url, "--listen", "127.0.0.1:0",
             "--state-dir", state],
            stdout=open(self.out_path, "w"), stderr=open(os.path.join(state, "serve.log"), "w"))
        PROCS.append(self.proc)
        self.port = self.fingerprint = None
        for _ in range(200):
            with open(self.out_path) as f:
                for line in f:
                    if line.startswith("listening:"):
                        self.port = int(line.strip().rsplit(":", 1)[1])
                    elif line.startswith("fingerprint:"):
                        self.fingerprint = line.split(":", 1)[1].strip()
            if self.port and self.fingerprint:
                break
            if self.proc.poll() is not None:
                sys.exit("manager exited:\n" + open(os.path.join(state, "serve.log")).read())
            time.sleep(0.1)
        else:
            sys.exit("manager did not print listening/fingerprint")
        self.url = f"https://127.0.0.1:{self.port}"
        self.ctx = ssl.create_default_context(cafile=os.path.join(state, "tls", "cert.pem"))
        self.ctx.check_hostname = False

    def api(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.loads(r.read())


async def post(ctx, port, path, body, bearer=None):
    """One request on its own TLS connection. Returns (status, json, t_total, t_request)."""
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n")
    if bearer:
        head += f"Authorization: Bearer {bearer}\r\n"
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                   server_hostname="127.0.0.1")
    try:
        t1 = time.perf_counter()
        writer.write(head.encode() + b"\r\n" + data)
        await writer.drain()
        hdr = await reader.readuntil(b"\r\n\r\n")
        status = int(hdr.split(b" ", 2)[1])
        length = 0
        for line in hdr.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        payload = await reader.readexactly(length) if length else b""
        t2 = time.perf_counter()
    finally:
        writer.transport.abort()  # the server closes too (Connection: close); no TLS shutdown wait
    try:
        doc = json.loads(payload) if payload else None
    except ValueError:
        doc = None
    return status, doc, t2 - t0, t2 - t1


def status_body(i, hb_count):
    return {"machine_id": f"bench-machine-{i:05d}",
            "status": {"version": "0.1.0", "hostname": f"bench-{i:05d}", "policy_version": 0,
                       "modules": [{"name": "integrity", "state": "running"},
                                   {"name": "antimalware", "state": "running"}],
                       "spool": {"depth": random.randint(0, 20), "bytes": random.randint(0, 80000),
                                 "dropped": 0},
                       "counters": {"events_sent": hb_count * 7, "proxy_errors": 0}}}


async def activate_all(m, token, n, conc):
    sem = asyncio.Semaphore(conc)
    creds = [None] * n

    async def one(i):
        async with sem:
            for attempt in range(5):
                st, doc, _, _ = await post(m.ctx, m.port, "/agent/v1/activate",
                                           {"token": token, "hostname": f"bench-{i:05d}",
                                            "machine_id": f"bench-machine-{i:05d}",
                                            "agent_version": "0.1.0", "os": "Debian GNU/Linux 12"})
                if st == 201:
                    creds[i] = doc["credential"]
                    return
                await asyncio.sleep(0.5)
            raise RuntimeError(f"activation {i} failed: {st} {doc}")

    await asyncio.gather(*(one(i) for i in range(n)))
    return creds


async def heartbeat_load(m, creds, duration, interval, conc):
    sem = asyncio.Semaphore(conc)
    lat_req, lat_total, errors = [], [], {}
    policy_seen = [0]
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + duration
    waited = []  # time spent waiting for a concurrency slot (load tool's own queueing)

    async def agent(i, cred):
        t = start + random.uniform(0, interval)
        n = 0
        while t < end:
            await asyncio.sleep(max(0.0, t - loop.time()))
            q0 = loop.time()
            async with sem:
                waited.append(loop.time() - q0)
                try:
                    st, doc, tot, req = await asyncio.wait_for(
                        post(m.ctx, m.port, "/agent/v1/heartbeat", status_body(i, n), cred), 30)
                    if st == 200:
                        lat_total.append(tot)
                        lat_req.append(req)
                        if doc and doc.get("policy"):
                            policy_seen[0] += 1
                    else:
                        errors[f"HTTP {st}"] = errors.get(f"HTTP {st}", 0) + 1
                except Exception as e:  # noqa: BLE001 - counted and reported
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            n += 1
            t += interval * random.uniform(0.9, 1.1)

    await asyncio.gather(*(agent(i, c) for i, c in enumerate(creds)))
    return lat_req, lat_total, errors, waited, loop.time() - start


def run_load(bindir, db_url, label, tmp, args):
    print(f"[{label}] starting manager ({db_url.split('@')[-1]})", flush=True)
    m = Manager(bindir, db_url, os.path.join(tmp, f"mgr-{label}"))
    try:
        tok = m.api("/api/v1/activation-tokens", {"name": "bench", "max_uses": args.agents + 10})
        t = time.time()
        creds = asyncio.run(activate_all(m, tok["token"], args.agents, 8))
        print(f"[{label}] activated {len(creds)} agents in {time.time() - t:.1f} s; "
              f"heartbeats for {args.duration} s every {args.interval} s", flush=True)
        la0 = loadavg()
        cpu0, self0, w0 = proc_cpu_s(m.proc.pid), resource.getrusage(resource.RUSAGE_SELF), time.time()
        lat_req, lat_total, errors, waited, wall = asyncio.run(
            heartbeat_load(m, creds, args.duration, args.interval, args.concurrency))
        cpu1, self1, w1 = proc_cpu_s(m.proc.pid), resource.getrusage(resource.RUSAGE_SELF), time.time()
        mem = proc_mem_kib(m.proc.pid)
        la1 = loadavg()
        lat_req.sort()
        lat_total.sort()
        waited.sort()
        r = {"label": label, "agents": args.agents, "interval_s": args.interval,
             "window_s": round(w1 - w0, 1), "ok": len(lat_req), "errors": errors,
             "rate_per_s": round(len(lat_req) / (w1 - w0), 1),
             "req_p50_ms": pct(lat_req, 50) * 1e3, "req_p99_ms": pct(lat_req, 99) * 1e3,
             "req_max_ms": (lat_req[-1] if lat_req else float("nan")) * 1e3,
             "tot_p50_ms": pct(lat_total, 50) * 1e3, "tot_p99_ms": pct(lat_total, 99) * 1e3,
             "tot_max_ms": (lat_total[-1] if lat_total else float("nan")) * 1e3,
             "slot_wait_p99_ms": pct(waited, 99) * 1e3,
             "manager_cpu_pct": 100 * (cpu1 - cpu0) / (w1 - w0),
             "manager_rss_mib": mem.get("VmRSS", 0) / 1024, "manager_hwm_mib": mem.get("VmHWM", 0) / 1024,
             "tool_cpu_pct": 100 * ((self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)) / (w1 - w0),
             "load_before": la0, "load_after": la1}
        print(f"[{label}] " + json.dumps(r, default=lambda x: round(x, 2)), flush=True)
        return r
    finally:
        stop(m.proc)


def run_agent(bindir, tmp, args):
    print("[agent] starting manager (sqlite) and one real ward-agent", flush=True)
    m = Manager(bindir, f"sqlite:{tmp}/agent-mgr.db", os.path.join(tmp, "mgr-agent"))
    parent = tempfile.mkdtemp(prefix="ward-bench-www-", dir=args.watch_parent) if args.watch_parent else tmp
    watched = os.path.join(parent, "www")
    os.makedirs(watched)
    if parent != tmp:
        os.symlink(parent, os.path.join(tmp, "watch-parent"))  # removed with tmp (see main)
    for i in range(50):
        with open(os.path.join(watched, f"page{i}.html"), "w") as f:
            f.write(f"<html><body>page {i}</body></html>\n" * 20)
    try:
        pol = m.api("/api/v1/policies", {"name": "bench-idle", "document": {
            "agent": {"name": "bench-idle"},
            "integrity": {"paths": [{"path": watched}], "schedule": "1h", "realtime": True}}})
        tok = m.api("/api/v1/activation-tokens", {"name": "bench-idle", "policy_id": pol["id"]})
        state = os.path.join(tmp, "agent-state")
        os.makedirs(state)
        subprocess.run([f"{bindir}/ward-agent", "activate", "--manager", m.url, "--token",
                        tok["token"], "--manager-fingerprint", m.fingerprint, "--state-dir", state],
                       check=True, capture_output=True)
        a = subprocess.Popen([f"{bindir}/ward-agent", "run", "--state-dir", state],
                             stdout=open(os.path.join(tmp, "agent.out"), "w"),
                             stderr=open(os.path.join(tmp, "agent.log"), "w"))
        PROCS.append(a)
        try:
            r = measure_idle(a, os.path.join(tmp, "agent.log"), args)
            agents = json.loads(urllib.request.urlopen(urllib.request.Request(
                m.url + "/api/v1/agents", headers={"Authorization": f"Bearer {m.key}"}),
                context=m.ctx).read())
            items = agents.get("items", agents.get("agents", [])) if isinstance(agents, dict) else agents
            info = items[0] if items else {}
            r["manager_status"] = info.get("status")
            r["modules"] = [x.get("name") + ":" + str(x.get("state")) for x in
                            (info.get("report") or {}).get("modules", [])]
            print("[agent] " + json.dumps(r, default=lambda x: round(x, 2)), flush=True)
        finally:
            stop(a)
    finally:
        stop(m.proc)
    # Anchor: the same policy run standalone (--config, no manager channel), same windows.
    print("[agent] anchor: the same policy standalone (no channel)", flush=True)
    state2 = os.path.join(tmp, "agent-standalone")
    os.makedirs(state2)
    cfg = os.path.join(tmp, "standalone.json")  # JSON is YAML
    with open(cfg, "w") as f:
        json.dump({"agent": {"name": "bench-idle"}, "integrity": {
            "paths": [{"path": watched}], "schedule": "1h", "realtime": True}}, f)
    a = subprocess.Popen([f"{bindir}/ward-agent", "run", "--config", cfg, "--state-dir", state2],
                         stdout=open(os.path.join(tmp, "standalone.out"), "w"),
                         stderr=open(os.path.join(tmp, "standalone.log"), "w"))
    PROCS.append(a)
    try:
        r["standalone"] = measure_idle(a, os.path.join(tmp, "standalone.log"), args)
        print("[agent] standalone " + json.dumps(r["standalone"], default=lambda x: round(x, 2)), flush=True)
    finally:
        stop(a)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--interval", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=64, help="requests in flight at most")
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-agent", action="store_true")
    ap.add_argument("--skip-load", action="store_true", help="only the idle agent")
    ap.add_argument("--watch-parent", help="where the watched directory is made (default: the "
                    "temp dir); e.g. /dev/shm to put it on a tmpfs")
    ap.add_argument("--pg-port", type=int, default=25442)
    ap.add_argument("--mysql-port", type=int, default=23316)
    args = ap.parse_args()
    bindir = os.path.join(os.path.abspath(args.build), "bin")
    for b in ("ward-manager", "ward-agent"):
        if not os.access(os.path.join(bindir, b), os.X_OK):
            sys.exit(f"missing {bindir}/{b}")
    tmp = tempfile.mkdtemp(prefix="ward-bench-channel-")
    dbdir = os.path.join(tmp, "dbs")
    pg_started = False
    results = []
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load {loadavg()}, "
          f"{os.cpu_count()} CPUs", flush=True)
    try:
        if not args.skip_load:
            results.append(run_load(bindir, f"sqlite:{tmp}/ward.db", "sqlite", tmp, args))
        if not args.skip_postgres and not args.skip_load:
            env = dict(os.environ, WARD_TEST_DB_DURABLE="1")
            pg_started = True
            out = subprocess.run([os.path.join(ROOT, "scripts/test-databases"), "start", dbdir,
                                  str(args.pg_port), str(args.mysql_port)],
                                 check=True, capture_output=True, text=True, env=env).stdout
            url = [l.split("=", 1)[1] for l in out.splitlines()
                   if l.startswith("WARD_TEST_POSTGRES_URL=")][0]
            results.append(run_load(bindir, url, "postgresql", tmp, args))
        agent = None if args.skip_agent else run_agent(bindir, tmp, args)
    finally:
        for p in PROCS:
            stop(p)
        if pg_started:
            subprocess.run([os.path.join(ROOT, "scripts/test-databases"), "destroy", dbdir],
                           capture_output=True)
        link = os.path.join(tmp, "watch-parent")
        if os.path.islink(link):
            shutil.rmtree(os.readlink(link), ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)

    def mark(ok):
        return "met" if ok else "NOT met"

    print(f"\nend load {loadavg()}")
    if results:
        print("\n| measure | sqlite | postgresql | target | result |\n|---|---:|---:|---|---|")
    by = {r["label"]: r for r in results}
    rows = [("heartbeats ok / errors", lambda r: f"{r['ok']} / {sum(r['errors'].values())}"),
            ("heartbeats/s", lambda r: f"{r['rate_per_s']:.1f}"),
            ("latency p50 ms (request only)", lambda r: f"{r['req_p50_ms']:.1f}"),
            ("latency p99 ms (request only)", lambda r: f"{r['req_p99_ms']:.1f}"),
            ("latency max ms (request only)", lambda r: f"{r['req_max_ms']:.1f}"),
            ("latency p50 ms (+connect+TLS)", lambda r: f"{r['tot_p50_ms']:.1f}"),
            ("latency p99 ms (+connect+TLS)", lambda r: f"{r['tot_p99_ms']:.1f}"),
            ("latency max ms (+connect+TLS)", lambda r: f"{r['tot_max_ms']:.1f}"),
            ("manager CPU % of one core", lambda r: f"{r['manager_cpu_pct']:.1f}"),
            ("manager RSS / HWM MiB", lambda r: f"{r['manager_rss_mib']:.0f} / {r['manager_hwm_mib']:.0f}"),
            ("load tool CPU % of one core", lambda r: f"{r['tool_cpu_pct']:.1f}"),
            ("slot wait p99 ms (tool queueing)", lambda r: f"{r['slot_wait_p99_ms']:.1f}")]
    for name, fmt in (rows if results else []):
        cells = [fmt(by[k]) if k in by else "-" for k in ("sqlite", "postgresql")]
        target, res = "", ""
        if name.startswith("latency p99 ms"):
            target = "< 50 ms"
            key = "req_p99_ms" if "request only" in name else "tot_p99_ms"
            res = ", ".join(f"{k}: {mark(by[k][key] < 50)}" for k in by)
        if name.startswith("heartbeats ok"):
            res = "errors: " + json.dumps({k: by[k]["errors"] for k in by})
        print(f"| {name} | {cells[0]} | {cells[1]} | {target} | {res} |")
    if agent:
        print(f"\n| idle ward-agent ({agent['window_s']} s after {args.warmup:.0f} s warm-up) | value | target | result |"
              "\n|---|---:|---|---|")
        print(f"| CPU % of one core | {agent['cpu_pct']:.2f} | < 1 % | {mark(agent['cpu_pct'] < 1)} |")
        print(f"| VmRSS MiB | {agent['rss_mib']:.1f} | < 40 MB | {mark(agent['rss_mib'] * 1.048576 < 40)} |")
        print(f"| VmHWM MiB (peak) | {agent['hwm_mib']:.1f} | < 40 MB | {mark(agent['hwm_mib'] * 1.048576 < 40)} |")
        sa = agent.get("standalone")
        if sa:
            print(f"| anchor: same policy standalone (no channel): CPU % / VmRSS / VmHWM MiB | "
                  f"{sa['cpu_pct']:.2f} / {sa['rss_mib']:.1f} / {sa['hwm_mib']:.1f} | | managed/standalone CPU "
                  f"{agent['cpu_pct'] / sa['cpu_pct'] if sa['cpu_pct'] else float('inf'):.2f}x, "
                  f"RSS {agent['rss_mib'] / sa['rss_mib']:.2f}x |")
        print(f"| per-thread CPU % (managed) | {agent['thread_cpu_pct']} | | |")
        if sa:
            print(f"| per-thread CPU % (standalone) | {sa['thread_cpu_pct']} | | |")
        print(f"| threads / manager status / modules | {agent['threads']} / {agent['manager_status']} / "
              f"{' '.join(agent['modules'])} | | |")


if __name__ == "__main__":
    main()

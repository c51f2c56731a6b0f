#!/usr/bin/python3
"""Transport reliability figures (docs/transport.md, bench/RESULTS.md).

Runs the real ward-manager (SQLite) and real ward-agents that emit synthetic events
(`ward-agent run --debug-emit N --debug-emit-rate R`, a test tool) and checks, from the manager's
API, that every event arrived exactly once:
  1. manager-kill: 10 agents x 10,000 events; the manager is killed (SIGKILL) in the middle and
     restarted.
  2. agent-kill: one agent under load (2,000 events/s) is killed (SIGKILL) and restarted; every
     event that had reached its spool (or the manager) must arrive.
  3. manager-down: one agent at 100 events/s; the manager is stopped for 20 s, then restarted;
     everything arrives, in order (the order the manager stored them: its SQLite rowid order).
Usage: bench/transport/reliability.py BUILD_DIR [--agents 10] [--events 10000]
"""
import argparse, json, os, shutil, signal, socket, sqlite3, ssl, subprocess, sys, tempfile, time
import urllib.request

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

class Manager:
    def __init__(self, bin_dir, work):
        self.bin = os.path.join(bin_dir, "ward-manager"); self.work = work
        self.db = "sqlite:" + os.path.join(work, "ward.db"); self.port = free_port(); self.proc = None
        out = subprocess.run([self.bin, "init", "--db", self.db, "--json"], check=True,
                             capture_output=True, text=True).stdout
        self.key = json.loads(out)["api_key"]
        self.ctx = ssl.create_default_context(); self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE
    def start(self):
        self.proc = subprocess.Popen([self.bin, "serve", "--db", self.db, "--listen",
                                      f"127.0.0.1:{self.port}", "--state-dir", self.work],
                                     stdout=subprocess.PIPE, stderr=open(os.path.join(self.work, "log"), "a"),
                                     text=True)
        for line in self.proc.stdout:
            if line.startswith("listening:"): break
    def kill(self):
        self.proc.send_signal(signal.SIGKILL); self.proc.wait()
    def stop(self):
        self.proc.send_signal(signal.SIGTERM); self.proc.wait()
    @property
    def url(self): return f"https://127.0.0.1:{self.port}"
    def api(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + self.key,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
            return json.loads(r.read() or b"null")
    def synthetic(self):
        """{agent id: [(event id, seq), ...]} of the synthetic events stored."""
        out, cursor = {}, None
        while True:
            q = "/api/v1/events?action=debug_synthetic&limit=1000&order=asc"
            if cursor: q += "&cursor=" + cursor
            page = self.api("GET", q)
            for e in page["items"]:
                out.setdefault(e["agent"]["id"], []).append((e["event"]["id"], e["ward"]["debug"]["seq"]))
            cursor = page["next_cursor"]
            if not cursor: return out

def agents(bin_dir, work, manager, n, events, rate):
    token = manager.api("POST", "/api/v1/activation-tokens", {"name": "bench"})["token"]
    procs = []
    for i in range(n):
        state = os.path.join(work, f"agent{i}")
        r = subprocess.run([os.path.join(bin_dir, "ward-agent"), "activate", "--manager",
                            manager.url, "--token", token, "--state-dir", state],
                           capture_output=True, text=True)
        if r.returncode != 0: sys.exit("activate: " + r.stderr)
        procs.append((state, start_agent(bin_dir, state, events, rate)))
    return procs

def start_agent(bin_dir, state, events, rate):
    args = [os.path.join(bin_dir, "ward-agent"), "run", "--state-dir", state]
    if events: args += ["--debug-emit", str(events), "--debug-emit-rate", str(rate)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(state + ".log", "a"))

def wait_all(manager, want_total, timeout):
    start = time.time(); got = {}
    while time.time() - start < timeout:
        got = manager.synthetic()
        if sum(len(v) for v in got.values()) >= want_total: break
        time.sleep(1)
    return got, time.time() - start

def stored_order(work):
    """{agent id: [seq, ...]} in the order the manager stored them (SQLite rowid order)."""
    db = sqlite3.connect(os.path.join(work, "ward.db"))
    out = {}
    for agent, doc in db.execute(
            "SELECT agent_id, doc FROM events WHERE action = 'debug_synthetic' ORDER BY rowid"):
        out.setdefault(agent, []).append(json.loads(doc)["ward"]["debug"]["seq"])
    db.close()
    return out

def check(got, per_agent, expect_agents, work):
    lost = dup = 0; out_of_order = 0
    for aid, items in got.items():
        seqs = [s for _, s in items]
        ids = [i for i, _ in items]
        dup += len(ids) - len(set(ids)) + len(seqs) - len(set(seqs))
        lost += per_agent - len(set(seqs))
    lost += per_agent * (expect_agents - len(got))
    for aid, seqs in stored_order(work).items():
        out_of_order += sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
    return lost, dup, out_of_order

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("build"); ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--events", type=int, default=10000); a = ap.parse_args()
    bin_dir = os.path.join(os.path.abspath(a.build), "bin")
    results = []
    # 1. manager killed in the middle of agents x events.
    work = tempfile.mkdtemp(prefix="ward-rel1-")
    m = Manager(bin_dir, work); m.start()
    procs = agents(bin_dir, work, m, a.agents, a.events, 1000)
    time.sleep(4); m.kill()
    time.sleep(4); m.start()
    got, took = wait_all(m, a.agents * a.events, 600)
    lost, dup, ooo = check(got, a.events, a.agents, work)
    results.append(("manager SIGKILL mid-load", a.agents * a.events, lost, dup, ooo, took))
    for _, p in procs: p.send_signal(signal.SIGTERM); p.wait()
    m.stop(); shutil.rmtree(work)
    # 2. an agent killed under load, restarted.
    work = tempfile.mkdtemp(prefix="ward-rel2-")
    m = Manager(bin_dir, work); m.start()
    [(state, p)] = agents(bin_dir, work, m, 1, 100000, 2000)
    time.sleep(5); p.send_signal(signal.SIGKILL); p.wait()
    taken = {s for items in m.synthetic().values() for _, s in items}
    db = sqlite3.connect(os.path.join(state, "transport", "spool.db"))
    for (body,) in db.execute("SELECT body FROM events"):
        e = json.loads(body)
        if e["event"]["action"] == "debug_synthetic": taken.add(e["ward"]["debug"]["seq"])
    db.close()
    p = start_agent(bin_dir, state, 0, 0)
    start = time.time()
    while time.time() - start < 300:
        have = {s for items in m.synthetic().values() for _, s in items}
        if taken <= have: break
        time.sleep(1)
    got = m.synthetic(); items = next(iter(got.values()))
    seqs = [s for _, s in items]
    lost = len(taken - set(seqs)); dup = len(seqs) - len(set(seqs))
    gaps = len(set(range(max(seqs) + 1)) - set(seqs))
    results.append((f"agent SIGKILL under load (2,000/s), {len(taken)} taken", len(taken), lost, dup, gaps, time.time() - start))
    p.send_signal(signal.SIGTERM); p.wait(); m.stop(); shutil.rmtree(work)
    # 3. manager stopped for 20 s at 100 events/s.
    work = tempfile.mkdtemp(prefix="ward-rel3-")
    m = Manager(bin_dir, work); m.start()
    [(state, p)] = agents(bin_dir, work, m, 1, 4000, 100)
    time.sleep(5); m.stop(); time.sleep(20); m.start()
    got, took = wait_all(m, 4000, 300)
    lost, dup, ooo = check(got, 4000, 1, work)
    results.append(("manager stopped 20 s at 100 events/s", 4000, lost, dup, ooo, took))
    p.send_signal(signal.SIGTERM); p.wait(); m.stop(); shutil.rmtree(work)
    print("| scenario | events | lost | stored twice | out of order / gaps | drained in (s) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.1f} |")
    sys.exit(1 if any(r[2] or r[3] or r[4] for r in results) else 0)

main()

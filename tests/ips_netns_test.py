#!/usr/bin/python3
"""Inline IPS integration tests in network namespaces made here: client ns --veth-- server ns with
nginx and the real ward-agent (ips, NFQUEUE). Run one case: ips_netns_test.py AGENT CASE.
Cases: prevent, ipv6, detect, pcap, fail_open, fail_closed, robustness, rules_lifecycle, threads,
answer, answer_ward (a blocked request answered with 403; libmodsecurity and ward engines),
prevent_ward (prevent with ips.engine: ward), persistent (IP counters across connections, both engines).
Everything made here (namespaces, processes) is removed at the end, also on failure; iptables
rules live inside the server namespace and vanish with it."""
import json
import os
import re
import signal
import socket
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ATTACKS = {
    "sqli": "/?id=1%27%20OR%20%271%27=%271%27%20--%20",
    "xss": "/?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
    "traversal": "/?file=../../../../etc/passwd",
    "cmdi": "/?cmd=;cat%20/etc/passwd",
}
NGINX_CONF = """worker_processes 1;
daemon off;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log warn;
events { worker_connections 512; }
http {
  log_format ward '$remote_addr $remote_port "$request" $status';
  access_log @DIR@/access.log ward;
  client_body_temp_path @DIR@/cb; proxy_temp_path @DIR@/px; fastcgi_temp_path @DIR@/fc;
  uwsgi_temp_path @DIR@/uw; scgi_temp_path @DIR@/sc;
  server {
    listen 80;
    listen [::]:80;
    root @DIR@/www;
    location / { try_files $uri /index.html; }
    error_page 405 =200 /index.html;
  }
}
"""


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def sh(*args, check_rc=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check_rc and r.returncode != 0:
        raise Failure("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r


class Lab:
    nginx_conf = NGINX_CONF

    def before_nginx(self):
        """Hook: runs in __enter__ once the namespaces exist, before nginx starts."""

    def __init__(self, agent):
        self.agent_bin = agent
        tag = "%d" % (os.getpid() % 100000)
        self.c, self.s = "wipsc" + tag, "wipss" + tag
        self.net = "10.%d.%d" % (200 + os.getpid() % 50, os.getpid() % 250)
        self.client_ip, self.server_ip = self.net + ".1", self.net + ".2"
        self.server_ip6 = "fd00:%x::2" % (os.getpid() % 65536)
        self.dir = tempfile.mkdtemp(prefix="ward-ips-ns-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.agent = None
        self.events_path = os.path.join(self.dir, "agent.out")

    def __enter__(self):
        sh("ip", "netns", "add", self.c)
        sh("ip", "netns", "add", self.s)
        sh("ip", "link", "add", "wv" + self.c[5:] + "c", "type", "veth", "peer", "name", "wv" + self.c[5:] + "s")
        sh("ip", "link", "set", "wv" + self.c[5:] + "c", "netns", self.c)
        sh("ip", "link", "set", "wv" + self.c[5:] + "s", "netns", self.s)
        for ns, dev, ip in ((self.c, "wv" + self.c[5:] + "c", self.client_ip), (self.s, "wv" + self.c[5:] + "s", self.server_ip)):
            sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev)
            v6 = "fd00:%x::%d" % (os.getpid() % 65536, 1 if ns == self.c else 2)
            sh("ip", "-n", ns, "addr", "add", v6 + "/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        www = os.path.join(self.dir, "www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("hello\n")
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(self.nginx_conf.replace("@DIR@", self.dir))
        self.before_nginx()
        self.procs.append(subprocess.Popen(["ip", "netns", "exec", self.s, "nginx", "-p", self.dir, "-c",
                                            os.path.join(self.dir, "nginx.conf")],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 10
        while self.curl("/")[0] != 200:
            check(time.time() < deadline, "nginx did not come up in the server namespace")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.stop_agent()
        # SIGTERM first: nginx's master then stops its workers (a SIGKILLed master leaves them running).
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        sh("ip", "netns", "exec", self.s, "sh", "-c", "kill $(cat %s/nginx.pid) 2>/dev/null" % self.dir, check_rc=False)
        sh("ip", "netns", "del", self.c, check_rc=False)
        sh("ip", "netns", "del", self.s, check_rc=False)
        # The directory holds the logs a failure is read from: kept only when the block failed.
        if exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start_agent(self, mode, fail="open", extra="", capture="nfqueue", ports="[80]"):
        policy = os.path.join(self.dir, "policy.yaml")
        with open(policy, "w") as f:
            f.write("agent:\n  outputs: { stdout: true, file: false }\n"
                    "ips:\n  mode: %s\n  ports: %s\n  capture: %s\n  fail: %s\n%s" % (mode, ports, capture, fail, extra))
        self.out = open(self.events_path, "w")
        self.agent = subprocess.Popen(["ip", "netns", "exec", self.s, self.agent_bin, "run", "--config", policy,
                                       "--state-dir", os.path.join(self.dir, "state")],
                                      stdout=self.out, stderr=open(os.path.join(self.dir, "agent.err"), "w"))
        deadline = time.time() + 20
        ready = "inline on NFQUEUE" if capture == "nfqueue" else "passive capture on"
        while ready not in open(os.path.join(self.dir, "agent.err")).read():
            check(self.agent.poll() is None, "agent exited: " + open(os.path.join(self.dir, "agent.err")).read())
            check(time.time() < deadline, "agent did not start inline")
            time.sleep(0.05)

    def stop_agent(self, sig=signal.SIGTERM):
        if self.agent and self.agent.poll() is None:
            # ip netns exec execs the agent, so this pid is the agent's.
            self.agent.send_signal(sig)
            try:
                self.agent.wait(10)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()

    def events(self):
        out = []
        for line in open(self.events_path, errors="replace"):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event", {}).get("module") == "ips":
                out.append(e)
        return out

    def wait_events(self, pred, n, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [e for e in self.events() if pred(e)]
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return [e for e in self.events() if pred(e)]

    def curl(self, path, data=None, timeout=3, v6=False):
        host = "[%s]" % self.server_ip6 if v6 else self.server_ip
        args = ["ip", "netns", "exec", self.c, "curl", "-s", "-g", "-o", "/dev/null", "-w", "%{http_code}",
                "--max-time", str(timeout), "http://%s%s" % (host, path)]
        if data is not None:
            args[-1:-1] = ["--data", data]
        r = subprocess.run(args, capture_output=True, text=True)
        code = int(r.stdout) if r.stdout.strip().isdigit() else 0
        return code, r.returncode

    def raw(self, payload, timeout=3.0, slow=0.0):
        """Sends raw bytes from the client namespace; returns the response bytes (or b"")."""
        script = ("import socket,sys,time\n"
                  "s=socket.create_connection((%r,80),timeout=%f)\n"
                  "d=sys.stdin.buffer.read()\n"
                  "if %f>0:\n"
                  "  [ (s.send(d[i:i+1]), time.sleep(%f)) for i in range(len(d)) ]\n"
                  "else:\n"
                  "  s.sendall(d)\n"
                  "r=b''\n"
                  "try:\n"
                  "  while True:\n"
                  "    b=s.recv(65536)\n"
                  "    if not b: break\n"
                  "    r+=b\n"
                  "except Exception: pass\n"
                  "sys.stdout.buffer.write(r)\n") % (self.server_ip, timeout, slow, slow)
        r = subprocess.run(["ip", "netns", "exec", self.c, "/usr/bin/python3", "-c", script], input=payload,
                           capture_output=True, timeout=timeout * 4 + len(payload) * slow + 10)
        return r.stdout

    def access_log(self):
        p = os.path.join(self.dir, "access.log")
        return open(p, errors="replace").read() if os.path.exists(p) else ""

    def agent_alive(self):
        return self.agent is not None and self.agent.poll() is None


def case_prevent(lab, engine="libmodsecurity"):
    lab.start_agent("prevent", extra="  engine: %s\n" % engine)
    for name, path in ATTACKS.items():
        code, rc = lab.curl(path)
        check(code != 200, "%s was answered %d in prevent mode" % (name, code))
    got = lab.wait_events(lambda e: e["event"]["action"] == "blocked", len(ATTACKS))
    check(len(got) >= len(ATTACKS), "expected %d blocked events, got %d" % (len(ATTACKS), len(got)))
    # The server side was reset too: nginx holds no connection waiting for the rest of a request.
    deadline = time.time() + 2
    while True:
        est = sh("ip", "netns", "exec", lab.s, "ss", "-Htn", "state", "established", "( sport = :80 )").stdout.strip()
        if not est or time.time() > deadline:
            break
        time.sleep(0.05)
    check(not est, "server-side connections left open after blocking:\n" + est)
    log = lab.access_log()
    for name, path in ATTACKS.items():
        check(path.split("=", 1)[1][:8] not in log, "the server received the blocked %s request" % name)
    ev = got[0]
    for field in ("source", "destination", "url", "http", "rule", "ips"):
        check(field in ev, "blocked event lacks %s: %s" % (field, ev))
    check(ev["destination"]["port"] == 80 and ev["source"]["ip"] == lab.client_ip, "endpoints: %s" % ev)
    check(any(r.startswith("94") or r.startswith("93") or r.startswith("94") for r in ev["rule"]["id"]), "rule ids %s" % ev["rule"]["id"])
    # Benign traffic is untouched, including a form POST, on fresh connections.
    for _ in range(3):
        check(lab.curl("/index.html?page=2&sort=name")[0] == 200, "benign GET failed in prevent mode")
    check(lab.curl("/", data="name=alice&comment=hello+world")[0] == 200, "benign POST failed in prevent mode")
    # Keep-alive: a benign and then an attack on one connection; the first is answered, the second not.
    resp = lab.raw(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /?id=1%27%20OR%201=1-- HTTP/1.1\r\nHost: x\r\n\r\n")
    check(resp.count(b"HTTP/1.1 200") <= 1, "the pipelined attack was answered: %r" % resp[:300])
    check(lab.agent_alive(), "agent died")


def case_ipv6(lab):
    lab.start_agent("prevent")
    check(lab.curl("/index.html", v6=True)[0] == 200, "benign IPv6 request failed")
    code, _ = lab.curl(ATTACKS["sqli"], v6=True)
    check(code != 200, "IPv6 attack was answered %d in prevent mode" % code)
    got = lab.wait_events(lambda e: e["event"]["action"] == "blocked", 1)
    check(got and ":" in got[0]["source"]["ip"], "no blocked IPv6 event: %s" % got)


def case_detect(lab):
    lab.start_agent("detect")
    for name, path in ATTACKS.items():
        code, _ = lab.curl(path)
        check(code == 200, "%s was not answered in detect mode (%d)" % (name, code))
    got = lab.wait_events(lambda e: e["event"]["action"] == "detected" and e["ips"]["anomaly_score"] >= 5, len(ATTACKS))
    check(len(got) >= len(ATTACKS), "expected %d detected events, got %d" % (len(ATTACKS), len(got)))
    check(not [e for e in lab.events() if e["event"]["action"] == "blocked"], "detect mode blocked something")
    check(lab.curl("/", data="a=1")[0] == 200, "benign POST failed in detect mode")


def recovery_time(lab, want_ok, window):
    start = time.time()
    while time.time() - start < window:
        code, _ = lab.curl("/index.html", timeout=0.5)
        if (code == 200) == want_ok:
            return time.time() - start
    return None


def case_fail_open(lab):
    lab.start_agent("prevent", fail="open")
    check(lab.curl("/")[0] == 200, "benign request failed before the kill")
    # kill -9 during a wrk run: no request may take a second or more (wrk --timeout 1s counts
    # those as timeouts), none may fail.
    wrk = subprocess.Popen(["ip", "netns", "exec", lab.c, "wrk", "-t1", "-c4", "-d3s", "--timeout", "1s",
                            "http://%s/index.html" % lab.server_ip], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    lab.stop_agent(signal.SIGKILL)
    out = wrk.communicate(timeout=30)[0]
    check("requests in" in out, "wrk did not run: " + out)
    check("Socket errors" not in out and "Non-2xx" not in out, "requests failed around the kill:\n" + out)
    t = recovery_time(lab, True, 3)
    check(t is not None and t < 1.0, "fail: open — requests did not succeed within 1 s of kill -9 (%s)" % t)
    for _ in range(5):
        check(lab.curl("/index.html", timeout=1)[0] == 200, "fail: open — a request failed after the kill")


def case_pcap(lab):
    dev = "wv" + lab.c[5:] + "s"
    lab.start_agent("detect", extra="", capture="pcap\n  interface: %s" % dev)
    for name, path in ATTACKS.items():
        code, _ = lab.curl(path)
        check(code == 200, "%s was not answered with passive capture (%d)" % (name, code))
    got = lab.wait_events(lambda e: e["event"]["action"] == "detected" and e["ips"]["anomaly_score"] >= 5, len(ATTACKS))
    check(len(got) >= len(ATTACKS), "expected %d detected events from pcap, got %d" % (len(ATTACKS), len(got)))
    check(lab.curl("/index.html")[0] == 200, "benign request failed")


def case_fail_closed(lab):
    lab.start_agent("prevent", fail="closed")
    check(lab.curl("/")[0] == 200, "benign request failed before the kill")
    lab.stop_agent(signal.SIGKILL)
    for _ in range(3):
        code, _ = lab.curl("/index.html", timeout=1)
        check(code != 200, "fail: closed — a request passed with the agent dead")


def case_robustness(lab):
    lab.start_agent("prevent", extra="  limits: { flow_buffer: 64k, request_body: 64k, max_flows: 16 }\n")
    # Malformed request lines and headers.
    for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
                 b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nabc",
                 b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
                 b"GET / HTTP/1.1\r\nHo st: x\r\n: nothing\r\n\r\n"):
        lab.raw(junk, timeout=1.0)
    # Huge headers (200 KB) and a huge body.
    lab.raw(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n", timeout=2.0)
    lab.raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"b=" + b"c" * 999998, timeout=3.0)
    # Half-open flows: connections that send part of a request and go away.
    script = ("import socket\nss=[]\nfor i in range(50):\n  s=socket.create_connection((%r,80))\n"
              "  s.send(b'GET /?x=1 HTTP/1.1\\r\\nHost: y\\r\\n')\n  ss.append(s)\n") % lab.server_ip
    subprocess.run(["ip", "netns", "exec", lab.c, "/usr/bin/python3", "-c", script], timeout=20)
    # More flows than max_flows: the evictions are reported.
    got = lab.wait_events(lambda e: e["event"]["action"] == "degraded", 1, timeout=5)
    check(got and got[0]["ips"]["flows_evicted"] > 0, "no degraded event after exceeding max_flows")
    # A slow sender: an attack one byte at a time is still blocked.
    resp = lab.raw(b"GET /?q=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2.0, slow=0.01)
    check(b"200 OK" not in resp, "the slowly sent attack was answered")
    check(lab.agent_alive(), "agent died on malformed traffic: " + open(os.path.join(lab.dir, "agent.err")).read()[-2000:])
    check(lab.curl("/index.html")[0] == 200, "benign request failed after the malformed traffic")
    check(lab.curl(ATTACKS["sqli"])[0] != 200, "attack passed after the malformed traffic")


def case_rules_lifecycle(lab):
    def chains():
        r = sh("ip", "netns", "exec", lab.s, "iptables", "-S", check_rc=False)
        return r.stdout
    # A leftover chain from an earlier run (with a junk rule) is replaced at start.
    sh("ip", "netns", "exec", lab.s, "iptables", "-N", "WARD_IPS_IN")
    sh("ip", "netns", "exec", lab.s, "iptables", "-A", "WARD_IPS_IN", "-p", "tcp", "--dport", "9999", "-j", "DROP")
    sh("ip", "netns", "exec", lab.s, "iptables", "-I", "INPUT", "-j", "WARD_IPS_IN")
    lab.start_agent("detect", fail="open")
    s = chains()
    check("--dport 9999" not in s, "the leftover rule survived the start:\n" + s)
    check("--queue-bypass" in s and "--dport 80" in s and "--sport 80" in s, "rules missing:\n" + s)
    check(s.count("-j WARD_IPS_IN") == 1, "duplicate jumps:\n" + s)
    lab.stop_agent(signal.SIGTERM)
    s = chains()
    check("WARD_IPS" not in s, "rules left after a clean exit:\n" + s)
    lab.start_agent("prevent", fail="closed")
    s = chains()
    check("NFQUEUE" in s and "--queue-bypass" not in s, "fail: closed must not bypass:\n" + s)


LEAK_PAGE = ("<html><body>Warning: You have an error in your SQL syntax; check the manual that "
             "corresponds to your MySQL server version for the right syntax to use near 'x' at "
             "line 1</body></html>\n")

CONCURRENT = """import json,socket,sys,threading
host,reqs=sys.argv[1],json.loads(sys.stdin.read())
socks=[socket.create_connection((host,80),timeout=5) for _ in reqs]
out=[None]*len(reqs)
go=threading.Barrier(len(reqs))
def one(i):
  s=socks[i]
  go.wait()
  s.sendall(reqs[i].encode())
  r=b''
  try:
    while b'\\r\\n\\r\\n' not in r:
      b=s.recv(65536)
      if not b: break
      r+=b
  except Exception: pass
  out[i]={"port":s.getsockname()[1],"status":r.split(b'\\r\\n',1)[0].decode(errors='replace')}
ts=[threading.Thread(target=one,args=(i,)) for i in range(len(reqs))]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps(out))
"""


def concurrent(lab, reqs, v6=False):
    """Sends each request on its own connection, all at once; returns [{port, status}]."""
    host = lab.server_ip6 if v6 else lab.server_ip
    r = subprocess.run(["ip", "netns", "exec", lab.c, "/usr/bin/python3", "-c", CONCURRENT, host],
                       input=json.dumps(reqs), capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "concurrent client failed: " + r.stderr[-2000:])
    return json.loads(r.stdout)


def leak_events(lab, n):
    return lab.wait_events(lambda e: e["url"]["original"] == "/leak.html" and
                           any(i.startswith("951") for i in e["rule"]["id"]), n, timeout=10)


def case_threads(lab):
    """Four engine threads (four queues): every one of many concurrent connections is inspected on
    the thread of its flow, attacks are blocked and benign requests answered; responses still run
    through the response phases (a SQL error page triggers the CRS 951 data-leakage rules)."""
    with open(os.path.join(lab.dir, "www", "leak.html"), "w") as f:
        f.write(LEAK_PAGE)
    lab.start_agent("prevent", extra="  threads: 4\n")
    rules = sh("ip", "netns", "exec", lab.s, "iptables", "-S", "WARD_IPS_IN").stdout
    for q in range(4):
        check("--queue-num %d " % q in rules + " ", "no rule for queue %d:\n%s" % (q, rules))
    n = 48
    reqs = []
    for i in range(n):
        if i % 2:
            reqs.append("GET /?id=1%%27%%20OR%%20%%271%%27=%%271%%27%%20--%%20&n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        else:
            reqs.append("GET /index.html?page=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    got = concurrent(lab, reqs)
    for i, g in enumerate(got):
        if i % 2:
            check(" 200 " not in g["status"], "attack %d (port %d) was answered: %s" % (i, g["port"], g["status"]))
        else:
            check(" 200 " in g["status"], "benign request %d (port %d) failed: %r" % (i, g["port"], g["status"]))
    attack_ports = {g["port"] for i, g in enumerate(got) if i % 2}
    blocked = lab.wait_events(lambda e: e["event"]["action"] == "blocked" and e["source"]["port"] in attack_ports,
                              len(attack_ports), timeout=10)
    check({e["source"]["port"] for e in blocked} == attack_ports,
          "blocked events for %d of %d attack connections" % (len({e["source"]["port"] for e in blocked}), len(attack_ports)))
    # Every queue had traffic: the flows were spread over the four threads.
    counters = sh("ip", "netns", "exec", lab.s, "iptables", "-w", "-nvxL", "WARD_IPS_IN").stdout
    per_queue = {}
    for line in counters.splitlines():
        f = line.split()
        if len(f) > 2 and f[2] == "NFQUEUE" and "num" in f:
            q = int(f[f.index("num") + 1])
            per_queue[q] = per_queue.get(q, 0) + int(f[0])
    check(all(per_queue.get(q, 0) > 0 for q in range(4)), "queues without traffic: %s" % per_queue)
    # Segments without payload (the handshake's last ACK at least) were not queued.
    skipped = sum(int(line.split()[0]) for line in counters.splitlines()
                  if len(line.split()) > 2 and line.split()[2] == "RETURN")
    check(skipped >= n, "pure ACKs were queued (%d skipped for %d connections)" % (skipped, n))
    # Responses on many connections at once: each is matched to its request on its thread.
    got = concurrent(lab, ["GET /leak.html HTTP/1.1\r\nHost: x\r\n\r\n"] * 8)
    check(all(" 200 " in g["status"] for g in got), "leak page not served in prevent mode: %s" % got)
    ev = leak_events(lab, 8)
    check({e["source"]["port"] for e in ev} == {g["port"] for g in got},
          "951 events for %d of 8 responses" % len({e["source"]["port"] for e in ev}))
    check(all(e["event"]["action"] == "detected" for e in ev), "a response was reported as blocked")
    # The same over IPv6 (the queue rules read the ports at the IPv6 header's fixed length).
    got6 = concurrent(lab, ["GET /leak.html HTTP/1.1\r\nHost: x\r\n\r\n"] * 8, v6=True)
    check(all(" 200 " in g["status"] for g in got6), "leak page not served over IPv6: %s" % got6)
    ports6 = {g["port"] for g in got6}
    ev6 = lab.wait_events(lambda e: ":" in e["source"]["ip"] and e["source"]["port"] in ports6 and
                          any(i.startswith("951") for i in e["rule"]["id"]), 8, timeout=10)
    check({e["source"]["port"] for e in ev6} == ports6,
          "IPv6: 951 events for %d of 8 responses" % len({e["source"]["port"] for e in ev6}))
    rules6 = sh("ip", "netns", "exec", lab.s, "ip6tables", "-S", "WARD_IPS_OUT").stdout
    check(all("--queue-num %d" % q in rules6 for q in range(4)), "ip6tables queue rules:\n" + rules6)
    # A policy reload (SIGHUP) with the same capture settings reaches every engine thread: a custom
    # rule added by it blocks on new connections whichever queue they land in.
    marker = "GET /?ward_marker=reload%d HTTP/1.1\r\nHost: x\r\n\r\n"
    check(all(" 200 " in g["status"] for g in concurrent(lab, [marker % i for i in range(4)])),
          "the marker was blocked before the reload")
    custom = os.path.join(lab.dir, "marker.conf")
    with open(custom, "w") as f:
        f.write('SecRule ARGS:ward_marker "@beginsWith reload" '
                '"id:1234567,phase:1,deny,status:403,log,msg:\'reload marker\'"\n')
    policy = os.path.join(lab.dir, "policy.yaml")
    with open(policy, "a") as f:
        f.write("  custom_rules: [%s]\n" % custom)
    err = os.path.join(lab.dir, "agent.err")
    loaded = open(err).read().count("rules loaded")
    lab.agent.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while open(err).read().count("rules loaded") <= loaded:
        check(time.time() < deadline and lab.agent_alive(), "the reload did not happen: " + open(err).read()[-1500:])
        time.sleep(0.05)
    time.sleep(0.5)  # each thread takes the new rules between packets (at most every 100 ms when idle)
    got = concurrent(lab, [marker % i for i in range(24)])
    check(all(" 200 " not in g["status"] for g in got), "the reloaded rule did not block everywhere: %s" %
          [g for g in got if " 200 " in g["status"]])
    ports = {g["port"] for g in got}
    ev = lab.wait_events(lambda e: e["source"]["port"] in ports and "1234567" in e["rule"]["id"], len(ports), timeout=10)
    check({e["source"]["port"] for e in ev} == ports, "reload: events for %d of %d" % (len(ev), len(ports)))
    # Detect mode, two threads: the same.
    lab.stop_agent()
    lab.start_agent("detect", extra="  threads: 2\n")
    code, _ = lab.curl("/leak.html")
    check(code == 200, "leak page not served in detect mode (%d)" % code)
    check(leak_events(lab, 1), "no 951 event for the SQL error page in detect mode")
    check(lab.agent_alive(), "agent died")


def curl_answers(lab, urls, v6=False, timeout=5):
    """One curl for `urls` (keep-alive: one connection when it can). Returns (exit code,
    [(status, new connections, body)]) per URL answered."""
    host = "[%s]" % lab.server_ip6 if v6 else lab.server_ip
    args = ["ip", "netns", "exec", lab.c, "curl", "-s", "-g", "--max-time", str(timeout),
            "-w", "\n@@%{http_code} %{num_connects}@@\n"] + ["http://%s%s" % (host, u) for u in urls]
    r = subprocess.run(args, capture_output=True, text=True, errors="replace")
    out, answers = r.stdout, []
    while "@@" in out:
        body, _, rest = out.partition("\n@@")
        meta, _, out = rest.partition("@@\n")
        code, conns = meta.split()
        answers.append((int(code), int(conns), body))
    return r.returncode, answers


BLOCK_BODY = re.compile(r"^Request blocked by Ward \(transaction (\S+)\)\.$")


def answered_event(lab, tid):
    got = lab.wait_events(lambda e: e.get("transaction", {}).get("id") == tid, 1)
    check(got, "no event for transaction %s: %s" % (tid, lab.events()[-3:]))
    e = got[0]
    check(e["event"]["action"] == "blocked", "event action %s" % e["event"]["action"])
    check(e["ips"].get("response") == "answered", "event ips.response %s" % e["ips"].get("response"))
    check(e["http"]["response"]["status_code"] == 403, "event status %s" % e["http"])
    return e


def server_connections_gone(lab):
    """The server side was reset: nginx holds no connection waiting for the rest of a request."""
    deadline = time.time() + 2
    while True:
        est = sh("ip", "netns", "exec", lab.s, "ss", "-Htn", "state", "established", "( sport = :80 )").stdout.strip()
        if not est or time.time() > deadline:
            break
        time.sleep(0.05)
    check(not est, "server-side connections left open after blocking:\n" + est)


def case_answer(lab, engine="libmodsecurity"):
    """A blocked request gets Ward's 403 (the body names the transaction), cleanly: curl reads a
    whole answer (exit 0); nginx never sees the request; the server side is reset."""
    lab.start_agent("prevent", extra="  engine: %s\n" % engine)
    attack = "/?id=1%27%20OR%20%271%27=%271%27%20--%20&marker=answer1"
    rc, answers = curl_answers(lab, [attack])
    check(rc == 0 and len(answers) == 1, "curl exit %d, answers %s" % (rc, answers))
    code, _, body = answers[0]
    check(code == 403, "the attack was answered %d: %r" % (code, body))
    m = BLOCK_BODY.match(body.strip())
    check(m, "the answer's body: %r" % body)
    check("942100" not in body and "SQL" not in body, "rule details in the answer: %r" % body)
    answered_event(lab, m.group(1))
    server_connections_gone(lab)
    # Keep-alive: a benign request, then an attack on the same connection: 200, then 403.
    rc, answers = curl_answers(lab, ["/index.html", attack.replace("answer1", "answer2")])
    check(rc == 0 and len(answers) == 2, "keep-alive: curl exit %d, answers %s" % (rc, answers))
    check(answers[0][0] == 200 and answers[0][2].strip() == "hello", "keep-alive first: %s" % (answers[0],))
    check(answers[1][0] == 403 and answers[1][1] == 0, "keep-alive second (status, new connections): %s" % (answers[1],))
    m = BLOCK_BODY.match(answers[1][2].strip())
    check(m, "keep-alive answer body: %r" % answers[1][2])
    answered_event(lab, m.group(1))
    # IPv6.
    rc, answers = curl_answers(lab, [attack.replace("answer1", "answer3")], v6=True)
    check(rc == 0 and answers and answers[0][0] == 403, "IPv6: curl exit %d, answers %s" % (rc, answers))
    m = BLOCK_BODY.match(answers[0][2].strip())
    check(m, "IPv6 answer body: %r" % answers[0][2])
    check(":" in answered_event(lab, m.group(1))["source"]["ip"], "IPv6 event source")
    server_connections_gone(lab)
    log = lab.access_log()
    for marker in ("answer1", "answer2", "answer3"):
        check(marker not in log, "nginx received the blocked request %s:\n%s" % (marker, log))
    check(lab.curl("/index.html?page=2")[0] == 200, "benign GET failed after the answers")
    # block_status 0: no answer, both sides reset (curl: connection reset, no status).
    lab.stop_agent()
    lab.start_agent("prevent", extra="  engine: %s\n  block_status: 0\n" % engine)
    rc, answers = curl_answers(lab, [attack.replace("answer1", "answer4")])
    check(rc != 0 and (not answers or answers[0][0] == 0), "block_status 0: curl exit %d, %s" % (rc, answers))
    got = lab.wait_events(lambda e: e["event"]["action"] == "blocked" and "answer4" in e["url"]["original"], 1)
    check(got and got[0]["ips"].get("response") == "reset", "block_status 0 event: %s" % got)
    check("answer4" not in lab.access_log(), "nginx received the blocked request answer4")
    check(lab.agent_alive(), "agent died")


def case_persistent(lab):
    """Persistent collections through the real agent, both engines: a custom rule counts each
    client's requests in IP (initcol by address) and denies from the 4th on; the count survives
    from one connection to the next, another client is counted apart."""
    custom = os.path.join(lab.dir, "counter.conf")
    with open(custom, "w") as f:
        # (initcol in its own rule: a rule's setvars run before its initcol, in 3.0.9 and Ward.)
        f.write('SecAction "id:1234600,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR}"\n'
                'SecAction "id:1234602,phase:1,pass,nolog,setvar:ip.hits=+1"\n'
                'SecRule IP:hits "@gt 3" "id:1234601,phase:1,deny,log,msg:\'too many\'"\n')
    for engine in ("libmodsecurity", "ward"):
        lab.stop_agent()
        lab.start_agent("prevent", extra="  engine: %s\n  threads: 1\n  crs: { enabled: false }\n"
                        "  custom_rules: [%s]\n" % (engine, custom))
        codes = [curl_answers(lab, ["/index.html?n=%d" % i])[1] for i in range(5)]
        codes = [a[0][0] if a else 0 for a in codes]
        check(codes == [200, 200, 200, 403, 403], "%s: codes per request %s; events %s" % (engine, codes, [(e["rule"]["id"], e["event"]["action"]) for e in lab.events()]))
        rc, answers = curl_answers(lab, ["/index.html?other=1"], v6=True)
        check(rc == 0 and answers and answers[0][0] == 200, "%s: the other client was not counted apart: %s" % (engine, answers))
        got = lab.wait_events(lambda e: "1234601" in e.get("rule", {}).get("id", []), 2)
        check(len(got) >= 2 and all(e["ips"].get("response") == "answered" for e in got),
              "%s: events %s" % (engine, got))
        # Each start has fresh collections: delete the events of this round for the next.
        open(lab.events_path, "w").close()


def check_blocked_invariant(lab):
    """An event may say `blocked` only when the bytes did not reach the server: no blocked
    request (by client address, port and URI) was served by nginx. (A request cut short by
    Ward's reset is logged by nginx with 400 when its request line had arrived: never served.)"""
    served = set()
    for line in lab.access_log().splitlines():
        f = line.split(" ", 2)
        if len(f) == 3 and f[2].startswith('"'):
            req, _, status = f[2][1:].rpartition('"')
            req = req.split(" ")
            if len(req) >= 2 and status.strip() not in ("400", "408", "499"):
                served.add((f[0], f[1], req[1]))
    for e in lab.events():
        if e["event"]["action"] != "blocked":
            continue
        key = (e["source"]["ip"], str(e["source"]["port"]), e.get("url", {}).get("original", ""))
        check(key not in served, "an event says blocked, but nginx served the request: %s" % (key,))


CASES = {"prevent": case_prevent, "ipv6": case_ipv6, "detect": case_detect, "pcap": case_pcap, "fail_open": case_fail_open,
         "fail_closed": case_fail_closed, "robustness": case_robustness, "rules_lifecycle": case_rules_lifecycle,
         "threads": case_threads, "answer": case_answer,
         "answer_ward": lambda lab: case_answer(lab, "ward"),
         "prevent_ward": lambda lab: case_prevent(lab, "ward"), "persistent": case_persistent}


def run_case(make_lab, cases, after):
    """Runs the case named on the command line (argv: AGENT NAME) in a fresh lab, then `after(lab)`;
    prints PASS/FAIL with the agent's stderr and returns the exit code."""
    agent, name = sys.argv[1], sys.argv[2]
    try:
        with make_lab(agent) as lab:
            try:
                cases[name](lab)
                after(lab)
            except Failure as f:
                print("FAIL %s: %s" % (name, f))
                err = os.path.join(lab.dir, "agent.err")
                print("agent stderr:", open(err).read()[-3000:] if os.path.exists(err) else "")
                return 1
    except Failure as f:
        print("SETUP FAIL %s: %s" % (name, f))
        return 1
    print("PASS", name)
    return 0


def main():
    return run_case(Lab, CASES, check_blocked_invariant)


if __name__ == "__main__":
    sys.exit(main())

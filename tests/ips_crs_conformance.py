#!/usr/bin/python3
"""CRS 3.3 regression tests through Ward as deployed: a real HTTP backend (ips_backend.py), the real
ward-agent with the ips module inline in front of it (NFQUEUE, detect mode, PL4 test setup), and the
oracle's runner (crs_ftw_min.py) sending raw requests over TCP. Compares every test with the reference
results of Debian's nginx + libmodsecurity 3.0.9 + the same CRS.

  ips_crs_conformance.py --agent BUILD/bin/ward-agent [--subset K] [--port P] [--json OUT]
                         [--engine libmodsecurity|ward]

--subset K runs every K-th test file (CTest runs the whole suite: about 25 s wall).
Exit 0 when every test the reference passes also passes here, or the difference is listed in
ips_crs_known_differences.txt with its explanation (docs/ips.md); 1 otherwise; 2 on setup errors.
Cleans up (agent stopped, which removes its iptables rules; backend killed) even on failure."""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The oracles (tests, reference results, runner); WARD_ORACLES overrides their root.
# Default: the copy kept in the tree (testdata/oracles, with each oracle's PROVENANCE.md).
def _default_oracles():
    return os.path.normpath(os.path.join(HERE, "..", "testdata", "oracles"))


ORACLES = os.environ.get("WARD_ORACLES") or _default_oracles()
ORACLE = ORACLES + "/crs-3.3-tests"
RUNNER = ORACLES + "/tools/crs_ftw_min.py"
REFERENCE = ORACLE + "/reference-results/debian12-nginx1.22-libmodsecurity3.0.9-crs3.3.4deb12u3.json"


# The reference's nginx configuration without the ModSecurity module: Ward, not nginx, is the WAF.
NGINX_CONF = """worker_processes 1;
daemon off;
pid @DIR@/nginx.pid;
error_log @DIR@/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path @DIR@/tmp/cb; proxy_temp_path @DIR@/tmp/px; fastcgi_temp_path @DIR@/tmp/fc;
  uwsgi_temp_path @DIR@/tmp/uw; scgi_temp_path @DIR@/tmp/sc;
  server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    underscores_in_headers on;
    ignore_invalid_headers off;
    root @DIR@/www;
    location / { try_files $uri /index.html; }
  }
}
"""


def test_files():
    overlay = {os.path.basename(p): p for p in glob.glob(ORACLE + "/debian-deb12u3-overlay/*.yaml")}
    files = []
    for p in sorted(glob.glob(ORACLE + "/v3.3.4/**/*.yaml", recursive=True)):
        if os.path.basename(p) not in overlay:
            files.append(p)
    files += sorted(overlay.values())
    return sorted(files, key=os.path.basename)


def known_differences():
    out = {}
    with open(os.path.join(HERE, "ips_crs_known_differences.txt")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            tid, _, why = line.partition(" ")
            out[tid] = why.strip()
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_marker(port, log, token, timeout):
    deadline = time.time() + timeout
    req = ("GET / HTTP/1.1\r\nHost: localhost\r\nX-CRS-Test: %s\r\nConnection: close\r\n\r\n" % token).encode()
    while time.time() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(req)
            s.recv(100)
            s.close()
        except OSError:
            pass
        if os.path.exists(log) and token in open(log, errors="replace").read():
            return True
        time.sleep(0.2)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", required=True)
    ap.add_argument("--subset", type=int, default=1)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--queue", type=int, default=31)
    ap.add_argument("--capture", default="nfqueue", choices=["nfqueue", "pcap"])
    ap.add_argument("--backend", default="nginx", choices=["nginx", "python"],
                    help="nginx: the reference's nginx without ModSecurity (same status codes for broken HTTP)")
    ap.add_argument("--json")
    ap.add_argument("--engine", default="libmodsecurity", choices=["libmodsecurity", "ward"],
                    help="ips.engine of the policy")
    a = ap.parse_args()
    if not os.path.isfile(RUNNER) or not os.path.isdir(ORACLE):
        print("setup: the CRS oracles are not at %s (set WARD_ORACLES)" % ORACLES)
        return 2
    files = test_files()[:: a.subset]
    port = a.port or free_port()
    passed = False
    tmp = tempfile.mkdtemp(prefix="ward-ips-crs-")
    os.chmod(tmp, 0o755)  # nginx workers run as nobody
    log = os.path.join(tmp, "modsec.log")
    policy = os.path.join(tmp, "policy.yaml")
    cap = ("capture: nfqueue\n  queue: %d" % a.queue) if a.capture == "nfqueue" else "capture: pcap\n  interface: lo"
    with open(policy, "w") as f:
        f.write("""agent:
  outputs: { stdout: false, file: false }
ips:
  engine: %s
  mode: detect
  %s
  ports: [%d]
  crs: { paranoia_level: 4, setup_files: [%s] }
  log_file: %s
  limits: { request_body: 13M }
""" % (a.engine, cap, port, os.path.join(HERE, "ips_crs_setup.conf"), log))
    procs = []
    try:
        if a.backend == "nginx":
            for d in ("logs", "www", "tmp"):
                os.makedirs(os.path.join(tmp, d), exist_ok=True)
            with open(os.path.join(tmp, "www", "index.html"), "w") as f:
                f.write("ok\n")
            with open(os.path.join(tmp, "nginx.conf"), "w") as f:
                f.write(NGINX_CONF.replace("@DIR@", tmp).replace("@PORT@", str(port)))
            backend = subprocess.Popen(["nginx", "-p", tmp, "-c", os.path.join(tmp, "nginx.conf")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            backend = subprocess.Popen([sys.executable, os.path.join(HERE, "ips_backend.py"), str(port)],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            backend.stdout.readline()
        procs.append(backend)
        agent = subprocess.Popen([a.agent, "run", "--config", policy, "--state-dir", os.path.join(tmp, "state"),
                                  "--log-level", "warn"], stderr=open(os.path.join(tmp, "agent.err"), "w"))
        procs.append(agent)
        if not wait_marker(port, log, "ward-ready-probe", 30):
            print("setup: the agent never logged the readiness marker; agent stderr:")
            print(open(os.path.join(tmp, "agent.err")).read())
            return 2
        out_json = a.json or os.path.join(tmp, "results.json")
        t0 = time.time()
        r = subprocess.run([sys.executable, RUNNER, "--tests", *files, "--log", log, "--host", "127.0.0.1",
                            "--port", str(port), "--json", out_json], capture_output=True, text=True)
        elapsed = time.time() - t0
        if agent.poll() is not None:
            print("the agent died during the run (exit %s)" % agent.returncode)
            return 1
        summary = [l for l in r.stdout.splitlines() if re.search(r"\d+ passed", l)]
        ours = json.load(open(out_json))
        ref = json.load(open(REFERENCE))
        known = known_differences()
        regressions, explained, better = [], [], []
        for tid, res in sorted(ours.items()):
            rp = ref.get(tid, {}).get("pass")
            if rp is None:
                continue
            if rp and not res["pass"]:
                (explained if tid in known else regressions).append((tid, res.get("why", "")))
            elif not rp and res["pass"]:
                better.append(tid)
        ref_sel = {t: v for t, v in ref.items() if t in ours}
        print("files %d, tests %d, %.1f s" % (len(files), len(ours), elapsed))
        print("ward:      %s" % (summary[-1] if summary else "?"))
        print("reference: %d passed, %d failed (same tests)" % (
            sum(1 for v in ref_sel.values() if v["pass"]), sum(1 for v in ref_sel.values() if not v["pass"])))
        print("ward passes %d test(s) the reference fails: %s" % (len(better), " ".join(better)))
        for tid, why in explained:
            print("EXPLAINED %s: %s (%s)" % (tid, why, known[tid]))
        for tid, why in regressions:
            print("REGRESSION %s: %s" % (tid, why))
        passed = not regressions
        return 0 if passed else 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        # The agent removes its rules on exit; make sure, even if it was killed.
        for tool in ("iptables", "ip6tables"):
            for chain, parent in (("WARD_IPS_IN", "INPUT"), ("WARD_IPS_OUT", "OUTPUT")):
                while subprocess.run([tool, "-w", "-D", parent, "-j", chain], capture_output=True).returncode == 0:
                    pass
                subprocess.run([tool, "-w", "-F", chain], capture_output=True)
                subprocess.run([tool, "-w", "-X", chain], capture_output=True)
        # The directory holds the logs a failure is read from: kept only when the run failed.
        if passed:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

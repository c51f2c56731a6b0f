#!/usr/bin/python3
"""Evasion suite for the inline IPS (prevent mode): raw TCP and HTTP tricks that make Ward inspect
other bytes than the server reads. Client ns --veth-- server ns with the real ward-agent
(NFQUEUE) in front of nginx (port 80, proxying to a byte-logging backend on loopback) and of the
byte-logging backend itself (port 8081, a lenient server that frames requests its own way).

Each case sends an attack carrying the marker `wardevil` (a custom rule denies it; the CRS runs
too) hidden by one trick, and checks that the marker never reached a backend's log nor nginx's
access log, and that Ward reported what it did. Every case also checks the invariant: an event
says `blocked` only when the bytes did not reach the server.
Usage: ips_evasion_test.py AGENT CASE; cases: see CASES."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ips_netns_test import Lab, check, run_case, sh  # noqa: E402

MARKER = "wardevil"
DIRECT = 8081  # the backend, straight on the server's address (inspected)
NGINX_PROXY_CONF = """worker_processes 1;
daemon off;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;
events { worker_connections 512; }
http {
  access_log @DIR@/access.log;
  client_body_temp_path @DIR@/cb; proxy_temp_path @DIR@/px; fastcgi_temp_path @DIR@/fc;
  uwsgi_temp_path @DIR@/uw; scgi_temp_path @DIR@/sc;
  server {
    listen 80;
    location / { proxy_pass http://127.0.0.1:9000; }
  }
}
"""
RULES = ('SecRule REQUEST_URI|ARGS "@contains %s" "id:1234001,phase:1,deny,status:403,log,msg:\'evasion marker\'"\n'
         'SecRule REQUEST_BODY "@contains %s" "id:1234002,phase:2,deny,status:403,log,msg:\'evasion marker\'"\n'
         % (MARKER, MARKER))


class EvasionLab(Lab):
    nginx_conf = NGINX_PROXY_CONF

    def before_nginx(self):
        self.proxied_log = os.path.join(self.dir, "backend-proxied.log")
        self.direct_log = os.path.join(self.dir, "backend-direct.log")
        for port, addr, log in ((9000, "127.0.0.1", self.proxied_log), (DIRECT, self.server_ip, self.direct_log)):
            p = subprocess.Popen(["ip", "netns", "exec", self.s, "/usr/bin/python3", os.path.join(HERE, "ips_backend.py"),
                                  str(port), addr, log], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.procs.append(p)
            check(p.stdout.readline().strip() == b"listening", "backend on %d did not start" % port)

    def start(self):
        rules = os.path.join(self.dir, "marker.conf")
        with open(rules, "w") as f:
            f.write(RULES)
        self.start_agent("prevent", extra="  custom_rules: [%s]\n" % rules, ports="[80, %d]" % DIRECT)

    def reached_server(self):
        """Everything the servers received: both backends' byte logs and nginx's access log."""
        out = self.access_log()
        for p in (self.proxied_log, self.direct_log):
            if os.path.exists(p):
                out += open(p, "rb").read().decode("latin-1")
        return out

    def raw_socket(self, port, steps, timeout=3.0):
        """Runs `steps` (python statements using socket `s`) in the client namespace; returns
        (client port, answer bytes)."""
        script = ("import socket,sys,json\n"
                  "s=socket.create_connection((%r,%d),timeout=%f)\n"
                  "s.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\n"
                  "try:\n"
                  "%s\n"
                  "except OSError: pass\n"
                  "r=b''\n"
                  "try:\n"
                  "  while True:\n"
                  "    b=s.recv(65536)\n"
                  "    if not b: break\n"
                  "    r+=b\n"
                  "except Exception: pass\n"
                  "print(json.dumps({'sport':s.getsockname()[1],'answer':r.decode('latin-1')}))\n") % (
                      self.server_ip, port, timeout, "\n".join("  " + l for l in steps.splitlines()))
        r = subprocess.run(["ip", "netns", "exec", self.c, "/usr/bin/python3", "-c", script],
                           capture_output=True, text=True, timeout=timeout * 4 + 10)
        check(r.returncode == 0, "client failed: " + r.stderr[-1500:])
        out = json.loads(r.stdout)
        return out["sport"], out["answer"]

    def send_bytes(self, port, payload):
        return self.raw_socket(port, "s.sendall(%r)" % payload)

    def ward_events(self, sport):
        return [e for e in self.events() if e.get("source", {}).get("port") == sport]


def expect_stopped(lab, sport, name, actions=("blocked", "refused", "dropped")):
    """The attack on connection `sport` did not reach the server, and Ward said so."""
    got = lab.wait_events(lambda e: e.get("source", {}).get("port") == sport and e["event"]["action"] in actions, 1)
    reached = MARKER in lab.reached_server()
    check(not reached, "%s: the attack reached the server (events: %s)" %
          (name, [(e["event"]["action"], e.get("ips", {}).get("anomaly")) for e in lab.ward_events(sport)]))
    check(got, "%s: no %s event for the connection (events: %s)" % (name, "/".join(actions), lab.ward_events(sport)))
    return got


def check_blocked_invariant(lab):
    """An event says `blocked` only when the bytes did not reach the server."""
    blocked = [e for e in lab.events() if e["event"]["action"] == "blocked"]
    reached = lab.reached_server()
    for e in blocked:
        uri = e.get("url", {}).get("original", "")
        check(not (MARKER in uri and MARKER in reached),
              "an event says blocked, but its request reached the server: %s" % uri)


def prepare_raw(lab):
    # The client kernel knows nothing of the hand-made connection: it must not reset it.
    sh("ip", "netns", "exec", lab.c, "iptables", "-A", "OUTPUT", "-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "DROP")


def raw_case(lab, mode):
    prepare_raw(lab)
    decoy = "GET /?q=harmless HTTP/1.1\r\nHost: x\r\n\r\n"
    attack = "GET /?q=%s HTTP/1.1\r\nHost: x\r\n\r\n" % MARKER.ljust(len("harmless"), "x")
    check(len(decoy) == len(attack), "test bug: lengths")
    r = subprocess.run(["ip", "netns", "exec", lab.c, "/usr/bin/python3", os.path.join(HERE, "ips_raw_client.py"),
                        lab.server_ip, "80", mode, decoy, attack], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "raw client failed: " + r.stderr[-2000:])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def case_urgent(lab):
    """TCP urgent data: the byte before the urgent pointer is not in the server's stream."""
    lab.start()
    # Ward would see "wardeXvil"; nginx reads "wardevil".
    sport, answer = lab.raw_socket(80, "s.send(b'GET /?q=wardeX', socket.MSG_OOB)\n"
                                       "s.sendall(b'vil HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')")
    got = expect_stopped(lab, sport, "urgent data", actions=("refused", "blocked"))
    check(any(e.get("ips", {}).get("anomaly") == "tcp_urgent" for e in got) or
          any(e["event"]["action"] == "blocked" for e in got), "urgent: event %s" % got)
    check(" 200 " not in answer, "urgent: answered %r" % answer[:100])
    # An urgent pointer alone (no data) is queued too: it is not a pure ACK.
    rules = sh("ip", "netns", "exec", lab.s, "iptables", "-S", "WARD_IPS_IN").stdout
    check("FIN,SYN,RST,URG NONE" in rules, "segments with URG may skip the queue:\n" + rules)
    # Benign traffic still passes.
    check(lab.curl("/index.html")[0] == 200, "benign request failed")


def case_checksum(lab):
    lab.start()
    out = raw_case(lab, "checksum")
    expect_stopped(lab, out["sport"], "bad-checksum decoy")


def case_ack_unsent(lab):
    lab.start()
    out = raw_case(lab, "ack_unsent")
    expect_stopped(lab, out["sport"], "decoy acknowledging unsent data")


def case_retransmission(lab):
    """A decoy the kernel drops for a reason Ward does not model (PAWS): the retransmission's
    bytes differ from the inspected ones, so Ward drops it and reports it."""
    lab.start()
    out = raw_case(lab, "paws")
    got = expect_stopped(lab, out["sport"], "PAWS decoy")
    check(any(e.get("ips", {}).get("anomaly") == "retransmission_differs" for e in got) or
          any(e["event"]["action"] == "blocked" for e in got), "retransmission: events %s" % got)


def case_http09(lab):
    """An HTTP/0.9 request line (no version, no headers) is a whole request to nginx."""
    lab.start()
    sport, answer = lab.raw_socket(80, "s.sendall(b'GET /?q=%s\\r\\n')" % MARKER)
    got = expect_stopped(lab, sport, "HTTP/0.9 request", actions=("blocked",))
    check("1234001" in got[0]["rule"]["id"], "http09: rule ids %s" % got[0]["rule"]["id"])
    check(got[0]["http"]["version"] == "0.9", "http09: version %s" % got[0]["http"])
    # Any HTTP/0.9 request is refused by the CRS at PL1 (920430: protocol version not allowed),
    # as in nginx + ModSecurity; Ward's block is real: the request never reaches nginx.
    sport, answer = lab.raw_socket(80, "s.sendall(b'GET /zero-nine.html\\r\\n')")
    got = expect_stopped(lab, sport, "HTTP/0.9 request", actions=("blocked",))
    check("920430" in got[0]["rule"]["id"], "http09: rule ids %s" % got[0]["rule"]["id"])
    check("zero-nine" not in lab.reached_server(), "a blocked HTTP/0.9 request reached nginx")
    # The answer is Ward's (HTTP/0.9: the body alone, as nginx would answer), not nginx's.
    check(answer.startswith("Request blocked by Ward (transaction "),
          "blocked HTTP/0.9 request answered: %r" % answer[:200])


SMUGGLING = {
    "cl_te": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_chunked_identity": "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "te_identity": "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n",
    "duplicate_cl": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n",
    "obs_fold_te": "POST / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
    "space_before_colon": "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n",
    "te_http10": "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bare_lf_chunk": "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
}


def case_framing(lab):
    """Request-smuggling shapes: a request pipelined after a POST whose framing servers disagree
    on (or that Ward cannot parse) must not reach a server uninspected. Sent to the lenient
    backend directly and to nginx."""
    lab.start()
    smuggled = "GET /?q=%s HTTP/1.1\r\nHost: x\r\n\r\n" % MARKER
    failures = []
    for name, head in SMUGGLING.items():
        for port in (DIRECT, 80):
            sport, _ = lab.send_bytes(port, (head + smuggled).encode())
            got = lab.wait_events(lambda e: e.get("source", {}).get("port") == sport and
                                  e["event"]["action"] in ("refused", "blocked"), 1)
            reached = lab.reached_server()
            if MARKER in reached:
                failures.append("%s (port %d): the smuggled request reached the server; events %s" %
                                (name, port, [(e["event"]["action"], e.get("ips", {}).get("reason"))
                                              for e in lab.ward_events(sport)]))
                # Start the next shape from clean logs.
                for p in (lab.proxied_log, lab.direct_log, os.path.join(lab.dir, "access.log")):
                    if os.path.exists(p):
                        open(p, "w").close()
                continue
            if not got:
                failures.append("%s (port %d): no refused/blocked event" % (name, port))
    # Not framing, the same class: an Upgrade the server ignores (nginx answers it and reads on),
    # the next request sent in two segments.
    upgrade = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    for port in (DIRECT, 80):
        sport, _ = lab.raw_socket(port, "s.sendall(%r)\ns.sendall(%r)" % (
            (upgrade + "GET /?q=").encode(), ("%s HTTP/1.1\r\nHost: x\r\n\r\n" % MARKER).encode()))
        got = lab.wait_events(lambda e: e.get("source", {}).get("port") == sport and
                              e["event"]["action"] == "blocked", 1)
        if MARKER in lab.reached_server():
            failures.append("upgrade_ignored (port %d): the request after the upgrade reached the server" % port)
        elif not got:
            failures.append("upgrade_ignored (port %d): no blocked event" % port)
    check(not failures, "\n  ".join([""] + failures))
    # Clean framing still works, keep-alive and pipelining included.
    form = b"Content-Type: application/x-www-form-urlencoded\r\n"
    sport, answer = lab.send_bytes(80, b"POST / HTTP/1.1\r\nHost: x\r\n" + form + b"Content-Length: 3\r\n\r\na=1"
                                       b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(answer.count("200 OK") == 2, "benign pipelined requests: %r" % answer[:300])
    check(not lab.ward_events(sport), "benign requests reported: %s" % lab.ward_events(sport))
    chunked = (b"POST / HTTP/1.1\r\nHost: x\r\n" + form +
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\na=1\r\n0\r\n\r\n")
    sport, answer = lab.send_bytes(80, chunked)
    check("200 OK" in answer, "benign chunked request: %r" % answer[:300])
    check(not lab.ward_events(sport), "benign chunked request reported: %s" % lab.ward_events(sport))


CASES = {"urgent": case_urgent, "checksum": case_checksum, "ack_unsent": case_ack_unsent,
         "retransmission": case_retransmission, "http09": case_http09, "framing": case_framing}


def after_case(lab):
    check_blocked_invariant(lab)
    check(lab.agent_alive(), "agent died")


def main():
    return run_case(EvasionLab, CASES, after_case)


if __name__ == "__main__":
    sys.exit(main())

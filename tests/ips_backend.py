#!/usr/bin/python3
"""A tiny HTTP backend for the ips tests: answers 200 "ok" to any request it can frame (any method,
any path), like httpbin's /anything for the CRS regression tests. Usage: ips_backend.py PORT [ADDR [LOG]]
With LOG, every byte received is appended to that file (flushed before answering), so that a test
can tell exactly which bytes reached the server."""
import socket
import socketserver
import sys


LOG = None


def log_bytes(data):
    if LOG is not None and data:
        with open(LOG, "ab") as f:
            f.write(data)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(2.0)
        data = b""
        try:
            while b"\r\n\r\n" not in data and b"\n\n" not in data and len(data) < (1 << 20):
                chunk = s.recv(65536)
                if not chunk:
                    break
                log_bytes(chunk)
                data += chunk
            if not data:
                return
            end = data.find(b"\r\n\r\n")
            sep = 4
            if end < 0:
                end, sep = data.find(b"\n\n"), 2
            head = data[:end].decode("latin-1") if end >= 0 else ""
            body = data[end + sep:] if end >= 0 else b""
            length, chunked = 0, False
            for line in head.split("\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    try:
                        length = int(v.strip())
                    except ValueError:
                        length = 0
                if k.strip().lower() == "transfer-encoding" and "chunked" in v.lower():
                    chunked = True
            s.settimeout(0.5)
            try:
                while (chunked and b"0\r\n\r\n" not in body) or (not chunked and len(body) < min(length, 1 << 24)):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    log_bytes(chunk)
                    body += chunk
            except socket.timeout:
                pass
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                      b"Connection: close\r\n\r\nok\n")
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    port = int(sys.argv[1])
    addr = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    LOG = sys.argv[3] if len(sys.argv) > 3 else None
    with Server((addr, port), Handler) as srv:
        print("listening", flush=True)
        srv.serve_forever()

#!/usr/bin/python3
"""A real SMTP server for the alert e-mail tests (docs/alerts.md): aiosmtpd (Debian's
python3-aiosmtpd) on 127.0.0.1, an ephemeral port, STARTTLS required, AUTH PLAIN/LOGIN required
(user `ward`, password given on the command line).

Usage: smtp_server.py CERT KEY OUTDIR PASSWORD
Prints the port on the first line of stdout, then stores every accepted message as
OUTDIR/<n>.json ({"mail_from", "rcpt_tos", "data"}); runs until stdin is closed.
"""
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    cert, key, outdir, password = sys.argv[1:5]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    count = [0]

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            count[0] += 1
            path = os.path.join(outdir, "%d.json" % count[0])
            with open(path + ".tmp", "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                           "data": envelope.original_content.decode("utf-8", "replace"),
                           "tls": session.ssl is not None}, f)
            os.rename(path + ".tmp", path)
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"ward"
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return SMTP(Handler(), hostname="localhost", tls_context=ctx, require_starttls=True,
                    authenticator=authenticator, auth_required=True, auth_require_tls=True)

    server = loop.run_until_complete(loop.create_server(factory, host="127.0.0.1", port=0))
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = loop.create_future()
    loop.add_reader(sys.stdin.fileno(),
                    lambda: (sys.stdin.read(1) or None) or (stop.done() or stop.set_result(None)))
    loop.run_until_complete(stop)
    server.close()


if __name__ == "__main__":
    main()

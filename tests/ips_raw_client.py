#!/usr/bin/python3
"""Raw-packet TCP client for the ips evasion tests (scapy, Debian's python3-scapy). Run inside the
client namespace, whose kernel must not answer the server's SYN-ACK with a RST (the caller drops
outgoing RSTs there). Usage: ips_raw_client.py SERVER PORT MODE DECOY ATTACK

It opens a connection by hand, sends DECOY in a segment the server's kernel discards, then ATTACK
(same length, same sequence numbers) in a valid segment, and waits up to 3 s for the server's
answer or a reset. MODE says why the kernel discards the decoy:
  checksum    a wrong TCP checksum
  ack_unsent  an ACK of data the server never sent (RFC 793: discarded)
  paws        a TCP timestamp older than the last one seen (PAWS, RFC 7323)
Prints one JSON line: {"sport": client port, "answer": server bytes, "reset": bool}."""
import json
import random
import sys

from scapy.all import IP, TCP, Raw, AsyncSniffer, conf, send, sr1

conf.verb = 0


def main():
    server, port, mode, decoy, attack = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    decoy, attack = decoy.encode(), attack.encode()
    if len(decoy) != len(attack):
        raise SystemExit("decoy and attack must have the same length")
    sport = random.randint(20000, 60000)
    isn = random.randint(0, 2**31)
    ts = mode == "paws"
    opts = [("MSS", 1400)] + ([("Timestamp", (100000, 0))] if ts else [])
    def answered(p):
        return TCP in p and (bool(p[TCP].flags & 0x04) or (Raw in p and len(p[Raw].load) > 0))

    sniffer = AsyncSniffer(filter="tcp and src host %s and src port %d and dst port %d" % (server, port, sport),
                           stop_filter=answered, timeout=3 + 3)
    sniffer.start()
    synack = sr1(IP(dst=server) / TCP(sport=sport, dport=port, flags="S", seq=isn, options=opts), timeout=3)
    if synack is None or TCP not in synack:
        raise SystemExit("no SYN-ACK")
    sisn = synack[TCP].seq
    tsecr = 0
    for name, val in synack[TCP].options:
        if name == "Timestamp":
            tsecr = val[0]

    def seg(seq, payload, flags="PA", ack=None, tsval=100001):
        o = [("Timestamp", (tsval, tsecr))] if ts else []
        p = IP(dst=server) / TCP(sport=sport, dport=port, flags=flags, seq=seq,
                                 ack=sisn + 1 if ack is None else ack, options=o)
        if payload:
            p = p / Raw(payload)
        return p

    send(seg(isn + 1, b"", flags="A"))
    if mode == "checksum":
        bad = IP(bytes(seg(isn + 1, decoy)))
        bad[TCP].chksum ^= 0x5a5a
        send(bad)
    elif mode == "ack_unsent":
        send(seg(isn + 1, decoy, ack=sisn + 1 + 100000))
    elif mode == "paws":
        send(seg(isn + 1, decoy, tsval=5))  # older than the 100000 of the handshake
    else:
        raise SystemExit("unknown mode " + mode)
    send(seg(isn + 1, attack, tsval=100002))
    # The answer: the server's data, or a reset (Ward's, in prevent mode), within 3 s.
    sniffer.join()
    answer, reset = b"", False
    for p in sniffer.results or []:
        if TCP not in p:
            continue
        if p[TCP].flags & 0x04:
            reset = True
        if Raw in p:
            answer += bytes(p[Raw].load)
    print(json.dumps({"sport": sport, "answer": answer.decode("latin-1"), "reset": reset}))


if __name__ == "__main__":
    main()

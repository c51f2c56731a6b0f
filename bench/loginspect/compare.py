#!/usr/bin/python3
"""Compares the alerts of ossec-logtest -a with loginspect_bench --alerts (bench/loginspect/README.md).

usage: compare.py OSSEC_ALERTS WARD_ALERTS [--examples N] [--names A,B]

OSSEC_ALERTS is ossec-logtest -a's output or ossec-analysisd's alerts.log (alert blocks: "** Alert ...", "Rule: N (level L) -> ...",
optional field lines, the log line, then for a frequency rule the earlier events it counted); WARD_ALERTS has one "rule_id<TAB>line" per alert (or is a second OSSEC alert file, recognised by
its first line, to compare ossec-logtest with ossec-analysisd).
Prints the totals, and each rule whose count differs with a few lines only one side alerted on
(compared as multisets of (rule, line)).
"""
import argparse
import collections
import re

RULE = re.compile(r"^Rule: (\d+) \(level (\d+)\)")
# The field lines analysisd writes between the rule line and the log line (alerts/log.c, OS_Log).
FIELDS = ("Src IP: ", "Src Location: ", "Src Port: ", "Dst IP: ", "Dst Location: ", "Dst Port: ", "User: ")


def ossec_alerts(path):
    out = []
    with open(path, errors="surrogateescape") as f:
        rule = None
        log = None
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("** Alert "):
                if rule is not None:
                    out.append((rule, log))
                rule, log = None, None
                continue
            m = RULE.match(line)
            if m:
                rule = int(m.group(1))
                continue
            # The alert's own line is the first after the rule and its field lines; a frequency
            # rule's alert then lists the earlier events that made the count (last_events), which
            # are not the alerted line.
            if rule is not None and log is None and line and not line.startswith(FIELDS):
                log = line
        if rule is not None:
            out.append((rule, log))
    return out


def ward_alerts(path):
    with open(path, errors="surrogateescape") as f:
        if f.readline().startswith("** Alert "):
            return ossec_alerts(path)
    out = []
    with open(path, errors="surrogateescape") as f:
        for line in f:
            rid, _, text = line.rstrip("\n").partition("\t")
            out.append((int(rid), text))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ossec")
    ap.add_argument("ward")
    ap.add_argument("--examples", type=int, default=2)
    ap.add_argument("--names", default="ossec,ward")
    a = ap.parse_args()
    na, nb = a.names.split(",")
    o = collections.Counter(ossec_alerts(a.ossec))
    w = collections.Counter(ward_alerts(a.ward))
    print("alerts: %s %d, %s %d" % (na, sum(o.values()), nb, sum(w.values())))
    only_o = o - w
    only_w = w - o
    same = sum((o & w).values())
    print("same (rule, line) alerts: %d; only %s: %d; only %s: %d"
          % (same, na, sum(only_o.values()), nb, sum(only_w.values())))
    by_rule = collections.defaultdict(lambda: [0, 0, [], []])
    for (rid, text), n in only_o.items():
        e = by_rule[rid]
        e[0] += n
        if len(e[2]) < a.examples:
            e[2].append(text)
    for (rid, text), n in only_w.items():
        e = by_rule[rid]
        e[1] += n
        if len(e[3]) < a.examples:
            e[3].append(text)
    for rid in sorted(by_rule, key=lambda r: -(by_rule[r][0] + by_rule[r][1])):
        e = by_rule[rid]
        print("rule %d: only %s %d, only %s %d" % (rid, na, e[0], nb, e[1]))
        for t in e[2]:
            print("    %s: %s" % (na, t[:200]))
        for t in e[3]:
            print("    %s: %s" % (nb, t[:200]))


if __name__ == "__main__":
    main()

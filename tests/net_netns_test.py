#!/usr/bin/python3
"""Ward's iptables chains (agent/net, docs/net.md) around the real ward-agent, in the network
namespaces of tests/ips_netns_test.py (client ns --veth-- server ns with nginx and the agent):
what a `kill -9` leaves, what the next start makes of it, what a clean stop leaves.
Run one case: net_netns_test.py AGENT CASE. Cases: crash_restart_open, crash_restart_closed,
crash_then_no_ips, clean_stop. Everything made here is removed at the end, also on failure (the
chains live in the server namespace and vanish with it)."""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ips_netns_test import ATTACKS, Lab, check, run_case, sh  # noqa: E402

TOOLS = ("iptables", "ip6tables")
THREADS = 2  # engine threads, each with its queue rule per direction


def ward_lines(lab, tool):
    """Ward's part of the filter table, in iptables-save order: the WARD_* chains and every rule
    that is in one, jumps to one or carries Ward's comment."""
    out = sh("ip", "netns", "exec", lab.s, tool + "-save", "-t", "filter").stdout
    return [line for line in out.splitlines()
            if not line.startswith("#") and ("WARD_" in line or "comment ward" in line)]


def rules(lab, tool, chain):
    out = sh("ip", "netns", "exec", lab.s, tool, "-w", "-S", chain).stdout
    return [line for line in out.splitlines() if line.startswith("-A ")]


def check_one_set(lab, what):
    """Exactly one set of Ward's chains, in the documented layout: INPUT and OUTPUT start with the
    one jump into WARD_INPUT / WARD_OUTPUT, which jump to the IPS's chains, which queue."""
    for tool in TOOLS:
        for hook, top, chain in (("INPUT", "WARD_INPUT", "WARD_IPS_IN"), ("OUTPUT", "WARD_OUTPUT", "WARD_IPS_OUT")):
            builtin = rules(lab, tool, hook)
            check(builtin and builtin[0] == "-A %s -m comment --comment ward -j %s" % (hook, top),
                  "%s %s: %s: Ward's jump is not first:\n%s" % (what, tool, hook, "\n".join(builtin)))
            check(sum(1 for r in builtin if "WARD_" in r) == 1,
                  "%s %s: %s: more than one jump into Ward's chains:\n%s" % (what, tool, hook, "\n".join(builtin)))
            check(rules(lab, tool, top) == ["-A %s -j %s" % (top, chain)],
                  "%s %s: %s: %s" % (what, tool, top, rules(lab, tool, top)))
            queued = [r for r in rules(lab, tool, chain) if "NFQUEUE" in r]
            check(len(queued) == THREADS, "%s %s: %s queue rules: %s" % (what, tool, chain, queued))
        chains = [line for line in ward_lines(lab, tool) if line.startswith(":")]
        check(sorted(chains) == [":WARD_INPUT - [0:0]", ":WARD_IPS_IN - [0:0]", ":WARD_IPS_OUT - [0:0]",
                                 ":WARD_OUTPUT - [0:0]"], "%s %s: chains %s" % (what, tool, chains))


def check_none(lab, what):
    for tool in TOOLS:
        left = ward_lines(lab, tool)
        check(not left, "%s: %s-save still shows Ward's rules:\n%s" % (what, tool, "\n".join(left)))


def check_governed(lab, what):
    """The IPS inspects: benign requests are answered, attacks are not (prevent)."""
    check(lab.curl("/index.html")[0] == 200, what + ": a benign request failed")
    check(lab.curl("/index.html", v6=True)[0] == 200, what + ": a benign IPv6 request failed")
    check(lab.curl(ATTACKS["sqli"])[0] != 200, what + ": an attack was answered")


def crash_restart(lab, fail):
    lab.start_agent("prevent", fail=fail, extra="  threads: %d\n" % THREADS)
    check_one_set(lab, "first start")
    before = {tool: ward_lines(lab, tool) for tool in TOOLS}
    check_governed(lab, "first start")
    lab.stop_agent(signal.SIGKILL)
    # What the dead agent left is still in force, as `fail` says.
    for tool in TOOLS:
        check(ward_lines(lab, tool) == before[tool], "%s: the chains changed with the kill" % tool)
    if fail == "open":
        # --queue-bypass: with no one listening, packets pass (uninspected).
        check(lab.curl("/index.html", timeout=1)[0] == 200, "fail: open — a request failed with the agent dead")
        check(lab.curl(ATTACKS["sqli"], timeout=1)[0] == 200, "fail: open — traffic is not bypassed")
    else:
        check(lab.curl("/index.html", timeout=1)[0] != 200, "fail: closed — a request passed with the agent dead")
    # The next start finds them and leaves exactly one set, the same as the first.
    lab.start_agent("prevent", fail=fail, extra="  threads: %d\n" % THREADS)
    check_one_set(lab, "restart")
    for tool in TOOLS:
        check(ward_lines(lab, tool) == before[tool], "%s: the restart's chains differ from the first start's:\n%s"
              % (tool, "\n".join(ward_lines(lab, tool))))
    check_governed(lab, "restart")
    lab.stop_agent(signal.SIGTERM)
    check_none(lab, "after a clean stop")
    check(lab.curl("/index.html")[0] == 200, "a request failed after the clean stop")


def case_crash_restart_open(lab):
    crash_restart(lab, "open")


def case_crash_restart_closed(lab):
    crash_restart(lab, "closed")


def case_crash_then_no_ips(lab):
    """An agent that died with `fail: closed` leaves traffic blocked; the next start, with a policy
    that no longer enables the IPS, removes its chains all the same."""
    lab.start_agent("prevent", fail="closed")
    lab.stop_agent(signal.SIGKILL)
    check(lab.curl("/index.html", timeout=1)[0] != 200, "fail: closed — a request passed with the agent dead")
    watched = os.path.join(lab.dir, "watched")
    os.makedirs(watched, exist_ok=True)
    policy = os.path.join(lab.dir, "policy.yaml")
    with open(policy, "w") as f:
        f.write("agent:\n  outputs: { stdout: true, file: false }\n"
                "integrity:\n  realtime: false\n  paths: [%s]\n"
                "ips:\n  enabled: false\n" % watched)
    err = os.path.join(lab.dir, "agent.err")
    lab.out = open(lab.events_path, "w")
    lab.agent = lab_popen(lab, policy, err)
    deadline = time.time() + 20
    # IPv4 then IPv6: the second line says both are done.
    while "ip6tables: removed the chains an earlier agent left" not in open(err).read():
        check(lab.agent.poll() is None, "agent exited: " + open(err).read())
        check(time.time() < deadline, "agent did not start")
        time.sleep(0.05)
    check_none(lab, "a start without the IPS")
    check(lab.curl("/index.html")[0] == 200, "traffic still blocked after the start without the IPS")
    lab.stop_agent(signal.SIGTERM)
    check_none(lab, "after a clean stop")


def lab_popen(lab, policy, err):
    return subprocess.Popen(["ip", "netns", "exec", lab.s, lab.agent_bin, "run", "--config", policy,
                             "--state-dir", os.path.join(lab.dir, "state")],
                            stdout=lab.out, stderr=open(err, "w"))


def case_clean_stop(lab):
    """SIGTERM and SIGINT: nothing of Ward's is left, whatever was installed (threads, detect)."""
    for sig, mode, extra in ((signal.SIGTERM, "prevent", "  threads: 2\n"), (signal.SIGINT, "detect", "")):
        lab.start_agent(mode, extra=extra)
        check(ward_lines(lab, "iptables") and ward_lines(lab, "ip6tables"), "no chains installed")
        lab.stop_agent(sig)
        check(lab.agent.returncode == 0, "the agent did not exit cleanly (%s)" % lab.agent.returncode)
        check_none(lab, "after %s" % signal.Signals(sig).name)
        check(lab.curl("/index.html")[0] == 200, "a request failed after the stop")


CASES = {"crash_restart_open": case_crash_restart_open, "crash_restart_closed": case_crash_restart_closed,
         "crash_then_no_ips": case_crash_then_no_ips, "clean_stop": case_clean_stop}


if __name__ == "__main__":
    sys.exit(run_case(Lab, CASES, lambda lab: None))

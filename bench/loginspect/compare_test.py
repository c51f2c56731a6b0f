#!/usr/bin/python3
"""Tests compare.py's reading of OSSEC alert files (CTest loginspect_compare_py)."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

# Two alerts as ossec-analysisd writes them (alerts/log.c, OS_Log): a plain one, then a frequency
# rule's, which lists the earlier events it counted after its own log line.
ALERTS = """** Alert 1796659846.264: - pam,syslog,
2026 Dec 07 16:10:46 web2->stdin
Rule: 5502 (level 3) -> 'Login session closed.'
Dec  7 06:01:12 web2 sshd[1046]: pam_unix(sshd:session): session closed for user ubuntu

** Alert 1796659846.265: mail  - syslog,attacks,authentication_failures,
2026 Dec 07 16:10:46 web1->stdin
Rule: 40111 (level 10) -> 'Multiple authentication failures.'
Src IP: 193.32.162.122
Src Port: 1889
User: root
Dec  7 06:01:12 web1 sshd[1048]: error: maximum authentication attempts exceeded for root
Dec  7 06:00:52 web1 sshd[1034]: error: maximum authentication attempts exceeded for root
Dec  7 06:00:29 web2 sshd[1019]: error: maximum authentication attempts exceeded for root

"""


class OssecAlerts(unittest.TestCase):
    def test_frequency_alert_is_keyed_by_its_own_line(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "alerts.log")
            with open(path, "w") as f:
                f.write(ALERTS)
            got = compare.ossec_alerts(path)
        self.assertEqual(got, [
            (5502, "Dec  7 06:01:12 web2 sshd[1046]: pam_unix(sshd:session): session closed for user ubuntu"),
            (40111, "Dec  7 06:01:12 web1 sshd[1048]: error: maximum authentication attempts exceeded for root"),
        ])


if __name__ == "__main__":
    unittest.main()

"""Injection payloads for names, reasons and scripts: validation refuses them, or they stay inert."""

SHELL = ["a;reboot", "$(reboot)", "`reboot`", "a && reboot", "a|reboot", "a\nreboot", "a'b", 'a"b', "a b",
         "../etc", "-rf", "--uid=0", "a\x00b", "a\rb", "$HOME", "a>b", "*"]
SCONTROL = ["lab-node1 State=RESUME", "lab-node1,lab-node10", "lab-node[1-10]", "NodeName=x", "x=y",
            "lab-node1\tState=IDLE"]
REASONS = ["gpu bad\nState=RESUME", "ok State=RESUME", "a|b", "x\x1b[31m", "\u2028newline", "x" * 300]

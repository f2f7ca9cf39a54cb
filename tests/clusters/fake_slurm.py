"""A stand-in for the Slurm client at the boundary (unit tests only; the lab tests drive real
Slurm): node records parsed from real 22.05 `scontrol show node -o` output with the state and
reason each test sets, and every call recorded."""
from __future__ import annotations

import re

from apps.clusters.slurm import NodeAction, parsers

from .samples import sample

_TEMPLATE = sample("scontrol_show_node_down_drained_22.05.txt").splitlines()[0]


def node_line(name: str, state: str = "IDLE", reason: str = "") -> str:
    line = re.sub(r"^NodeName=\S+", f"NodeName={name}", _TEMPLATE)
    line = re.sub(r"NodeHostName=\S+", f"NodeHostName={name}", line)
    line = re.sub(r" State=\S+", f" State={state}", line)
    line = re.sub(r" Reason=.*$", "", line)
    return line + (f" Reason={reason} [root@2026-11-30T10:00:00]" if reason else "")


class FakeSlurm:
    def __init__(self, nodes: dict[str, tuple[str, str]]):
        self.state = dict(nodes)  # name -> (State, Reason)
        self.calls: list = []
        self.on_resume = "IDLE"

    def nodes(self, names=None):
        names = list(names) if names is not None else list(self.state)
        self.calls.append(("nodes", tuple(names)))
        return parsers.nodes("\n".join(node_line(n, *self.state[n]) for n in names if n in self.state))

    def update_nodes(self, names, action, reason=""):
        action = NodeAction(action)
        self.calls.append(("update", tuple(names), action.value, reason))
        for name in names:
            if action == NodeAction.DRAIN:
                self.state[name] = ("IDLE+DRAIN", reason)
            elif action == NodeAction.DOWN:
                self.state[name] = ("DOWN", reason)
            elif action == NodeAction.RESUME:
                self.state[name] = (self.on_resume, "")

    def command(self, argv, **kw):
        self.calls.append(("command", tuple(argv)))

    def updates(self):
        return [c for c in self.calls if c[0] == "update"]

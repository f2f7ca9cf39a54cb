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


class FakeAccounting(FakeSlurm):
    """Accounting reads from real 22.05 `sacctmgr show` output (cluster `labtest` in the samples,
    plus what a test adds); every command apply would run is recorded, never run."""

    def __init__(self, nodes=None, *, assoc_text: str = "", qos_text: str | None = None):
        super().__init__(nodes or {})
        self.assoc_text = assoc_text or sample("sacctmgr_assoc_22.05.txt")
        self.qos_text = sample("sacctmgr_qos_22.05.txt") if qos_text is None else qos_text
        self.applied: list = []
        self.extra_accounts: list = []

    def accounts(self):
        extra = "".join(f"{name}|{name}|aimatrix\n" for name in self.extra_accounts)
        return parsers.accounts(sample("sacctmgr_account_22.05.txt") + extra)

    def associations(self, **kw):
        return parsers.associations(self.assoc_text)

    def qos(self):
        return parsers.qos(self.qos_text)

    def apply_accounting(self, commands):
        done = list(commands)
        self.applied += [tuple(c.argv) for c in done]
        return done


def assoc_row(**fields) -> str:
    """One `sacctmgr -P -n show assoc format=ASSOC_FIELDS` line: assoc_row(Cluster="c", Account="a", ...)."""
    return "|".join(str(fields.get(name, "")) for name in parsers.ASSOC_FIELDS) + "\n"

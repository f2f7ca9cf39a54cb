"""Which Salt functions a portal role may run: checked BEFORE anything is sent to salt-api.

A policy is plain data: for each role the functions it may call (fnmatch patterns), a deny list
that wins over every allowance, and the states `state.apply` / `state.sls` may apply. Names are
`module.function` for execution functions (clients local, local_async, local_batch) and
`runner:module.function` / `wheel:module.function` for the master-side clients, so one list
covers every path a request can take. Everything not allowed is refused (default deny); the
deny list exists so a careless allowance (`"*"`, `"runner:*"`) still cannot open an execution
path: arbitrary commands and scripts, states other than the allowed ones, file transfer, the
event bus, functions that run other functions, functions that return secrets.

`SaltPolicy.check(role, chunk)` raises `SaltFunctionRefused` (role, client, function, reason)
for a salt-api lowstate chunk; the client calls it for every chunk it sends.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Iterable, Mapping

from .errors import SaltFunctionRefused


class SaltClientKind(StrEnum):
    """salt-api `client` values."""
    LOCAL = "local"
    LOCAL_ASYNC = "local_async"
    LOCAL_BATCH = "local_batch"
    LOCAL_SUBSET = "local_subset"
    RUNNER = "runner"
    RUNNER_ASYNC = "runner_async"
    WHEEL = "wheel"
    WHEEL_ASYNC = "wheel_async"
    SSH = "ssh"


class SaltRole(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


EXECUTION_CLIENTS = frozenset({SaltClientKind.LOCAL, SaltClientKind.LOCAL_ASYNC, SaltClientKind.LOCAL_BATCH,
                               SaltClientKind.LOCAL_SUBSET})
_PREFIX = {SaltClientKind.RUNNER: "runner:", SaltClientKind.RUNNER_ASYNC: "runner:",
           SaltClientKind.WHEEL: "wheel:", SaltClientKind.WHEEL_ASYNC: "wheel:"}

# Functions that apply states: allowed only for the policy's allowed states (never a highstate).
STATE_APPLY_FUNCTIONS = frozenset({"state.apply", "state.sls"})
STATE_APPLY_KWARGS = frozenset({"mods", "test", "saltenv", "queue"})  # no inline `pillar=`: secrets stay out of args

DEFAULT_DENY: tuple[str, ...] = (
    # arbitrary commands and scripts (cmd.run, cmd.script, cmd.exec_code ...)
    "cmd.*", "cmdmod.*", "shell.*", "ps.*",
    # states can run anything (cmd.run, module.run, file.managed from any source); renderers too
    "state.*", "slsutil.*", "jinja.*", "module.*",
    # files into and out of minions
    "cp.*", "file.*", "archive.*",
    # functions that run other functions: event bus, publish, mine, scheduler, saltutil.cmd/runner
    "event.*", "publish.*", "mine.*", "schedule.*", "saltutil.*", "cron.*", "at.*", "beacons.*",
    # returns that carry secrets (pillar holds the munge key)
    "pillar.*", "config.*", "sdb.*", "environ.*", "vault.*",
    # other execution environments and installers of code
    "ssh.*", "docker.*", "dockermod.*", "lxc.*", "nspawn.*", "chroot.*", "pip.*", "git.*", "ansible.*",
    # master side: runners and wheel functions that execute, read secrets or write the master
    "runner:salt.*", "runner:state.*", "runner:ssh.*", "runner:event.*", "runner:pillar.*",
    "runner:fileserver.*", "runner:saltutil.*", "runner:reactor.*", "runner:config.*", "runner:sdb.*",
    "runner:vault.*", "runner:cache.pillar", "runner:cache.mine", "runner:cloud.*", "runner:venafi.*",
    "wheel:file_roots.*", "wheel:pillar_roots.*", "wheel:config.*", "wheel:minions.*", "wheel:error.*",
    "wheel:key.gen*", "wheel:key.master_key_str",
)

# lowstate keys that would route returns elsewhere, swap executors or override authentication
_FORBIDDEN_KEYS = frozenset({"ret", "ret_config", "ret_kwargs", "module_executors", "executor_opts",
                             "username", "password", "eauth", "token", "metadata"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+$")

_VIEW = ("test.ping", "test.version", "grains.items", "grains.item", "grains.get", "network.interfaces",
         "pkg.version",  # read-only: is Slurm installed (scaling's readiness check)
         "runner:jobs.list_job", "runner:jobs.list_jobs", "runner:jobs.lookup_jid",
         "wheel:key.list_all", "wheel:key.finger")
DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    SaltRole.VIEWER: _VIEW,
    SaltRole.OPERATOR: _VIEW + ("state.apply", "state.sls", "service.status", "status.uptime"),
    SaltRole.ADMIN: _VIEW + ("state.apply", "state.sls", "service.status", "status.uptime",
                             "wheel:key.accept_dict", "wheel:key.reject_dict", "wheel:key.delete_dict"),
}
DEFAULT_ALLOWED_STATES: tuple[str, ...] = ("slurm.node",)


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


@dataclass(frozen=True)
class SaltPolicy:
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ROLES))
    deny: tuple[str, ...] = DEFAULT_DENY
    allowed_states: tuple[str, ...] = DEFAULT_ALLOWED_STATES

    @classmethod
    def from_data(cls, data: Mapping) -> "SaltPolicy":
        """From settings: {"roles": {role: [patterns]}, "deny": [...] (added to the defaults),
        "allowed_states": [...]}. The default deny list cannot be removed through data."""
        roles = {str(r): tuple(p) for r, p in (data.get("roles") or DEFAULT_ROLES).items()}
        deny = DEFAULT_DENY + tuple(p for p in data.get("deny", ()) if p not in DEFAULT_DENY)
        return cls(roles=roles, deny=deny,
                   allowed_states=tuple(data.get("allowed_states", DEFAULT_ALLOWED_STATES)))

    # --- checks ------------------------------------------------------------------------------

    def check(self, role: str, chunk: Mapping) -> None:
        """Refuse (SaltFunctionRefused) unless `role` may send this lowstate chunk."""
        raw_client = chunk.get("client")
        fun = chunk.get("fun")
        try:
            client = SaltClientKind(raw_client)
        except ValueError:
            self._refuse(role, str(raw_client), str(fun), f"unknown salt-api client {raw_client!r}")
        if client == SaltClientKind.SSH:
            self._refuse(role, client, str(fun), "the salt-ssh client runs raw commands; never allowed")
        bad = sorted(_FORBIDDEN_KEYS & set(chunk)) or sorted(_FORBIDDEN_KEYS & set(chunk.get("kwarg") or {}))
        if bad:
            self._refuse(role, client, str(fun), f"option {bad[0]!r} is not allowed in a call")
        funs = _as_tuple(fun)
        if not funs:
            self._refuse(role, client, "", "no function named")
        if len(funs) > 1 and client not in EXECUTION_CLIENTS:
            self._refuse(role, client, ",".join(map(str, funs)), "several functions in one call")
        args = chunk.get("arg")
        for i, one in enumerate(funs):
            # several functions in one call (fun: [a, b], arg: [[...], [...]]): each is checked
            one_args = args[i] if len(funs) > 1 and isinstance(args, (list, tuple)) and i < len(args) else args
            self.check_function(role, client, one, one_args, chunk.get("kwarg"))

    def check_function(self, role: str, client: str, fun, arg=None, kwarg=None) -> None:
        client = SaltClientKind(client)
        if not isinstance(fun, str) or not _NAME.fullmatch(fun):
            self._refuse(role, client, str(fun), "not a plain module.function name")
        name = _PREFIX.get(client, "") + fun
        patterns = self.roles.get(str(role))
        if patterns is None:
            self._refuse(role, client, name, f"unknown role {role!r}")
        is_state_apply = client in EXECUTION_CLIENTS and fun in STATE_APPLY_FUNCTIONS
        for pattern in self.deny:
            if is_state_apply and pattern == "state.*":
                continue  # checked below against the allowed states
            if fnmatchcase(name, pattern):
                self._refuse(role, client, name, f"denied by the policy ({pattern})")
        if not any(fnmatchcase(name, p) for p in patterns):
            self._refuse(role, client, name, f"not allowed for role {role}")
        if is_state_apply:
            self._check_states(role, client, name, arg, kwarg)

    def allows(self, role: str, client: str, fun: str) -> bool:
        try:
            self.check_function(role, client, fun)
        except SaltFunctionRefused:
            return False
        return True

    def _check_states(self, role, client, name, arg, kwarg) -> None:
        kwarg = dict(kwarg or {})
        extra = sorted(k for k in kwarg if k not in STATE_APPLY_KWARGS)
        if extra:
            self._refuse(role, client, name, f"option {extra[0]!r} is not allowed for {name}")
        args = _as_tuple(arg)
        if any(isinstance(a, str) and "=" in a for a in args):
            self._refuse(role, client, name, f"keyword arguments to {name} go in kwarg, not arg")
        if len(args) > 1:
            self._refuse(role, client, name, f"{name} takes the states as its only argument")
        mods = args[0] if args else kwarg.get("mods")
        names = _state_names(mods)
        if not names:
            self._refuse(role, client, name, "a highstate (no state named) is not allowed")
        for state in names:
            if state not in self.allowed_states:
                self._refuse(role, client, name, f"state {state!r} is not in the allowed states")

    @staticmethod
    def _refuse(role, client, fun, reason):
        raise SaltFunctionRefused(f"Salt call refused: {fun or '(none)'} via {client} for role {role}: {reason}",
                                  role=str(role), client=str(client), fun=str(fun), reason=reason)


def _state_names(mods) -> list[str]:
    if mods is None:
        return []
    items: Iterable = mods.split(",") if isinstance(mods, str) else mods if isinstance(mods, (list, tuple)) else [mods]
    return [str(m).strip() for m in items if str(m).strip()]

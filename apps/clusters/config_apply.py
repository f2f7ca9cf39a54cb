"""Managed clusters: the configuration the portal wants (rendered from its rows), the live one
(read over SSH), the diff between them, and the apply that writes it.

Apply (the `clusters.apply_config` job): render, read the live files, diff, validate, back up
(timestamped copies next to them), write atomically (temp file with the content on stdin, then
`sudo -n mv`), then `scontrol reconfigure` or, where Slurm needs it (nodes added or removed,
GresTypes...), the cluster's restart command; verify with `scontrol ping` and the node list until
every node answers. On failure the backups go back, Slurm is reconfigured/restarted again and the
job says why. Clusters with reuse_config are never written.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils import timezone

from apps.core.errors import Forbidden, InvalidInput

from . import connection, rendering
from .models import Cluster, ClusterKind
from .slurm.errors import CommandFailed, SlurmError

MANAGE_PERMISSION = "clusters.manage_cluster"
DEFAULT_RESTART = ["sudo", "-n", "systemctl", "restart", "slurmctld"]
RECONFIGURE = ["sudo", "-n", "scontrol", "reconfigure"]
BAD_NODE_STATES = {"down", "unknown", "not_responding", "inval", "invalid", "fail", "future"}


class ApplyFailed(Exception):
    """Apply stopped; the message says at which step and why (and whether the backup went back)."""


# -- desired ---------------------------------------------------------------------------------------

def base_path(cluster: Cluster) -> str:
    return cluster.base_config_path or settings.SLURM_BASE_CONFIG_PATH


def gres_path(cluster: Cluster) -> str:
    return str(PurePosixPath(cluster.conf_path).with_name("gres.conf"))


def check_writable(cluster: Cluster) -> None:
    """Only managed clusters without reuse_config: the portal never writes anyone else's slurm.conf."""
    if cluster.kind != ClusterKind.MANAGED:
        raise InvalidInput({"cluster": [f"{cluster.name} is an external cluster: the portal does not render "
                                        "its configuration."]})
    if cluster.reuse_config:
        raise InvalidInput({"reuse_config": [f"{cluster.name} reuses its own slurm.conf (reuse_config): the "
                                             "portal never writes it."]})


def _gpu_indexes(members) -> dict[int, tuple[int, ...]]:
    """The GPU inventory of the members' nodes: node id -> indexes of GPUs present."""
    from apps.gpus.models import Gpu

    found: dict[int, list[int]] = {}
    rows = Gpu.objects.filter(node_id__in=[m.node_id for m in members if m.node_id], present=True)
    for node_id, index in rows.values_list("node_id", "index"):
        found.setdefault(node_id, []).append(index)
    return {node_id: tuple(sorted(indexes)) for node_id, indexes in found.items()}


def spec(cluster: Cluster) -> rendering.ClusterSpec:
    path = base_path(cluster)
    if not path:
        raise InvalidInput({"base_config_path": ["No base template: set the cluster's base_config_path or "
                                                 "SLURM_BASE_CONFIG_PATH."]})
    try:
        base_text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput({"base_config_path": [f"Cannot read the base template {path}: "
                                                 f"{getattr(exc, 'strerror', None) or exc}"]}) from None
    members = list(cluster.members.filter(managed=True).select_related("node"))
    gpus = _gpu_indexes(members)
    nodes = []
    for m in members:
        # The GPU inventory when the node has one; otherwise what Slurm reported at discovery.
        indexes = gpus.get(m.node_id) or tuple(range(m.gpu_count))
        nodes.append(rendering.NodeSpec(
            name=m.slurm_name, address=m.address or (m.node.address if m.node else ""), cpus=m.cpus,
            sockets=m.sockets, cores_per_socket=m.cores_per_socket, threads_per_core=m.threads_per_core,
            real_memory_mb=m.real_memory_mb, gpu_indexes=indexes, features=tuple(m.features or ())))
    partitions = [rendering.PartitionSpec(
        name=p.name, nodes=tuple(p.nodes or ()), default=p.is_default, max_time=p.max_time, state=p.state,
        allow_accounts=tuple(p.allow_accounts or ()), allow_qos=tuple(p.allow_qos or ()),
        options=rendering.settable_options(p.options))
        for p in cluster.partitions.filter(managed=True)]
    return rendering.ClusterSpec(cluster_name=cluster.slurm_cluster_name or cluster.name, base_text=base_text,
                                 nodes=tuple(nodes), partitions=tuple(partitions),
                                 gres_file_pattern=cluster.gres_file_pattern, base_path=path)


def render(cluster: Cluster) -> rendering.Rendered:
    try:
        return rendering.render(spec(cluster))
    except rendering.RenderError as exc:
        raise InvalidInput({exc.field: [exc.message]}) from None


# -- live ----------------------------------------------------------------------------------------

def read_file(client, path: str) -> str | None:
    """A file on the controller (None when it does not exist)."""
    result = client.command(["cat", "--", path], ok_status=(0, 1))
    if result.exit_status == 1:
        if "No such file" in (result.stderr or ""):
            return None
        raise CommandFailed(["cat", path], 1, result.stderr or "", "")
    return result.stdout


@dataclass
class Plan:
    rendered: rendering.Rendered
    live_slurm: str | None
    live_gres: str | None
    slurm_diff: str
    gres_diff: str
    restart: list  # reasons; empty: scontrol reconfigure is enough

    @property
    def changed(self) -> bool:
        return bool(self.slurm_diff or self.gres_diff)

    def as_dict(self, cluster: Cluster) -> dict:
        return {"cluster": cluster.pk, "conf_path": cluster.conf_path, "gres_path": gres_path(cluster),
                "base_config_path": base_path(cluster), "slurm_conf": self.rendered.slurm_conf,
                "gres_conf": self.rendered.gres_conf, "slurm_conf_diff": self.slurm_diff,
                "gres_conf_diff": self.gres_diff, "changed": self.changed,
                "live_missing": [p for p, text in ((cluster.conf_path, self.live_slurm),
                                                   (gres_path(cluster), self.live_gres)) if text is None],
                "action": ("restart" if self.restart else "reconfigure") if self.changed else "none",
                "restart_reasons": self.restart}


def plan(cluster: Cluster, client) -> Plan:
    rendered = render(cluster)
    live_slurm, live_gres = read_file(client, cluster.conf_path), read_file(client, gres_path(cluster))
    return Plan(rendered, live_slurm, live_gres,
                rendering.unified_diff(live_slurm or "", rendered.slurm_conf, cluster.conf_path),
                rendering.unified_diff(live_gres or "", rendered.gres_conf, gres_path(cluster)),
                rendering.restart_reasons(live_slurm or "", rendered.slurm_conf))


def preview(actor, cluster: Cluster) -> dict:
    """The rendered files and their diff against the live ones; writes nothing (no audit)."""
    check_may_manage(actor, cluster)
    check_writable(cluster)
    client = connection.controller_client(cluster, purpose="cluster config preview", actor=actor)
    try:
        return plan(cluster, client).as_dict(cluster)
    except SlurmError as exc:
        rendered = render(cluster)
        return {"cluster": cluster.pk, "conf_path": cluster.conf_path, "gres_path": gres_path(cluster),
                "slurm_conf": rendered.slurm_conf, "gres_conf": rendered.gres_conf, "changed": None,
                "error": f"the live files could not be read: {exc}"}


def check_may_manage(actor, cluster: Cluster) -> None:
    """clusters.manage_cluster and the cluster within reach for `manage` (operators, owners)."""
    from apps.rbac.permissions import can

    if not actor.has_perm(MANAGE_PERMISSION) or not can(actor, cluster, "manage"):
        raise Forbidden(f"You may not change the configuration of {cluster.name}.")


# -- apply (inside the job) ---------------------------------------------------------------------------

def _write(client, path: str, text: str, stamp: str) -> None:
    """Atomic replace over SSH: content on stdin into a temp file beside it, then mv (same directory,
    so the rename is atomic); nothing of the content ever reaches argv."""
    tmp = f"{path}.portal-{stamp}.tmp"
    client.command(["sudo", "-n", "dd", f"of={tmp}", "status=none"], stdin=text.encode())
    client.command(["sudo", "-n", "chmod", "0644", tmp])
    client.command(["sudo", "-n", "mv", "-f", "--", tmp, path])


def _backup(client, path: str, stamp: str) -> str:
    backup = f"{path}.bak-{stamp}"
    client.command(["sudo", "-n", "cp", "-p", "--", path, backup])
    return backup


def _activate(client, cluster: Cluster, restart: bool, log) -> None:
    if restart:
        argv = list(cluster.restart_command or DEFAULT_RESTART)
        log(f"restarting slurmctld: {' '.join(argv)}")
        client.command(argv, timeout=max(client.timeout, 120))
    log("scontrol reconfigure")
    client.command(RECONFIGURE, timeout=max(client.timeout, 60))


def _state_word(node) -> str:
    from .discovery import _state_word as word

    return word(node.state)


def verify(client, node_names, partitions, *, deadline_s: float, sleep=time.sleep, log=lambda m: None) -> str:
    """`scontrol ping` answers UP and every node is known and responding (until the deadline);
    the partitions exist. Returns a one-line summary, raises ApplyFailed with what is wrong."""
    deadline = time.monotonic() + deadline_s
    problem = "not checked"
    while True:
        try:
            pings = client.ping()
            down = [p for p in pings if not p.up]
            if not pings or len(down) == len(pings):
                problem = "scontrol ping: no controller is UP"
            else:
                seen = {n.name: _state_word(n) for n in client.nodes()}
                bad = {n: seen.get(n, "missing") for n in node_names if seen.get(n, "missing") in
                       BAD_NODE_STATES | {"missing"}}
                missing_parts = sorted(set(partitions) - {p.name for p in client.partitions()})
                rows = client.sinfo()
                if not bad and not missing_parts:
                    return (f"controller UP; {len(node_names)} node(s) responding; "
                            f"{len(partitions)} partition(s); sinfo {len(rows)} row(s)")
                problem = "; ".join(filter(None, [
                    ("nodes not responding: " + ", ".join(f"{n} ({s})" for n, s in sorted(bad.items())))
                    if bad else "", ("partitions missing: " + ", ".join(missing_parts)) if missing_parts else ""]))
        except SlurmError as exc:
            problem = str(exc)
        if time.monotonic() >= deadline:
            raise ApplyFailed(f"verify: {problem} (after {deadline_s:g} s)")
        log(f"waiting: {problem}")
        sleep(1.0)


def apply(cluster: Cluster, client, *, log, step=lambda name: None, deadline_s: float | None = None,
          sleep=time.sleep, actor=None, expect_later=()) -> dict:
    """Write the rendered configuration and make Slurm use it (see the module docstring).
    `expect_later`: nodes whose slurmd starts only after this apply (scaling): not awaited by verify."""
    check_writable(cluster)
    deadline_s = settings.SLURM_APPLY_VERIFY_TIMEOUT if deadline_s is None else deadline_s
    step("Render and read the live files")
    try:
        current = plan(cluster, client)
    except SlurmError as exc:
        raise ApplyFailed(f"read live files: {exc}") from None
    spec_ = spec(cluster)
    names = [n.name for n in spec_.nodes if n.name not in set(expect_later)]
    partitions = [p.name for p in spec_.partitions]
    for line in (current.slurm_diff + current.gres_diff).splitlines()[:400]:
        log(line)
    if not current.changed:
        log("the live files already match the rendered ones: nothing to write")
        return {"changed": False, "action": "none", "verify": verify(client, names, partitions, deadline_s=deadline_s,
                                                                      sleep=sleep, log=log)}
    restart = bool(current.restart)
    log(("restart needed: " + "; ".join(current.restart)) if restart else "scontrol reconfigure is enough")

    step("Check the GPU devices of changed gres.conf lines")
    check_devices(cluster, spec_, current, log, actor=actor)

    step("Back up the live files")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    backups = {}
    try:
        for path, live in ((cluster.conf_path, current.live_slurm), (gres_path(cluster), current.live_gres)):
            if live is not None:
                backups[path] = _backup(client, path, stamp)
                log(f"backup {backups[path]}")
    except SlurmError as exc:
        raise ApplyFailed(f"backup: {exc}; nothing was written") from None

    step("Write the new files")
    try:
        _write(client, gres_path(cluster), current.rendered.gres_conf, stamp)
        _write(client, cluster.conf_path, current.rendered.slurm_conf, stamp)
        log(f"wrote {gres_path(cluster)} and {cluster.conf_path}")
        step("Restart slurmctld" if restart else "Reconfigure")
        _activate(client, cluster, restart, log)
        step("Verify")
        summary = verify(client, names, partitions, deadline_s=deadline_s, sleep=sleep, log=log)
    except (SlurmError, ApplyFailed) as exc:
        reason = str(exc)
        log(f"apply failed: {reason}", level="error")
        raise ApplyFailed(f"{reason}; {_rollback(client, cluster, backups, current, stamp, log)}") from None
    log(summary)
    return {"changed": True, "action": "restart" if restart else "reconfigure", "restart_reasons": current.restart,
            "backups": backups, "verify": summary}


def check_devices(cluster: Cluster, spec_: rendering.ClusterSpec, current: Plan, log, *, actor=None) -> None:
    """Every device a new or changed gres.conf line names exists on its node (over the node's own
    SSH): a wrong File= leaves the node idle in sinfo while every job launch on it fails. A node
    the portal cannot reach is only reported; a reachable one missing a device stops the apply
    before anything is written."""
    live = set((current.live_gres or "").splitlines())
    wanted = {line.split()[0].split("=", 1)[1]: line for line in current.rendered.gres_conf.splitlines()
              if line.startswith("NodeName=")}
    changed = {name for name, line in wanted.items() if line not in live}
    if not changed:
        return
    devices = {n.name: [cluster.gres_file_pattern.replace("{node}", n.name).replace("{index}", str(i))
                        for i in n.gpu_indexes] for n in spec_.nodes if n.name in changed}
    members = cluster.members.filter(slurm_name__in=changed).select_related("node", "node__ssh_credential")
    missing = []
    for member in members:
        if member.node is None:
            log(f"{member.slurm_name}: not a portal node; its GPU devices are not checked", level="warning")
            continue
        run = connection.runner_for(member.node, purpose="check GPU devices before applying slurm configuration",
                                    actor=actor)
        try:
            result = run(["ls", "-d", "--", *devices[member.slurm_name]], timeout=30)
        except SlurmError as exc:
            log(f"{member.slurm_name}: GPU devices not checked ({exc})", level="warning")
            continue
        if result.exit_status != 0:
            missing.append(f"{member.slurm_name}: {(result.stderr or result.stdout).strip()[:300]}")
        else:
            log(f"{member.slurm_name}: {len(devices[member.slurm_name])} GPU device(s) present")
    if missing:
        raise ApplyFailed("validate: gres.conf names GPU devices that do not exist (check the cluster's "
                          f"gres_file_pattern): {'; '.join(missing)}; nothing was written")


def _rollback(client, cluster: Cluster, backups: dict, current: Plan, stamp: str, log) -> str:
    """Put the backups back and restart (the old node set may differ from what slurmctld now has).
    Returns what happened, for the job's error."""
    try:
        for path in (cluster.conf_path, gres_path(cluster)):
            if path in backups:
                client.command(["sudo", "-n", "cp", "-p", "--", backups[path], f"{path}.portal-{stamp}.restore"])
                client.command(["sudo", "-n", "mv", "-f", "--", f"{path}.portal-{stamp}.restore", path])
            elif path == gres_path(cluster) and current.live_gres is None:
                client.command(["sudo", "-n", "rm", "-f", "--", path])
        log("previous files restored")
        _activate(client, cluster, True, log)
    except SlurmError as exc:
        log(f"rollback failed: {exc}", level="error")
        return f"ROLLBACK FAILED ({exc}): the backups are {', '.join(backups.values()) or 'missing'}"
    return f"the previous configuration was restored from {', '.join(backups.values())} and slurmctld restarted"

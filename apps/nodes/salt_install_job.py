"""The batch minion install (the seed's batch install over SSH) as one portal job.

For a list of nodes, or an imported inventory (CSV/JSON/YAML, the node import's format: rows that
name existing nodes are used as they are, new ones are imported first, all or nothing), each host
is installed and enrolled by apps/nodes/salt_install.py, `parallelism()` hosts at a time. Every
step of every host is streamed live under that host; a failed host ends with its step and reason
and never blocks the others; the job fails, naming them, if any host failed.
"""
from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from rest_framework import serializers

from apps.core.errors import Forbidden, InvalidInput
from apps.jobs.registry import register

from . import importer
from .job_kinds import NodeRef, authorize_nodes, fan_out_hosts, node_pks, nodes_of, requester_of
from .models import Node
from .salt import check_minion_id
from .salt_install import BOOTSTRAP_S, INSTALL_S, QUICK_S, InstallFailed, minion_source, parallelism
from .salt_jobs import ACCEPT_KEY_WAIT_S, FIRST_PING_S
from .salt_models import SaltMaster
from .salt_services import default_master

KIND = "salt.batch_install"
MINION_ID_TEMPLATE = "{node}"
MAX_HOSTS = 1000
# Per host at most: 4 quick checks, 3 install commands, the bootstrap, key wait and first ping.
HOST_BUDGET_S = 4 * QUICK_S + 3 * INSTALL_S + BOOTSTRAP_S + ACCEPT_KEY_WAIT_S + FIRST_PING_S + 60


def check_portal_url(value: str) -> str:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment:
        raise serializers.ValidationError("The portal's http(s) address as the hosts reach it, without credentials.")
    return value.rstrip("/")


def check_template(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]*\{node\}[A-Za-z0-9._-]*", value or ""):
        raise serializers.ValidationError("Letters, digits, '.', '_', '-' around one {node}, e.g. {node} or {node}-gpu.")
    return value


def minion_id_for(template: str, node: Node) -> str:
    return template.replace("{node}", node.name)


class BatchInstallParams(serializers.Serializer):
    nodes = serializers.ListField(child=NodeRef(), min_length=1, max_length=MAX_HOSTS)
    master = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True)
    minion_id = serializers.CharField(max_length=120, default=MINION_ID_TEMPLATE,
                                      help_text="minion id per node: {node} is the node's name")
    portal_url = serializers.CharField(max_length=300, help_text="the portal as the hosts reach it")
    parallel = serializers.IntegerField(min_value=1, max_value=100, required=False, allow_null=True,
                                        help_text="hosts at once (default: the setting)")

    def validate_nodes(self, value):
        return node_pks(value)

    def validate_minion_id(self, value):
        return check_template(value)

    def validate_portal_url(self, value):
        return check_portal_url(value)

    def validate(self, attrs):
        for node in Node.objects.filter(pk__in=attrs["nodes"]).only("name"):
            try:
                check_minion_id(minion_id_for(attrs["minion_id"], node))
            except ValueError as exc:
                raise serializers.ValidationError({"minion_id": [f"{node.name}: {exc}"]}) from None
        return attrs


def _master(params) -> SaltMaster:
    master = SaltMaster.objects.filter(pk=params["master"]).first() if params.get("master") else default_master()
    if master is None:
        raise InvalidInput({"master": ["Choose the Salt master (none, or several, are configured)."]})
    return master


PERMISSION = "nodes.add_saltminion"
REFUSED = f"Installing Salt minions needs {PERMISSION}."


def may_install(user) -> bool:
    """The one check of the API, the pages, the node list's bulk bar and the deploy workflow."""
    return user.has_perm(PERMISSION)


def check_may_install(user) -> None:
    if not may_install(user):
        raise Forbidden(REFUSED)


def _authorize_install(user, params):
    check_may_install(user)
    authorize_nodes("change")(user, params)
    _master(params)


def _time_limit(params) -> float:
    hosts = len(params.get("nodes") or [1])
    return min(math.ceil(hosts / parallelism(hosts, params.get("parallel"))) * HOST_BUDGET_S, 24 * 3600)


@register(KIND, label="Install Salt minions over SSH", permission=PERMISSION, params=BatchInstallParams,
          queue="ssh", authorize=_authorize_install, time_limit=_time_limit)
def batch_install(runner, params, target):
    """Tests SSH and sudo, detects the OS, installs the minion from the configured source, enrolls it
    with a one-time token and accepts its key by the reported fingerprint: each host on its own."""
    from .salt_install import install_one

    nodes, master, source = nodes_of(params), _master(params), minion_source()
    workers = parallelism(len(nodes), params.get("parallel"))
    runner.step(f"Installing Salt minions on {len(nodes)} host(s), {workers} at a time "
                f"(source: {source.kind}; master {master.name})")
    actor, purpose = requester_of(runner), f"job {runner.job_id} {KIND}"

    def work(node):
        def log(step, message):
            runner.log(f"{step}: {message}", host=node.name, step=str(step))

        try:
            out = install_one(node, actor=actor, master=master, minion_id=minion_id_for(params["minion_id"], node),
                              portal_url=params["portal_url"], source=source, purpose=purpose, log=log)
        except InstallFailed as exc:
            runner.log(f"{exc.step}: FAILED: {exc}", host=node.name, level="error", step=str(exc.step))
            return False, f"{exc.step}: {exc}", {"step": str(exc.step)}
        return True, (f"salt-minion {out['version']} on {out['os']}; key accepted, "
                      f"answered a ping after {out['ping_s']:g} s"), out

    return {**fan_out_hosts(runner, nodes, work, "Salt minion install", max_workers=workers), "parallel": workers}


# --- starting it ------------------------------------------------------------------------------
def nodes_from_inventory(user, content: str, fmt: str) -> list[Node]:
    """The inventory's hosts as nodes: existing names as they are, the others imported first (the
    node import's checks and permission; one bad row imports nothing)."""
    check_may_install(user)  # before the file is parsed
    rows = importer.parse(content, fmt)
    if len(rows) > MAX_HOSTS:
        raise InvalidInput({"file": [f"At most {MAX_HOSTS} hosts per batch install."]})
    names = [row.get("name") for row in rows]
    existing = {n.name: n for n in Node.objects.filter(name__in=[n for n in names if isinstance(n, str)])}
    new_rows = [row for row in rows if row.get("name") not in existing]
    created = {n.name: n for n in (importer.import_rows(user, new_rows) if new_rows else [])}
    return [existing.get(name) or created[name] for name in names]


def start_batch_install(user, *, portal_url: str, nodes: list | None = None, inventory: tuple[str, str] | None = None,
                        master=None, minion_id: str = MINION_ID_TEMPLATE, parallel: int | None = None):
    """The one entry point of the API, the page and the admin: `nodes`, or an `inventory` (text,
    format) whose hosts become nodes first. Validation, permission and audit are the job engine's."""
    from apps.jobs.services import start_job

    check_may_install(user)
    if inventory is not None:
        nodes = nodes_from_inventory(user, *inventory)
    params = {"nodes": [n.pk if isinstance(n, Node) else n for n in nodes], "portal_url": portal_url,
              "minion_id": minion_id or MINION_ID_TEMPLATE}
    if master is not None:
        params["master"] = master.pk if isinstance(master, SaltMaster) else master
    if parallel:
        params["parallel"] = parallel
    try:
        return start_job(user, KIND, params)
    except InvalidInput as exc:  # the parameters are this request's own fields: name them as such
        if isinstance(exc.errors.get("params"), dict):
            raise InvalidInput(exc.errors["params"]) from None
        raise

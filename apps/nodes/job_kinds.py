"""Fleet jobs: connection test, facts probe, commands, BMC power and boot device."""
from __future__ import annotations

import shlex

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework import serializers

from apps.core import deadline as deadlines
from apps.core.errors import Forbidden, InvalidInput
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed
from apps.rbac.permissions import restrict

from . import facts, remote, ssh
from .models import Bmc, Node, NodeEvent

FANOUT = settings.NODES_SSH_FANOUT


class NodeRef(serializers.Field):
    """A node named by primary key (a JSON number) or by name (a string); validated to its
    primary key, which is what the job keeps: a rename between start and run changes nothing."""

    default_error_messages = {"invalid": "A node id (number) or node name (text of at most 63 characters)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, str)) or (isinstance(data, str) and (
                not data or len(data) > 63 or "\x00" in data)) or (isinstance(data, int) and not 0 < data < 2**63):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


def node_pks(refs: list) -> list[int]:
    """Names and ids -> primary keys, in order; unknown ones are named in a 400."""
    names = [r for r in refs if isinstance(r, str)]
    by_name = dict(Node.objects.filter(name__in=names).values_list("name", "pk")) if names else {}
    ids = {r for r in refs if isinstance(r, int)}
    known_ids = set(Node.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    missing = [str(r) for r in refs if (r not in by_name if isinstance(r, str) else r not in known_ids)]
    if missing:
        raise serializers.ValidationError(f"Unknown node(s): {', '.join(sorted(missing)[:20])}.")
    pks = [by_name[r] if isinstance(r, str) else r for r in refs]
    return list(dict.fromkeys(pks))


class NodesParams(serializers.Serializer):
    nodes = serializers.ListField(child=NodeRef(), min_length=1, max_length=1000)

    def validate_nodes(self, value):
        return node_pks(value)


class CommandParams(NodesParams):
    argv = serializers.ListField(child=serializers.CharField(max_length=4096, allow_blank=True), min_length=1,
                                 max_length=200)
    timeout = serializers.FloatField(min_value=1, max_value=3600, default=60)


class OneNodeParams(serializers.Serializer):
    node = NodeRef()

    def validate_node(self, value):
        return node_pks([value])[0]


class PowerParams(OneNodeParams):
    action = serializers.ChoiceField(choices=["on", "off", "graceful-shutdown", "reset", "cycle"])
    deadline = serializers.FloatField(min_value=5, max_value=1800, default=300)


class BootParams(OneNodeParams):
    device = serializers.ChoiceField(choices=["pxe", "disk", "cd"])
    persistent = serializers.BooleanField(default=False)


def _pks(params) -> list[int]:
    return params["nodes"] if "nodes" in params else [params["node"]]


def authorize_nodes(action: str):
    def check(user, params):
        pks = _pks(params)
        reachable = set(restrict(Node.objects.filter(pk__in=pks), user, action).values_list("pk", flat=True))
        missing = [pk for pk in pks if pk not in reachable]
        if missing:
            visible = sorted(restrict(Node.objects.filter(pk__in=missing), user, "view").values_list("name", flat=True))
            if visible:
                raise Forbidden(f"You may not {action} node(s): {', '.join(visible)}.")
            raise InvalidInput({"nodes": [f"Unknown node(s): {len(missing)} of those named."]})
    return check


def nodes_of(params) -> list[Node]:
    pks = _pks(params)
    by_pk = Node.objects.select_related("ssh_credential").in_bulk(pks)
    return [by_pk[pk] for pk in pks if pk in by_pk]


def requester_of(runner):
    return runner.job.requester


def fan_out_hosts(runner, nodes, work, label, max_workers: int = FANOUT):
    """Run work(node) on every node with bounded concurrency; a result per host, job fails if any did."""
    failed = []
    done = 0

    def in_thread(node):
        try:
            return work(node)
        finally:
            connection.close()  # each fan-out thread has its own database connection

    for node, outcome in ssh.fan_out(nodes, in_thread, max_workers=max_workers):
        done += 1
        if isinstance(outcome, Exception):
            message = str(outcome) if isinstance(outcome, remote.NodeUnavailable) else f"{type(outcome).__name__}: {outcome}"
            runner.host_result(node.name, False, message)
            failed.append(message if message.startswith(node.name) else f"{node.name}: {message}")
        else:
            ok, message, data = outcome
            runner.host_result(node.name, ok, message, **data)
            if not ok:
                failed.append(f"{node.name}: {message}")
        runner.progress(done * 100 // len(nodes))
    if failed:
        reasons = "; ".join(reason[:300] for reason in failed[:10])
        raise JobFailed(f"{label} failed on {len(failed)} of {len(nodes)} node(s). {reasons}")
    return {"nodes": len(nodes)}


@register("nodes.test_connection", label="Test SSH connection", permission="nodes.use_node", params=NodesParams,
          queue="ssh", authorize=authorize_nodes("use"))
def test_connection(runner, params, target):
    """Connects to each node with its trusted host keys and runs `true` and `sudo -n true`."""
    nodes = nodes_of(params)
    runner.step(f"Connecting to {len(nodes)} node(s)")
    purpose, actor = f"job {runner.job_id} nodes.test_connection", requester_of(runner)

    def work(node):
        result = remote.run(node, ["true"], timeout=15, purpose=purpose, actor=actor)
        sudo = remote.run(node, ["sudo", "-n", "true"], timeout=15, purpose=purpose, actor=actor)
        message = f"connected in {result.duration * 1000:.0f} ms; sudo {'ok' if sudo.exit_status == 0 else 'NOT available'}"
        return result.exit_status == 0, message, {"sudo": sudo.exit_status == 0}

    return fan_out_hosts(runner, nodes, work, "Connection test")


@register("nodes.probe", label="Probe facts", permission="nodes.use_node", params=NodesParams, queue="ssh",
          authorize=authorize_nodes("use"))
def probe(runner, params, target):
    """Reads OS, kernel, CPU, memory, disks, NICs and GPUs from each node and stores them as facts."""
    nodes = nodes_of(params)
    runner.step(f"Probing {len(nodes)} node(s)")
    purpose, actor = f"job {runner.job_id} nodes.probe", requester_of(runner)

    def work(node):
        outputs = {}
        for key, argv in facts.COMMANDS.items():
            result = remote.run(node, argv, timeout=20, purpose=purpose, actor=actor)
            if result.exit_status == 0:
                outputs[key] = result.stdout
        found = facts.parse(outputs)
        Node.objects.filter(pk=node.pk).update(facts=found, facts_updated_at=timezone.now())
        summary = f"{found.get('os', '?')}, {found.get('cpu_threads', '?')} threads, " \
                  f"{round(found.get('memory_bytes', 0) / 2**30, 1)} GiB, {found.get('gpu_count', 0)} GPU(s)"
        return True, summary, {"facts": found}

    return fan_out_hosts(runner, nodes, work, "Facts probe")


@register("nodes.run_command", label="Run a command", permission="nodes.run_command_node", params=CommandParams,
          queue="ssh", authorize=authorize_nodes("use"))
def run_command(runner, params, target):
    """Runs one command (an argv list, never a shell string) on each node; output per host."""
    nodes = nodes_of(params)
    argv, timeout = params["argv"], params["timeout"]
    runner.step(f"Running {shlex.join(argv)} on {len(nodes)} node(s)")
    purpose, actor = f"job {runner.job_id} nodes.run_command", requester_of(runner)

    def work(node):
        result = remote.run_bounded(node, argv, timeout=timeout, purpose=purpose, actor=actor)
        if result.exit_status == 124:
            return False, f"timed out after {timeout:g} s", {"exit_status": 124}
        for stream in ("stdout", "stderr"):
            for line in getattr(result, stream).splitlines()[:500]:
                runner.log(line, host=node.name, stream=stream)
        return result.exit_status == 0, f"exit status {result.exit_status}", {"exit_status": result.exit_status}

    return fan_out_hosts(runner, nodes, work, "Command")


@register("nodes.power", label="BMC power", permission="nodes.manage_node", params=PowerParams, queue="bmc",
          authorize=authorize_nodes("manage"))
def power(runner, params, target):
    """Asks the node's BMC for a power action and waits until it reports the requested state."""
    from .bmc import SETTLES_IN, BmcError, PowerAction, wait_for_power

    node = nodes_of(params)[0]
    action = PowerAction(params["action"])
    desired = SETTLES_IN[action].value
    # The deadline covers every word with the BMC (apps/core/deadline.py), however slowly it answers.
    deadline = deadlines.within(params["deadline"], f"power {action.value} of {node.name}")
    try:
        with deadline:
            client = remote.bmc_client(node, f"job {runner.job_id} nodes.power", requester_of(runner))
            runner.step(f"{action.value} via {node.bmc.driver}")
            before = client.power_state()
            runner.log(f"power state before: {before}", host=node.name)
            client.power(action)
            runner.step(f"Waiting for power {desired} (deadline {params['deadline']:g} s)", progress=10)
            waited = wait_for_power(client, desired, params["deadline"],
                                    sleep=runner.waiting(f"power {desired}", params["deadline"], start=10))
    except remote.NodeUnavailable as exc:
        raise JobFailed(str(exc)) from None
    except BmcError as exc:
        Bmc.objects.filter(node=node).update(poll_error=str(exc)[:300], polled_at=timezone.now())
        raise JobFailed(f"{node.name}: {exc}") from None
    Bmc.objects.filter(node=node).update(power_state=desired, polled_at=timezone.now(), poll_error="")
    NodeEvent.objects.create(node=node, kind="power", message=f"{action.value}: {before} -> {desired}",
                             data={"action": action.value, "before": before, "after": desired, "job": runner.job_id})
    runner.host_result(node.name, True, f"power {desired} after {waited:.1f} s")
    return {"before": before, "after": desired, "seconds": round(waited, 1)}


@register("nodes.boot_device", label="Set boot device", permission="nodes.manage_node", params=BootParams,
          queue="bmc", authorize=authorize_nodes("manage"))
def boot_device(runner, params, target):
    from .bmc import BmcError, BootDevice

    node = nodes_of(params)[0]
    runner.step(f"Boot from {params['device']} ({'persistent' if params['persistent'] else 'once'})")
    try:
        client = remote.bmc_client(node, f"job {runner.job_id} nodes.boot_device", requester_of(runner))
        client.set_boot_device(BootDevice(params["device"]), params["persistent"])
    except (BmcError, remote.NodeUnavailable) as exc:
        raise JobFailed(f"{node.name}: {exc}") from None
    NodeEvent.objects.create(node=node, kind="boot_device", message=f"boot device {params['device']}",
                             data={"device": params["device"], "persistent": params["persistent"]})
    runner.host_result(node.name, True, f"boot device {params['device']}")
    return {"device": params["device"], "persistent": params["persistent"]}

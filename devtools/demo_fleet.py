"""A small, realistic fleet for screenshots: two projects, GPU and login nodes with probed facts and
BMCs, a finished and a failed job with their steps and logs, a day of job history, and a job that
is running while it is looked at (`RunningJob`: it reports through the same JobRunner a handler
uses, so its progress and log reach the page over the job's websocket).

Everything goes through the services the portal uses (permission checks, audit); only what a
real probe or poll would have written (facts, power state, timestamps) is set directly.
Needs a migrated database and Redis (the channel layer carries the live events).
"""
from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.jobs import services as jobs
from apps.jobs.events import append_event
from apps.jobs.execution import finish
from apps.jobs.models import EventKind, Job, JobEvent, JobStatus
from apps.jobs.runner import JobRunner
from apps.keyvault import services as vault
from apps.nodes import facts as node_facts
from apps.nodes import services as nodes
from apps.nodes.models import Bmc, HostKey, HostKeyState, Node, NodeState
from apps.rbac import services as rbac

ADMIN = "admin"
SUBNET = "10.40"
# name, address suffix, GPU model (or None), GPUs, project, state
NODES = [
    *[(f"gpu-h100-{i:02d}", f"1.{10 + i}", "NVIDIA H100 80GB HBM3", 8, "llm-platform", NodeState.READY)
      for i in range(1, 5)],
    *[(f"gpu-a100-{i:02d}", f"2.{10 + i}", "NVIDIA A100-SXM4-80GB", 8, "vision-research", NodeState.READY)
      for i in range(1, 5)],
    ("gpu-a100-05", "2.15", "NVIDIA A100-SXM4-80GB", 8, "vision-research", NodeState.UNREACHABLE),
    ("gpu-l40s-01", "3.11", "NVIDIA L40S", 4, None, NodeState.MAINTENANCE),
    ("login-01", "0.10", None, 0, None, NodeState.READY),
    ("gpu-h100-05", "1.15", "NVIDIA H100 80GB HBM3", 8, "llm-platform", NodeState.NEW),
]


@dataclass
class Fleet:
    admin: object
    password: str
    nodes: dict = field(default_factory=dict)
    finished_job: Job | None = None
    failed_job: Job | None = None
    running: "RunningJob | None" = None


def _probe_outputs(name: str, gpu_model: str | None, gpus: int, address: str) -> dict:
    """What the facts probe's commands would print on such a machine."""
    big = gpu_model is not None
    cpu = "AMD EPYC 9454 48-Core Processor" if big else "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz"
    sockets, cores, threads = (2, 48, 2) if big else (1, 16, 2)
    lscpu = {"lscpu": [{"field": "Model name:", "data": cpu}, {"field": "Socket(s):", "data": str(sockets)},
                       {"field": "Core(s) per socket:", "data": str(cores)},
                       {"field": "Thread(s) per core:", "data": str(threads)},
                       {"field": "CPU(s):", "data": str(sockets * cores * threads)}]}
    disks = [{"name": "nvme0n1", "size": 3_840_755_982_336, "type": "disk", "model": "SAMSUNG MZQL23T8HCLS"},
             {"name": "nvme1n1", "size": 3_840_755_982_336, "type": "disk", "model": "SAMSUNG MZQL23T8HCLS"}]
    nics = [{"ifname": "eno1", "address": "3c:ec:ef:12:34:%02x" % (len(name) * 7 % 256),
             "addr_info": [{"local": address}]},
            {"ifname": "ib0", "address": "00:00:10:29:fe:80",
             "addr_info": [{"local": address.replace("10.40", "10.41")}]}]
    outputs = {
        "hostname": name, "uname": "Linux 6.1.0-28-amd64 x86_64",
        "os_release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', "cpuinfo": json.dumps(lscpu),
        "meminfo": f"MemTotal:       {(2_113_000_000 if big else 263_000_000)} kB",
        "disks": json.dumps({"blockdevices": disks if big else disks[:1]}), "nics": json.dumps(nics),
    }
    if gpu_model:
        outputs["gpus"] = "\n".join(f"{i}, {gpu_model}, 81559, GPU-{secrets.token_hex(4)}-{i}" for i in range(gpus))
    return outputs


def build(password: str | None = None) -> Fleet:
    password = password or secrets.token_urlsafe(12)
    admin = get_user_model().objects.create_superuser(ADMIN, "admin@example.org", password)
    fleet = Fleet(admin=admin, password=password)
    projects = {name: rbac.create_project(admin, name, description)
                for name, description in [("llm-platform", "Pre-training and fine-tuning of the language models"),
                                          ("vision-research", "Detection and segmentation experiments")]}
    ssh_key = vault.create_secret(admin, name="fleet-ssh", kind="password", value=secrets.token_urlsafe(16),
                                  description="Deploy user's password for the GPU fleet",
                                  destinations=[f"{SUBNET}.0.0/16"])
    vault.create_secret(admin, name="bmc-admin", kind="bmc_credentials", value=f"admin:{secrets.token_urlsafe(12)}",
                        description="Out-of-band controllers", destinations=["10.42.0.0/16"])
    now = timezone.now()
    for i, (name, suffix, gpu_model, gpus, project, state) in enumerate(NODES):
        address = f"{SUBNET}.{suffix}"
        rack = f"rack-{'abc'[i % 3]}{i // 3 + 1}"
        family = gpu_model.split()[1].split("-")[0].lower() if gpu_model else ""  # "NVIDIA A100-SXM4-80GB": a100
        labels = ["gpu", family, "infiniband", rack] if gpu_model else ["login", rack]
        node = nodes.create_node(admin, name=name, address=address, ssh_user="deploy", ssh_credential=ssh_key,
                                 labels=labels, project=projects.get(project))
        if state != NodeState.NEW:
            probed = node_facts.parse(_probe_outputs(name, gpu_model, gpus, address))
            Node.objects.filter(pk=node.pk).update(
                state=state, facts=probed, facts_updated_at=now - timedelta(minutes=5 + i),
                last_seen=now - (timedelta(hours=3) if state == NodeState.UNREACHABLE else timedelta(minutes=i)),
                state_reason={NodeState.UNREACHABLE: "SSH: connection timed out after 10 s",
                              NodeState.MAINTENANCE: "Replacing a failed NVLink bridge"}.get(state, ""))
            HostKey.objects.create(node=node, key_type="ssh-ed25519", public_key=secrets.token_hex(32),
                                   fingerprint=f"SHA256:{secrets.token_urlsafe(32)[:43]}", state=HostKeyState.TRUSTED)
        else:
            HostKey.objects.create(node=node, key_type="ssh-ed25519", public_key=secrets.token_hex(32),
                                   fingerprint=f"SHA256:{secrets.token_urlsafe(32)[:43]}")  # pending approval
        if gpu_model:
            nodes.set_bmc(admin, node, driver="redfish", address=f"https://10.42.{suffix}", credential="bmc-admin",
                          system_id="1")
            Bmc.objects.filter(node=node).update(
                power_state="Off" if state == NodeState.MAINTENANCE else "On", polled_at=now - timedelta(seconds=40),
                health="OK" if state != NodeState.UNREACHABLE else "",
                poll_error="Redfish: connection refused" if state == NodeState.UNREACHABLE else "")
        fleet.nodes[name] = Node.objects.get(pk=node.pk)
    _job_history(fleet)
    return fleet


def _start(admin, kind: str, target=None, params=None) -> Job:
    """A job recorded as the portal records it, claimed as a worker would (no Celery here)."""
    original, jobs.enqueue = jobs.enqueue, lambda job: None
    try:
        job = jobs.start_job(admin, kind, params, target=target)
    finally:
        jobs.enqueue = original
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=now, heartbeat_at=now,
                                         worker="celery@worker-1")
    append_event(job.pk, EventKind.STATUS, "running", data={"status": JobStatus.RUNNING})
    return job


def _spread(job: Job, started, seconds: float, *, ended: bool = True) -> None:
    """Lay the events of a job that ran in milliseconds out over `seconds`, as a real run would."""
    events = list(JobEvent.objects.filter(job=job).order_by("seq"))
    for i, event in enumerate(events):
        event.timestamp = started + timedelta(seconds=seconds * i / max(1, len(events) - 1))
    JobEvent.objects.bulk_update(events, ["timestamp"])
    times = {"created_at": started - timedelta(seconds=2), "started_at": started}
    if ended:
        times["finished_at"] = started + timedelta(seconds=seconds)
    Job.objects.filter(pk=job.pk).update(**times)


def _job_history(fleet: Fleet) -> None:
    admin, now = fleet.admin, timezone.now()
    node = fleet.nodes["gpu-h100-01"]
    job = _start(admin, "nodes.probe", target=node, params={"nodes": [node.pk]})
    with JobRunner(job) as run:
        run.step("Connect over SSH", progress=10)
        run.log("deploy@10.40.1.11:22 host key SHA256 matches the trusted key", host=node.name)
        run.step("Read facts", progress=40)
        for command in node_facts.COMMANDS:
            run.log(f"{command}: ok", host=node.name)
        run.step("Store facts", progress=90)
        run.log("8 GPUs, 192 threads, 2.0 TiB memory, 2 disks, 2 NICs", host=node.name)
    finish(job.pk, JobStatus.SUCCEEDED, result={"gpu_count": 8})
    _spread(job, now - timedelta(minutes=14), 38)
    fleet.finished_job = job

    down = fleet.nodes["gpu-a100-05"]
    job = _start(admin, "nodes.test_connection", target=down, params={"nodes": [down.pk]})
    with JobRunner(job) as run:
        run.step("Connect over SSH", progress=10)
        run.log("connecting to deploy@10.40.2.15:22", host=down.name)
        run.log("no answer within 10 s", host=down.name, level="error")
    finish(job.pk, JobStatus.FAILED, error="SSH: connection timed out after 10 s (10.40.2.15:22)")
    _spread(job, now - timedelta(hours=2, minutes=7), 11)
    fleet.failed_job = job

    # A day of self-checks and probes, so the dashboard's 24 h chart has something to show.
    for hours_ago in range(1, 24, 2):
        job = _start(admin, "core.selfcheck")
        status = JobStatus.FAILED if hours_ago in (5, 17) else JobStatus.SUCCEEDED
        finish(job.pk, status, error="Redis: no answer within 2 s" if status == JobStatus.FAILED else "")
        _spread(job, now - timedelta(hours=hours_ago, minutes=hours_ago * 3), 4)


class RunningJob:
    """A power cycle that waits for its BMC while someone watches: step, log lines, and a progress
    bar that moves every second (JobRunner.waiting), until stop()."""

    def __init__(self, admin, node: Node):
        self.job = _start(admin, "nodes.power", target=node,
                          params={"node": node.pk, "action": "cycle", "deadline": 180})
        self.node = node
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"demo-job-{self.job.pk}", daemon=True)

    def start(self) -> "RunningJob":
        with JobRunner(self.job) as run:
            run.step("Check BMC reachability", progress=5)
            run.log("Redfish service root at https://10.42.1.12 answered in 84 ms", host=self.node.name)
            run.step("Power cycle", progress=20)
            run.log("POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset {ResetType: PowerCycle}",
                    host=self.node.name)
            run.log("BMC accepted the request (202)", host=self.node.name)
        _spread(self.job, timezone.now() - timedelta(seconds=9), 8, ended=False)
        self._thread.start()
        return self

    def _run(self) -> None:
        from django.db import connection

        try:
            with JobRunner(self.job) as run:
                run.step("Wait for the power state On", progress=30)
                wait = run.waiting("BMC power state On", 180, start=30, end=95)
                polls = 0
                while not self._stop.is_set():
                    wait(1.0)
                    polls += 1
                    if polls % 3 == 0:
                        run.log(f"PowerState Off (poll {polls // 3})", host=self.node.name)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

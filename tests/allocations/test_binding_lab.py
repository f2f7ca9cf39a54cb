"""Allocations bound to the real lab fleet over SSH with strict host keys:

- GPUs in the lab's Slurm cluster: the allocation becoming active queues the binding (signal after
  commit); the binding creates a Slurm reservation for the project's account `lab` and its mapped
  user on the GPUs' node (`scontrol show reservation`), a job of the project's user submitted with
  `sbatch --reservation` runs inside it, an extension moves its end, and it is gone after release;
- a standalone node (no cluster membership): the requester's SSH public key is installed for the
  allocation (a login with that key works, CUDA_VISIBLE_DEVICES is recorded) and removed after
  release (the login is refused), every other line of authorized_keys untouched; the usage of
  that allocation shows the utilization the simulated nvidia-smi gave its GPUs.
Each step leaves one audit entry and its outcome on the binding row, shown on the allocation page.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.allocations import binding, services, ssh_keys, tasks, usage
from apps.allocations.models import AllocationBinding, UserSshKey
from apps.allocations.models_binding import BindingGoal, BindingState
from apps.clusters import services as cluster_services
from apps.clusters.models import Cluster, ClusterKind, ClusterNode, ProjectAccount, SlurmUser
from apps.core.models import AuditEvent
from apps.gpus import collect, rollups
from apps.gpus.models import Gpu
from apps.nodes import ssh
from apps.rbac.models import ProjectRole
from apps.rbac.services import _set_membership, create_project
from devtools import lab_gpus

from ..labshell import lab_run as on

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")]

def can_login(host, private_key: str) -> bool:
    """A fresh connection with this key (a pooled one would outlive the key's removal)."""
    pool = ssh.SSHPool()
    try:
        return ssh.run(ssh.Endpoint(host.address, host.port, host.user), ssh.Credentials(private_key=private_key),
                       [(host.host_key_type, host.host_key)], ["true"], timeout=30, pool=pool).ok
    except ssh.SSHError:
        return False
    finally:
        pool.close_all()


def ok(inv, host, argv, timeout=90) -> str:
    result = on(inv, host, argv, timeout=timeout)
    assert result.ok, f"{argv}: exit {result.exit_status}: {result.stderr or result.stdout}"
    return result.stdout


@pytest.fixture
def team(fleet, make_user, monkeypatch):
    """A project with a data developer mapped to the lab user; binding tasks recorded, not sent."""
    project = create_project(None, "bind-team")
    dev = make_user("bind-dev")
    dev.groups.add(Group.objects.get(name="data-developer"))
    _set_membership(project, dev, ProjectRole.MEMBER)
    queued = []
    monkeypatch.setattr(tasks.bind, "delay", queued.append)
    return {"project": project, "dev": dev, "queued": queued, "admin": fleet["admin"]}


def _gpus_of(fleet, names):
    nodes = [fleet["nodes"][n] for n in names]
    counts = collect.collect(nodes, purpose="test")
    assert counts["failed"] == 0, counts
    return nodes


def _audits(allocation, action):
    return AuditEvent.objects.filter(action=action, object_id=str(allocation.pk)).count()


def test_slurm_reservation_for_an_active_allocation(slurm_lab, fleet, team, client):
    managed = slurm_lab.slurm.managed
    login = slurm_lab.slurm_login(managed)
    cluster = Cluster.objects.create(name=managed.name, kind=ClusterKind.MANAGED,
                                     controller=fleet["nodes"][managed.controller_host], reuse_config=False,
                                     reuse_munge=False, reuse_database=False, conf_path=managed.slurm_conf)
    cluster_services.discover(cluster, actor=fleet["admin"])
    ProjectAccount.objects.create(cluster=cluster, project=team["project"], account=managed.account or "lab")
    SlurmUser.objects.create(user=team["dev"], username=login.user)
    name = managed.node_names[-1]
    (node,) = _gpus_of(fleet, [name])
    assert ClusterNode.objects.filter(cluster=cluster, node=node).exists()
    assert Gpu.objects.filter(node=node).count() == managed.node(name).gpus

    allocation = services.request_allocation(team["dev"], project=team["project"], gpu_count=1, nodes=[node],
                                             duration_hours=1, purpose="bind test")
    assert allocation.state == "active" and team["queued"] == [allocation.pk]  # queued after commit
    assert binding.sync(allocation.pk) == {f"aimx-alloc-{allocation.pk}": BindingState.DONE}
    row = AllocationBinding.objects.get(allocation=allocation)
    reservation = row.name
    shown = ok(slurm_lab, login, ["scontrol", "show", "reservation", reservation, "-o"])
    assert f"ReservationName={reservation}" in shown and f"Nodes={name}" in shown
    assert "Accounts=lab" in shown and f"Users={login.user}" in shown and "MAINT" not in shown
    assert row.accounts == ["lab"] and row.users == [login.user] and _audits(allocation, "allocations.bind") == 1

    # A job of the project's user runs inside it (sbatch --wait: returns when the job ended).
    job_id = ok(slurm_lab, login, ["sbatch", "--parsable", "--wait", f"--reservation={reservation}", "-A", "lab",
                                   "-t", "1", "-o", "/dev/null", "--wrap", "true"]).strip().split(";")[0]
    job = ok(slurm_lab, login, ["scontrol", "show", "job", "-o", job_id])
    assert f"Reservation={reservation}" in job and "JobState=COMPLETED" in job and f"NodeList={name}" in job

    # Extend: the reservation's end follows.
    allocation = services.extend(team["dev"], allocation, hours=1)
    binding.sync(allocation.pk)
    end = allocation.end.strftime("%Y-%m-%dT%H:%M")
    shown = ok(slurm_lab, login, ["env", "TZ=UTC", "scontrol", "show", "reservation", reservation, "-o"])
    assert f"EndTime={end}" in shown, shown

    client.force_login(team["dev"])
    page = client.get(f"/allocations/{allocation.pk}/").content.decode()
    assert f"<code>{reservation}</code>" in page and "created on" in page

    services.release(team["dev"], allocation)
    assert team["queued"][-1] == allocation.pk
    binding.sync(allocation.pk)
    row.refresh_from_db()
    assert (row.goal, row.state) == (BindingGoal.ABSENT, BindingState.DONE) and "deleted" in row.detail
    gone = on(slurm_lab, login, ["scontrol", "show", "reservation", reservation, "-o"])
    assert f"ReservationName={reservation}" not in gone.stdout and "not found" in gone.stdout + gone.stderr
    assert _audits(allocation, "allocations.unbind") == 1


def _key_pair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public + " laptop"


def test_ssh_keys_on_a_standalone_node(lab_inventory, fleet, team, settings, client):
    host = lab_inventory.hosts[0]
    keys_file = Path(lab_inventory.client_key_path).parent / "authorized_keys"
    settings.ALLOCATION_AUTHORIZED_KEYS_FILE = str(keys_file)
    before = keys_file.read_text()
    SlurmUser.objects.create(user=team["dev"], username=host.user)  # the requester's Unix login
    private, public = _key_pair()
    line, fingerprint = ssh_keys.parse_public_key(public)
    UserSshKey.objects.create(user=team["dev"], name="laptop", public_key=line, fingerprint=fingerprint)
    (node,) = _gpus_of(fleet, [host.name])
    assert not hasattr(node, "cluster_member") or node.cluster_member is None
    assert not can_login(host, private)  # not yet allowed

    allocation = services.request_allocation(team["dev"], project=team["project"], gpu_count=2, nodes=[node],
                                             duration_hours=1)
    binding.sync(allocation.pk)
    row = AllocationBinding.objects.get(allocation=allocation)
    assert row.state == BindingState.DONE, row.detail
    indexes = sorted(Gpu.objects.filter(allocations__allocation=allocation).values_list("index", flat=True))
    assert row.devices == ",".join(map(str, indexes)) and row.login == host.user
    marked = [x for x in keys_file.read_text().splitlines() if x.endswith(f" aimx-allocation-{allocation.pk}")]
    assert marked == [f"{line} aimx-allocation-{allocation.pk}"]
    assert can_login(host, private)  # the requester logs in with their key
    client.force_login(team["dev"])
    assert f"CUDA_VISIBLE_DEVICES={row.devices}" in client.get(f"/allocations/{allocation.pk}/").content.decode()

    # Usage of this lab allocation: the simulated utilization of its GPUs, collected agentlessly.
    simulated = {indexes[0]: 30.0, indexes[1]: 70.0}
    try:
        for index, util in simulated.items():
            lab_gpus.set_gpu(lab_inventory, host.name, index, utilization_pct=util)
        time.sleep(1)  # a sample strictly inside the allocation's window
        assert collect.collect([node], purpose="test")["failed"] == 0
    finally:
        lab_gpus.reset(lab_inventory, host.name)
    rollups.roll_minutes(allocation.start - dt.timedelta(minutes=1), timezone.now() + dt.timedelta(minutes=1))
    used = usage.of_allocation(allocation)
    assert used["mean_utilization_pct"] == pytest.approx(50.0) and used["unmeasured_gpu_hours"] == 0
    assert used["used_gpu_hours"] == pytest.approx(used["allocated_gpu_hours"] * 0.5, abs=0.001)

    services.release(team["dev"], allocation)
    binding.sync(allocation.pk)
    row.refresh_from_db()
    assert (row.goal, row.state) == (BindingGoal.ABSENT, BindingState.DONE), row.detail
    assert keys_file.read_text() == before  # exactly the marked line removed
    assert not can_login(host, private)
    assert _audits(allocation, "allocations.bind") == 1 and _audits(allocation, "allocations.unbind") == 1

"""A lab for scaling tests: the lab's managed cluster registered in the portal with its two
non-controller hosts taken OUT of it (removed from the configuration, applied, slurmd stopped),
the lab's Salt master in the portal with those hosts' minion keys accepted by fingerprint, the
cluster's munge key in the vault, and the settings that hand slurm.node its lab pillar.

Teardown puts the session's lab back as other lab tests expect it: the live slurm.conf/gres.conf
restored, slurmctld restarted, every node's slurmd running and idle, the accepted minion keys
deleted and offered again (pending) by `salt.sh up`.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from apps.clusters import config_jobs, managed, services
from apps.clusters.management.commands.lab_register_clusters import managed_fields
from apps.clusters.models import Cluster, ClusterKind
from apps.jobs.execution import execute
from apps.jobs.models import Job
from apps.nodes.salt import SaltApi

from ..labshell import lab_run
from .test_apply_lab import on, wait_idle


def host(inv, name):
    return next(h for h in inv.hosts if h.name == name)


def slurmd_running(t, name) -> bool:
    """lab-slurmctl slurmd-status on that host (exit 1: not running)."""
    result = lab_run(t.inv, host(t.inv, name), ["sudo", "-n", t.lab.control["script"], "slurmd-status", name])
    return result.exit_status == 0


def run(job) -> Job:
    execute(job.pk)
    return Job.objects.get(pk=job.pk)


@pytest.fixture
def scaling_lab(slurm_lab, salt_lab, fleet, settings, lab_settings):
    from apps.clusters import lab_scaling
    from apps.nodes import salt_services
    from apps.nodes.lab_salt import register_master
    from apps.nodes.management.commands.lab_register import lab_networks
    from devtools import lab as labtool

    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab = slurm_lab.slurm.managed
    original = {path: Path(path).read_text() for path in (lab.slurm_conf, lab.gres_conf)}
    admin = fleet["admin"]
    cluster = Cluster.objects.create(name=lab.name, kind=ClusterKind.MANAGED,
                                     controller=fleet["nodes"][lab.controller_host], reuse_config=False,
                                     reuse_munge=False, reuse_database=False, **managed_fields(lab))
    services.discover(cluster)
    spare = [n for n in lab.node_names if n != lab.controller_host][:2]
    t = SimpleNamespace(lab=lab, cluster=cluster, admin=admin, nodes=fleet["nodes"], inv=slurm_lab,
                        login=slurm_lab.slurm_login(lab), spare=spare)
    salt = salt_lab.salt
    user, password = salt.credentials()
    raw_api = SaltApi(salt.api_url, user, password, salt.eauth, salt.ca_file)
    accepted = []
    try:
        # the two spare hosts leave the cluster: configuration applied, their slurmd stopped
        for member in cluster.members.filter(slurm_name__in=spare):
            managed.remove_node(admin, member)
        job = run(config_jobs.start_apply(admin, cluster))
        assert job.status == "succeeded", job.error
        for name in spare:
            on(slurm_lab, host(slurm_lab, name), lab.control["slurmd_stop"] + [name])
        # Salt: the lab master in the portal, the spare hosts' keys accepted by their fingerprints
        master = register_master(admin, salt_lab)
        salt_services.sync_keys(master, salt_services.client_for(master, actor=admin, purpose="test",
                                                                 role="admin"))
        for name in spare:
            minion = master.minions.get(minion_id=name)
            assert minion.node_id == fleet["nodes"][name].pk
            salt_services.accept_key(admin, minion, salt.minion(name).key_fingerprint)
            accepted.append(name)
        for name in spare:
            raw_api.wait_for_ping(name, timeout=60)
        t.munge_key = lab_scaling.munge_key_path(lab).read_bytes()
        t.munge_b64 = base64.b64encode(t.munge_key).decode()
        t.secret = lab_scaling.register_munge(admin, lab, lab_networks(slurm_lab)["ssh"])
        settings.SALT_PILLAR_DIR = salt.pillar_roots[0]
        settings.SLURM_NODE_PILLAR = lab_scaling.node_pillar(lab)
        settings.SCALE_IDLE_TIMEOUT = 60.0
        t.node_pillar = settings.SLURM_NODE_PILLAR
        t.master, t.salt, t.pillar_dir = master, salt, Path(salt.pillar_roots[0])
        t.lab_dir = Path(slurm_lab.lab_dir)
        yield t
    finally:
        for path, text in original.items():
            Path(path).write_text(text)
        on(slurm_lab, t.login, lab.control["restart_slurmctld"], timeout=120)
        for name in spare:
            on(slurm_lab, host(slurm_lab, name), lab.control["slurmd_start"] + [name], timeout=120)
        on(slurm_lab, t.login, lab.control["reconfigure"])
        wait_idle(t, lab.node_names, timeout=60)
        for name in accepted:  # pending again, as the session's other Salt tests expect
            if raw_api.key(name) is not None:
                raw_api.delete(name)
        if accepted:
            labtool.lab_up(("salt",), **lab_settings)

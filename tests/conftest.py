"""Shared fixtures: users, API clients, and the live worker + daphne for end-to-end tests."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from . import processes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def live_worker(django_db_setup, django_db_blocker):
    """One real Celery worker for the session, using the test database."""
    proc = processes.start_worker("suite-worker")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker):
    """Real daphne serving HTTP and websockets on the test database."""
    proc, url = processes.start_daphne("suite-daphne")
    yield url
    proc.stop()


@pytest.fixture
def make_user(django_user_model):
    def make(username, *perms, staff=False, superuser=False, password="pw-Correct-Horse-1"):
        user = django_user_model.objects.create_user(username=username, password=password,
                                                     is_staff=staff or superuser, is_superuser=superuser)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return django_user_model.objects.get(pk=user.pk)  # fresh: no cached permissions
    return make


@pytest.fixture(autouse=True)
def no_lab_networks(request, settings, tmp_path):
    """While the session's lab is up it publishes its loopback BMCs as managed networks (a file
    the suite's worker reads too); in-process tests that do not use the lab must not see them,
    or an address check would pass or fail depending on test order."""
    if "lab_inventory" not in request.fixturenames:
        settings.MANAGED_NETWORKS_DIR = tmp_path / "no-lab-networks"


@pytest.fixture
def root(make_user):
    return make_user("root", superuser=True)


@pytest.fixture
def admin(root):
    """The superuser, under the name the node and input tests use."""
    return root


@pytest.fixture
def only_networks(settings, tmp_path):
    """only_networks("10.0.0.0/8", ...): exactly these managed networks, none from a lab file of
    another test of the session; returns the settings, to change them further in the test."""
    def use(*networks):
        settings.MANAGED_NETWORKS = list(networks)
        settings.MANAGED_NETWORKS_DIR = tmp_path / "no-extra-networks"
        return settings
    return use


@pytest.fixture
def api(make_user):
    """API client factory: api(user) -> authenticated APIClient."""
    def client_for(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client
    return client_for


def wait_for(predicate, timeout=20.0, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_for_job(job_id, statuses=("succeeded", "failed", "cancelled"), timeout=30.0):
    from apps.jobs.models import Job

    return wait_for(lambda: (j := Job.objects.get(pk=job_id)).status in statuses and j,
                    timeout=timeout, message=f"job {job_id} to reach {statuses}")


LAB_PINNED = {key: os.environ[f"TEST_LAB_{key.upper()}"]
              for key in ("dir", "bridge", "subnet", "redfish_port", "ipmi_port")
              if os.environ.get(f"TEST_LAB_{key.upper()}")}


@pytest.fixture(scope="session")
def lab_settings():
    """A lab no other job on this machine uses: own directory, bridge, subnet and ports."""
    from devtools import lab

    settings = lab.unique_settings(**LAB_PINNED)
    settings.update(hosts=3, redfish_fast=1)  # power changes settle within 1 s, not 0-11 s
    return settings


@pytest.fixture(scope="session")
def lab_inventory(lab_settings, request):
    """The lab of real hosts (sshd in network namespaces), a Redfish emulator and an IPMI
    simulator, brought up by the project's own scripts and torn down at the end."""
    import shutil

    from devtools import lab

    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces, users)")
    from apps.nodes.management.commands.lab_register import lab_networks, publish_networks

    try:
        inventory = lab.lab_up(**lab_settings)
    except BaseException:
        lab.lab_down(**lab_settings)  # whatever did come up
        raise
    # The lab's BMC emulators listen on loopback: managed only while this lab is up (in-process
    # and in the suite's worker, which share the var directory).
    published = publish_networks(lab_networks(inventory), name=f"test-lab-{os.getpid()}")
    try:
        yield inventory
    finally:
        published.unlink(missing_ok=True)
        lab.lab_down(**lab_settings)
        if "dir" not in LAB_PINNED and request.session.testsfailed == 0:
            shutil.rmtree(lab_settings["dir"], ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_lab(lab_inventory, lab_settings):
    """The lab's Slurm (scripts/lab/slurm.sh) on the session's lab hosts: a managed cluster with
    slurmdbd and fake GPUs, and a two-host external cluster; `.slurm` of the returned inventory
    describes them. Up once per session (about 8 s), down at the end."""
    from devtools import lab

    try:
        inventory = lab.lab_up(("slurm",), **lab_settings)
    except BaseException:
        lab.lab_down(("slurm",), **lab_settings)  # whatever did come up
        raise
    try:
        yield inventory
    finally:
        lab.lab_down(("slurm",), **lab_settings)


@pytest.fixture(scope="session")
def salt_lab(lab_inventory, lab_settings):
    """The lab's Salt (scripts/lab/salt.sh) on the session's lab hosts: salt-master and salt-api
    (HTTPS, file eauth) on the bridge, one minion per lab host with its key PENDING; `.salt` of the
    returned inventory describes them. Up once per session (about 8 s), down at the end."""
    from devtools import lab

    try:
        inventory = lab.lab_up(("salt",), **lab_settings)
    except BaseException:
        lab.lab_down(("salt",), **lab_settings)  # whatever did come up
        raise
    try:
        yield inventory
    finally:
        lab.lab_down(("salt",), **lab_settings)


@pytest.fixture
def fleet(lab_inventory, make_user):
    from apps.keyvault.services import create_secret
    from apps.nodes import services
    from devtools.lab import _read_creds as _lab_creds

    """The lab's hosts registered as nodes with trusted host keys and vault credentials."""
    from apps.nodes.management.commands.lab_register import lab_networks

    networks = lab_networks(lab_inventory)
    admin = make_user("root", superuser=True)
    key_text = Path(lab_inventory.client_key_path).read_text()
    ssh_key = create_secret(admin, name="lab-ssh", kind="ssh_private_key", value=key_text,
                            destinations=networks["ssh"])
    nodes = {}
    for host in lab_inventory.hosts:
        nodes[host.name] = services.create_node(
            admin, name=host.name, address=host.address, ssh_port=host.port, ssh_user=host.user,
            ssh_credential=ssh_key, host_keys=[(host.host_key_type, host.host_key)])
    rf = lab_inventory.redfish
    rf_user, rf_password = _lab_creds(rf.credentials_file)
    create_secret(admin, name="lab-redfish", kind="bmc_credentials", value=f"{rf_user}:{rf_password}",
                  destinations=networks["redfish"])
    for name, system_id in rf.systems.items():
        if name != lab_inventory.ipmi.node:
            services.set_bmc(admin, nodes[name], driver="redfish", address=rf.url, credential="lab-redfish",
                             system_id=system_id, verify_tls=False)
    ip = lab_inventory.ipmi
    ipmi_user, ipmi_password = _lab_creds(ip.credentials_file)
    create_secret(admin, name="lab-ipmi", kind="bmc_credentials", value=f"{ipmi_user}:{ipmi_password}",
                  destinations=networks["ipmi"])
    services.set_bmc(admin, nodes[ip.node], driver="ipmi", address=ip.host, port=ip.port, credential="lab-ipmi")
    return {"admin": admin, "nodes": nodes, "key_text": key_text, "passwords": [rf_password, ipmi_password]}


@pytest.fixture
def external_cluster(slurm_lab, fleet):
    """The lab's external Slurm cluster with its controller host registered as a portal node (its
    own network managed while the test runs; the lab's key opens its hosts). Not connected yet."""
    from apps.keyvault.services import create_secret
    from apps.nodes import services
    from apps.nodes.management.commands.lab_register import publish_networks

    cluster = slurm_lab.slurm.external
    host = slurm_lab.slurm_login(cluster)
    networks = [f"{h.address}/32" for h in cluster.ssh_hosts]
    published = publish_networks({"ssh": networks}, name=f"test-ext-{os.getpid()}")
    admin = fleet["admin"]
    key = create_secret(admin, name="ext-ssh", kind="ssh_private_key", value=fleet["key_text"],
                        destinations=networks)
    controller = services.create_node(admin, name=host.name, address=host.address, ssh_port=host.port,
                                      ssh_user=host.user, ssh_credential=key,
                                      host_keys=[(host.host_key_type, host.host_key)])
    yield {"lab": cluster, "controller": controller, "admin": admin}
    published.unlink(missing_ok=True)


@pytest.fixture
def alert_defaults(db):
    """The seed's default alert rules as their data migration installs them. Transactional tests
    empty every table when they end (data migrations included), so tests that rely on the
    defaults install them again here, through the migration's own function."""
    from importlib import import_module

    from django.apps import apps

    import_module("apps.events.migrations.0002_default_alert_rules").install(apps, None)

"""The batch minion install without the lab: OS detection, the install plan per package source,
the parallelism bound, the settings check, the request checks (API and page, permission before
the body), the inventory mapping, and each step's refusal with a fake SSH boundary. The lab test
(test_salt_install_lab.py) drives the real thing."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.jobs.models import Job
from apps.nodes import remote, salt_enrollment, salt_install, salt_install_job
from apps.nodes.salt_install import InstallFailed, OsFamily, Step, minion_source, parse_os
from apps.nodes.salt_models import EnrollmentMethod, EnrollmentState, SaltEnrollment
from apps.nodes.services import create_node
from apps.nodes.ssh import Result

from .test_enrollment import FINGER, master  # noqa: F401  (fixture)

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n--tools--\napt-get\n'
ROCKY = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n--tools--\ndnf\nyum\n'
SLES = 'ID="sles"\nID_LIKE="suse"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\n--tools--\nzypper\n'
ALPINE = 'ID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME="Alpine Linux v3.19"\n--tools--\n'


@pytest.mark.parametrize("text,family,manager", [(DEBIAN, OsFamily.DEBIAN, "apt-get"), (ROCKY, OsFamily.RHEL, "dnf"),
                                                 (SLES, OsFamily.SUSE, "zypper"), (ALPINE, OsFamily.OTHER, None)])
def test_the_os_and_its_package_manager(text, family, manager):
    found = parse_os(text)
    assert found.family == family and found.package_manager == manager and found.pretty


def test_the_install_plan_per_source():
    debian = parse_os(DEBIAN)
    plan = salt_install.install_commands(minion_source({"kind": "packages", "version": "3007.1",
                                                        "repository": {"apt": "deb [signed-by=/k.pgp] https://r/ stable main"}}),
                                         debian)
    assert plan[0] == (["tee", "/etc/apt/sources.list.d/aimatrix-salt.list"], "deb [signed-by=/k.pgp] https://r/ stable main\n")
    assert plan[-1][0][-2:] == ["install", "salt-minion=3007.1*"]
    rocky = salt_install.install_commands(minion_source({"kind": "packages"}), parse_os(ROCKY))
    assert rocky == [(["dnf", "-y", "install", "salt-minion"], None)]
    pip = salt_install.install_commands(minion_source({"kind": "pip", "version": "3007.1", "index_url": "https://pypi.lan/simple"}),
                                        parse_os(ALPINE))
    assert pip[0][0] == ["python3", "-m", "venv", "/opt/aimatrix-salt"]
    assert pip[1][0][-3:] == ["--index-url", "https://pypi.lan/simple", "salt==3007.1"]
    assert salt_install.install_commands(minion_source({"kind": "shared", "path": "/nfs/salt/bin/salt-minion"}), debian) == []
    with pytest.raises(InstallFailed) as no_manager:
        salt_install.install_commands(minion_source({"kind": "packages"}), parse_os(ALPINE))
    assert no_manager.value.step == Step.OS and "Alpine" in str(no_manager.value)


@pytest.mark.parametrize("raw,word", [({"kind": "rpm"}, "kind"), ({"kind": "pip", "colour": 1}, "colour"),
                                      ({"kind": "shared", "path": "salt-minion"}, "path"),
                                      ({"kind": "pip", "version": "1; rm -rf /"}, "version"),
                                      ({"kind": "pip", "index_url": "https://u:p@pypi/"}, "index_url"),
                                      ({"kind": "packages", "root_dir": "rel/dir"}, "root_dir"),
                                      ({"kind": "packages", "repository": {"pacman": "x"}}, "repository")])
def test_a_wrong_minion_source_setting_is_named(raw, word):
    with pytest.raises(ImproperlyConfigured, match=word):
        minion_source(raw)


def test_dirs_and_how_the_minion_starts():
    shared = minion_source({"kind": "shared", "path": "/nfs/bin/salt-minion", "config_dir": "/run/m/{minion_id}/c",
                            "root_dir": "/run/m/{minion_id}/r"})
    argv = salt_install.bootstrap_argv(1234, "https://portal", shared, "gpu-1")
    assert argv[:2] == ["sh", "-c"] and argv[4] == "1234"
    assert argv[5:] == ["--portal", "https://portal", "--config-dir", "/run/m/gpu-1/c", "--root-dir", "/run/m/gpu-1/r",
                        "--salt-minion", "/nfs/bin/salt-minion"]
    packaged = salt_install.bootstrap_argv(1, "https://portal", minion_source({"kind": "packages"}), "gpu-1")
    assert "--salt-minion" not in packaged and "--root-dir" not in packaged  # systemd's salt-minion, /etc/salt


def test_parallelism_is_bounded_by_the_setting_the_fan_out_and_the_hosts(settings):
    settings.SALT_INSTALL_PARALLEL, settings.NODES_SSH_FANOUT = 10, 20
    assert salt_install.parallelism(3) == 3
    assert salt_install.parallelism(500) == 10
    assert salt_install.parallelism(500, 4) == 4
    settings.NODES_SSH_FANOUT = 6
    assert salt_install.parallelism(500, 50) == 6


# --- the request --------------------------------------------------------------------------
@pytest.fixture
def node(root):
    return create_node(root, name="gpu-n1", address="10.9.0.11")


def test_api_starts_the_job_and_names_bad_fields(api, root, master, node):
    r = api(root).post("/api/v1/salt/batch-install/", {"nodes": ["gpu-n1"], "parallel": 2}, format="json")
    assert r.status_code == 202, r.content
    job = Job.objects.get(pk=r.json()["job"])
    assert job.kind == "salt.batch_install" and job.params["nodes"] == [node.pk] and job.params["parallel"] == 2
    assert job.params["portal_url"] == "http://testserver" and job.params["minion_id"] == "{node}"
    for body, field in (({"nodes": ["gpu-n1"], "portal_url": "ftp://x"}, "portal_url"),
                        ({"nodes": ["gpu-n1"], "minion_id": "fixed"}, "minion_id"),
                        ({"nodes": ["nope"]}, "nodes"), ({}, "nodes"),
                        ({"nodes": ["gpu-n1"], "content": "- name: x\n", "format": "yaml"}, "nodes")):
        r = api(root).post("/api/v1/salt/batch-install/", body, format="json")
        assert r.status_code == 400 and field in r.json(), (body, r.content)


def test_no_permission_is_refused_before_the_file_is_read(api, make_user, master, node):
    user = make_user("viewer")
    r = api(user).post("/api/v1/salt/batch-install/", {"content": "{{{ not yaml", "format": "yaml"}, format="json")
    assert r.status_code == 403 and "add_saltminion" in r.json()["detail"]
    with pytest.raises(Exception, match="add_saltminion"):
        salt_install_job.nodes_from_inventory(user, "{{{", "yaml")


def test_an_inventory_uses_existing_nodes_and_imports_the_others(root, node):
    secret = "lab-ssh"
    from apps.keyvault.services import create_secret

    create_secret(root, name=secret, kind="ssh_private_key", value="-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
                  destinations=["10.9.0.0/24"])
    nodes = salt_install_job.nodes_from_inventory(
        root, "name,address,ssh_user,ssh_credential\ngpu-n1,,,\ngpu-n2,10.9.0.12,ops,lab-ssh\n", "csv")
    assert [n.name for n in nodes] == ["gpu-n1", "gpu-n2"] and nodes[0].pk == node.pk
    assert nodes[1].address == "10.9.0.12" and nodes[1].ssh_credential.name == secret
    with pytest.raises(Exception) as bad:
        salt_install_job.nodes_from_inventory(root, "- name: gpu-n3\n  address: not an address\n", "yaml")
    assert "address" in str(getattr(bad.value, "errors", bad.value))


def test_the_page_starts_the_job_or_names_what_is_missing(client, root, master, node):
    client.force_login(root)
    page = client.get("/nodes/salt/install/")
    assert page.status_code == 200 and b"Install Salt minions" in page.content and b"multipart" in page.content
    empty = client.post("/nodes/salt/install/", {"portal_url": "http://portal", "minion_id": "{node}"})
    assert empty.status_code == 400 and b"one of the two" in empty.content
    started = client.post("/nodes/salt/install/", {"nodes": [node.pk], "portal_url": "http://portal",
                                                   "minion_id": "{node}-gpu"})
    job = Job.objects.get(kind="salt.batch_install")
    assert started.status_code == 302 and started["Location"] == f"/jobs/{job.pk}/"
    assert job.params["minion_id"] == "{node}-gpu"


# --- the steps, with a fake SSH boundary ---------------------------------------------------------
class FakeHost:
    """Answers remote.run by the command's first words; records every argv and stdin."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, node, argv, *, timeout, purpose, stdin=None, actor=None, max_output=None):
        argv = argv[4:] if argv[0] == "timeout" else argv  # remote_timeout's prefix
        self.calls.append((argv, stdin))
        for prefix, answer in self.answers:
            if argv[:len(prefix)] == prefix:
                if isinstance(answer, Exception):
                    raise answer
                return Result(answer[0], answer[1], answer[2], 0.01) if isinstance(answer, tuple) else answer(argv, stdin)
        return Result(0, "", "", 0.01)


def install(actor, node, master, monkeypatch, answers, source=None):
    fake = FakeHost(answers)
    monkeypatch.setattr(remote, "run", fake)
    steps = []
    try:
        return salt_install.install_one(node, actor=actor, master=master, minion_id=node.name, portal_url="http://portal",
                                        source=source or minion_source({"kind": "packages"}), purpose="test",
                                        log=lambda step, message: steps.append((step, message))), fake, steps
    except InstallFailed as exc:
        return exc, fake, steps


def test_each_step_stops_with_its_reason(root, master, node, monkeypatch):
    unreachable = [(["true"], remote.NodeUnavailable("gpu-n1: connection refused"))]
    exc, fake, steps = install(root, node, master, monkeypatch, unreachable)
    assert exc.step == Step.CONNECT and "connection refused" in str(exc) and steps == []

    no_sudo = [(["sudo", "-n", "true"], (1, "", "sudo: a password is required"))]
    exc, *_ = install(root, node, master, monkeypatch, no_sudo)
    assert exc.step == Step.SUDO and "password is required" in str(exc)

    alpine = [(["sh", "-c", salt_install.OS_PROBE[2]], (0, ALPINE, "")),
              (["sudo", "-n", "salt-minion", "--version"], (127, "", "not found"))]
    exc, *_ = install(root, node, master, monkeypatch, alpine)
    assert exc.step == Step.OS and "Alpine" in str(exc)

    broken_repo = [(["sh", "-c", salt_install.OS_PROBE[2]], (0, DEBIAN, "")),
                   (["sudo", "-n", "salt-minion", "--version"], (127, "", "not found")),
                   (["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "install"],
                    (100, "", "E: Unable to locate package salt-minion"))]
    exc, fake, steps = install(root, node, master, monkeypatch, broken_repo)
    assert exc.step == Step.INSTALL and "Unable to locate package salt-minion" in str(exc) and "apt-get" in str(exc)
    assert [s for s, _ in steps] == [Step.CONNECT, Step.SUDO, Step.OS, Step.INSTALL]  # the update ran


def test_the_bootstrap_gets_the_script_and_token_on_stdin_and_a_failure_closes_the_enrollment(root, master, node,
                                                                                              monkeypatch):
    tokens = []
    issue = salt_enrollment.issue
    monkeypatch.setattr(salt_enrollment, "issue", lambda *a, **k: tokens.append(out := issue(*a, **k)) or out)
    answers = [(["sh", "-c", salt_install.OS_PROBE[2]], (0, DEBIAN, "")),
               (["sudo", "-n", "salt-minion", "--version"], (0, "salt-minion 3007.1 (Chlorine)", "")),
               (["sh", "-c", salt_install.RUN_BOOTSTRAP], (1, "", "salt-bootstrap: portal unreachable"))]
    exc, fake, steps = install(root, node, master, monkeypatch, answers)
    assert exc.step == Step.ENROLL and "portal unreachable" in str(exc)
    argv, stdin = next(c for c in fake.calls if c[0][:2] == ["sh", "-c"] and c[0][2] == salt_install.RUN_BOOTSTRAP)
    token = tokens[0]["token"]
    script = salt_install.BOOTSTRAP.read_bytes()
    assert stdin == script + f"{token}\n".encode() and argv[4] == str(len(script))
    assert not any(token in " ".join(a) for a, _ in fake.calls)  # never in any command's arguments
    assert steps[3] == (Step.INSTALL, "salt-minion 3007.1 is installed already")
    enrollment = SaltEnrollment.objects.get()
    assert enrollment.method == EnrollmentMethod.BATCH and enrollment.state == EnrollmentState.FAILED


def test_a_batch_enrollment_report_starts_no_separate_acceptance_job(root, master, node):
    out = salt_enrollment.issue(root, node, master=master, method=EnrollmentMethod.BATCH)
    body = salt_enrollment.redeem(out["token"], __import__("time").time(), "10.9.0.11")
    enrollment, job = salt_enrollment.report(body["report_token"], FINGER, "10.9.0.11")
    assert job is None and enrollment.state == EnrollmentState.REPORTED
    assert not Job.objects.filter(kind="salt.accept_enrolled").exists()


@pytest.mark.django_db(transaction=True)
def test_no_database_connection_is_held_through_an_ssh_command(root, monkeypatch):
    """A fan-out thread waiting on SSH (an install can take minutes) holds no database connection:
    with the pool, three install threads and a pool of 4 starved each other (a host failed with
    `couldn't get a connection after 10 s`). Inside a transaction nothing is released."""
    from django.db import connection, transaction

    from apps.keyvault.services import create_secret
    from apps.nodes import ssh

    key = create_secret(root, name="k", kind="ssh_private_key", value="-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
                        destinations=["10.9.0.0/24"])
    node = create_node(root, name="gpu-n9", address="10.9.0.19", ssh_credential=key)
    held = []

    def fake_run(endpoint, creds, trusted, argv, **kw):
        held.append(connection.connection is not None)
        return Result(0, "", "", 0.01)

    monkeypatch.setattr(ssh, "run", fake_run)
    remote.run(node, ["true"], timeout=5, purpose="test")
    with transaction.atomic():
        remote.run(node, ["true"], timeout=5, purpose="test")
    assert held == [False, True]
    assert node.__class__.objects.get(pk=node.pk).last_seen is not None  # and it reconnects afterwards


def test_the_node_list_bulk_bar_opens_the_install_page_with_the_nodes_chosen(client, root, master, node):
    other = create_node(root, name="gpu-n2", address="10.9.0.12")
    client.force_login(root)
    listing = client.get("/nodes/")
    assert b"Install Salt minions" in listing.content
    bulk = client.post("/nodes/actions/", {"action": "salt-install", "pk": [node.pk, other.pk]})
    assert bulk.status_code == 302 and bulk["Location"] == f"/nodes/salt/install/?nodes={node.pk}&nodes={other.pk}"
    page = client.get(bulk["Location"])
    chosen = {int(v) for v in page.context["form"].initial["nodes"]}
    assert chosen == {node.pk, other.pk}
    assert f'<option value="{node.pk}" selected>'.encode() in page.content

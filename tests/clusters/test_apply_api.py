"""Managed-cluster configuration through the API: partitions and member nodes (permission,
validation naming the field, one audit entry each), the rendered config and its diff (the live
files read through a fake controller client), apply as a job, and what is refused."""
from __future__ import annotations

import pytest

from apps.clusters import connection
from apps.clusters.models import ClusterNode, Partition
from apps.core.models import AuditEvent
from apps.jobs.models import Job
from apps.nodes.models import Node
from apps.nodes.ssh import Result

from .ops_fixtures import cluster, member, no_enqueue, project, sre  # noqa: F401
from .payloads import SCONTROL, SHELL

pytestmark = pytest.mark.django_db

BASE = "SlurmctldHost=ctl-1(10.0.0.1)\nSelectType=select/cons_tres\n"


class FakeController:
    """The controller's files as `cat` shows them; records every other command (none expected)."""

    timeout = 30

    def __init__(self, files):
        self.files, self.commands = files, []

    def command(self, argv, *, stdin=None, timeout=None, ok_status=(0,)):
        if argv[:2] == ["cat", "--"] and argv[2] in self.files:
            return Result(0, self.files[argv[2]], "", 0.0)
        if argv[:2] == ["cat", "--"]:
            return Result(1, "", f"cat: {argv[2]}: No such file or directory", 0.0)
        self.commands.append(argv)
        return Result(0, "", "", 0.0)


@pytest.fixture
def managed(cluster, tmp_path, monkeypatch):  # noqa: F811
    base = tmp_path / "base.conf"
    base.write_text(BASE)
    cluster.reuse_config = False
    cluster.base_config_path = str(base)
    cluster.save()
    Partition.objects.create(cluster=cluster, name="batch", nodes=["lab-node1", "lab-node10"], is_default=True)
    controller = FakeController({"/etc/slurm/slurm.conf": "ClusterName=opstest\n"})
    monkeypatch.setattr(connection, "controller_client", lambda *a, **kw: controller)
    cluster.fake = controller
    return cluster


def post(api, user, url, body):
    return api(user).post(url, body, format="json")


def test_partition_is_added_audited_once_and_rendered_in_the_diff(api, sre, managed):
    resp = post(api, sre, f"/api/v1/clusters/{managed.pk}/partitions/",
                {"name": "gpu", "nodes": ["lab-node10"], "max_time": "2-00:00:00", "allow_accounts": ["ml"],
                 "options": {"maxnodes": "1"}})
    assert resp.status_code == 201, resp.content
    assert resp.json()["options"] == {"MaxNodes": "1"}
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["cluster.partition.create"]

    config = api(sre).get(f"/api/v1/clusters/{managed.pk}/config/").json()
    assert "+PartitionName=gpu Nodes=lab-node10 Default=NO MaxTime=2-00:00:00 State=UP AllowAccounts=ml " \
           "MaxNodes=1\n" in config["slurm_conf_diff"]
    assert "+PartitionName=batch Nodes=lab-node[1,10] Default=YES" in config["slurm_conf_diff"]
    assert "+NodeName=lab-node1 NodeAddr=10.0.0.2 " in config["slurm_conf_diff"]
    assert config["live_missing"] == ["/etc/slurm/gres.conf"]
    assert config["action"] == "restart" and config["restart_reasons"][0] == "nodes added: lab-node1, lab-node10"
    assert "NodeName=lab-node10 Name=gpu File=/dev/nvidia[0-1]" in config["gres_conf"]
    assert managed.fake.commands == []  # reading wrote nothing
    assert AuditEvent.objects.count() == 1


def test_dry_run_answers_the_diff_and_starts_nothing(api, sre, managed):
    resp = post(api, sre, f"/api/v1/clusters/{managed.pk}/config/apply/", {"dry_run": True})
    assert resp.status_code == 200 and resp.json()["changed"] is True
    assert not Job.objects.exists() and not AuditEvent.objects.exists() and managed.fake.commands == []


def test_apply_starts_one_job_with_one_audit_entry(api, sre, managed, no_enqueue):
    resp = post(api, sre, f"/api/v1/clusters/{managed.pk}/config/apply/", {})
    assert resp.status_code == 202, resp.content
    job = Job.objects.get(pk=resp.json()["job"])
    assert (job.kind, job.params, job.queue) == ("clusters.apply_config", {"cluster": managed.pk}, "slurm")
    entry = AuditEvent.objects.get()
    assert entry.action == "cluster.config.apply" and entry.changes["after"]["job"] == job.pk


@pytest.mark.parametrize("field, value", [("name", v) for v in SHELL + SCONTROL + ["batch\n", "DEFAULT", "root"]] + [
    ("max_time", "60 State=DOWN"), ("max_time", "60\nNodeName=x"), ("state", "UP Default=YES"),
    ("nodes", ["lab-node1 Default=YES"]), ("nodes", ["lab-node"]), ("nodes", ["lab-node[1-10]"]),
    ("allow_accounts", ["ml,root"]), ("allow_qos", ["q=1"]),
    ("options", {"Nodes": "ALL"}), ("options", {"MaxNodes": "1 Default=YES"}), ("options", {"Hidden\nX": "1"}),
    ("options", {"MaxNodes": "1\nPartitionName=evil"}), ("options", {"MaxNodes": "#"}),
])
def test_injection_in_partition_fields_is_refused_naming_the_field(api, sre, managed, field, value):
    body = {"name": "gpu", field: value}
    resp = post(api, sre, f"/api/v1/clusters/{managed.pk}/partitions/", body)
    assert resp.status_code == 400, (field, value, resp.content)
    assert list(resp.json()) == [field]
    assert Partition.objects.count() == 1 and not AuditEvent.objects.exists()


def test_removing_lab_node1_keeps_lab_node10_everywhere(api, sre, managed):
    member1 = ClusterNode.objects.get(cluster=managed, slurm_name="lab-node1")
    resp = api(sre).delete(f"/api/v1/clusters/members/{member1.pk}/")
    assert resp.status_code == 204, resp.content
    assert Partition.objects.get(name="batch").nodes == ["lab-node10"]
    assert list(managed.members.values_list("slurm_name", flat=True)) == ["lab-node10"]
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["cluster.node.remove"]
    conf = api(sre).get(f"/api/v1/clusters/{managed.pk}/config/").json()["slurm_conf"]
    assert "NodeName=lab-node10 " in conf and "NodeName=lab-node1 " not in conf
    assert "PartitionName=batch Nodes=lab-node10 " in conf


def test_node_is_added_with_hardware_from_its_facts(api, sre, managed, project):
    node = Node.objects.create(name="gpu-new", address="10.0.0.9", project=project,
                               facts={"cpu_sockets": 2, "cpu_cores": 16, "cpu_threads": 32,
                                      "memory_bytes": 64 * 2**30})
    resp = post(api, sre, f"/api/v1/clusters/{managed.pk}/nodes/", {"node": node.pk, "partitions": ["batch"]})
    assert resp.status_code == 201, resp.content
    row = resp.json()
    assert (row["cpus"], row["sockets"], row["cores_per_socket"], row["threads_per_core"]) == (32, 2, 8, 2)
    assert row["real_memory_mb"] == int(64 * 1024 * 0.95)
    assert Partition.objects.get(name="batch").nodes == ["lab-node1", "lab-node10", "gpu-new"]
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["cluster.node.add"]
    again = post(api, sre, f"/api/v1/clusters/{managed.pk}/nodes/", {"node": node.pk})
    assert again.status_code == 400 and list(again.json()) == ["node"]


def test_a_reuse_config_cluster_is_never_rendered_or_written(api, sre, managed):
    managed.reuse_config = True
    managed.save()
    for resp in (api(sre).get(f"/api/v1/clusters/{managed.pk}/config/"),
                 post(api, sre, f"/api/v1/clusters/{managed.pk}/config/apply/", {}),
                 post(api, sre, f"/api/v1/clusters/{managed.pk}/partitions/", {"name": "gpu"})):
        assert resp.status_code == 400 and list(resp.json()) == ["reuse_config"], resp.content
    assert not Job.objects.exists() and not AuditEvent.objects.exists() and managed.fake.commands == []


def test_a_project_member_sees_partitions_but_changes_nothing(api, member, managed):
    assert api(member).get(f"/api/v1/clusters/{managed.pk}/partitions/").status_code == 200
    partition = Partition.objects.get(name="batch")
    for resp in (api(member).get(f"/api/v1/clusters/{managed.pk}/config/"),
                 post(api, member, f"/api/v1/clusters/{managed.pk}/config/apply/", {}),
                 post(api, member, f"/api/v1/clusters/{managed.pk}/partitions/", {"name": "gpu"}),
                 api(member).patch(f"/api/v1/clusters/partitions/{partition.pk}/", {"state": "DOWN"}, format="json"),
                 api(member).delete(f"/api/v1/clusters/partitions/{partition.pk}/")):
        assert resp.status_code == 403, resp.content
    assert not AuditEvent.objects.exists() and Partition.objects.get(pk=partition.pk).state == "UP"


def test_broken_base_template_is_refused_before_any_job(api, sre, managed, tmp_path):
    (tmp_path / "base.conf").write_text(BASE + "NodeName=sneaky CPUs=1\n")
    resp = post(api, sre, f"/api/v1/clusters/{managed.pk}/config/apply/", {})
    assert resp.status_code == 400 and list(resp.json()) == ["base_config_path"]
    assert "line 3" in resp.json()["base_config_path"][0] and not Job.objects.exists()


def test_a_second_apply_while_one_is_queued_is_refused(api, sre, managed, no_enqueue):
    first = post(api, sre, f"/api/v1/clusters/{managed.pk}/config/apply/", {})
    assert first.status_code == 202
    second = post(api, sre, f"/api/v1/clusters/{managed.pk}/config/apply/", {})
    assert second.status_code == 409 and f"#{first.json()['job']}" in second.json()["detail"]
    assert Job.objects.count() == 1 and AuditEvent.objects.count() == 1


@pytest.mark.parametrize("pattern", ["/dev/nvidia0", "/dev/{node} Name=x/{index}", "dev/nvidia{index}",
                                     "/dev/nvidia{index}\nNodeName=x", "/dev/../{index}", "/dev/{{index}}"])
def test_gres_file_pattern_is_checked_when_set(api, sre, managed, pattern):
    resp = api(sre).patch(f"/api/v1/clusters/{managed.pk}/", {"gres_file_pattern": pattern}, format="json")
    assert resp.status_code == 400 and list(resp.json()) == ["gres_file_pattern"], resp.content


def test_gres_file_pattern_reaches_gres_conf(api, sre, managed):
    resp = api(sre).patch(f"/api/v1/clusters/{managed.pk}/", {"gres_file_pattern": "/lab/dev/{node}/nvidia{index}"},
                          format="json")
    assert resp.status_code == 200, resp.content
    gres = api(sre).get(f"/api/v1/clusters/{managed.pk}/config/").json()["gres_conf"]
    assert "NodeName=lab-node10 Name=gpu File=/lab/dev/lab-node10/nvidia[0-1]" in gres.splitlines()

"""Configuration pages of a managed cluster: the diff, a confirmed apply starting the job, the
partition form (errors next to the field), adding and removing a node; who may not manage the
cluster gets 403."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.clusters.models import ClusterNode, Partition
from apps.core.models import AuditEvent
from apps.jobs.models import Job
from apps.nodes.models import Node

from .ops_fixtures import cluster, member, no_enqueue, project, sre  # noqa: F401
from .test_apply_api import managed  # noqa: F401

pytestmark = pytest.mark.django_db


def audit():
    return AuditEvent.objects.exclude(action__startswith="auth.")  # force_login records the sign-in


def client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_config_page_shows_the_diff_and_the_rows(sre, managed):  # noqa: F811
    page = client(sre).get(f"/clusters/{managed.pk}/config/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="slurm-conf-diff"' in text and "+PartitionName=batch Nodes=lab-node[1,10] Default=YES" in text
    assert "restart slurmctld" in text and 'id="config-partitions"' in text and "lab-node10" in text
    detail = client(sre).get(f"/clusters/{managed.pk}/").content.decode()
    assert f'href="/clusters/{managed.pk}/config/"' in detail


def test_apply_asks_first_then_starts_the_job(sre, managed, no_enqueue):  # noqa: F811
    c = client(sre)
    ask = c.get(f"/clusters/{managed.pk}/config/apply/")
    assert ask.status_code == 200 and "backed up and replaced" in ask.content.decode()
    assert not Job.objects.exists()
    done = c.post(f"/clusters/{managed.pk}/config/apply/", {"confirm": "yes"})
    job = Job.objects.get(kind="clusters.apply_config")
    assert done.status_code == 302 and done["Location"] == f"/jobs/{job.pk}/"
    assert list(audit().values_list("action", flat=True)) == ["cluster.config.apply"]


def test_partition_form_names_the_bad_field_then_saves(sre, managed):  # noqa: F811
    c = client(sre)
    url = f"/clusters/{managed.pk}/partitions/add/"
    bad = c.post(url, {"name": "gpu", "max_time": "60", "state": "UP", "options": "MaxNodes=1 Default=YES"})
    assert bad.status_code == 400 and bad.context["form"].errors.keys() == {"options"}
    good = c.post(url, {"name": "gpu", "max_time": "60", "state": "UP", "nodes": ["lab-node10"],
                        "allow_accounts": "ml, cv", "options": "MaxNodes=1"})
    assert good.status_code == 302, good.content
    p = Partition.objects.get(name="gpu")
    assert (p.nodes, p.allow_accounts, p.options) == (["lab-node10"], ["ml", "cv"], {"MaxNodes": "1"})
    edit = c.post(f"/clusters/partitions/{p.pk}/edit/", {"name": "gpu", "max_time": "2:00:00", "state": "DRAIN",
                                                          "nodes": ["lab-node1"], "is_default": "on"})
    assert edit.status_code == 302
    p.refresh_from_db()
    assert (p.max_time, p.state, p.nodes, p.is_default) == ("2:00:00", "DRAIN", ["lab-node1"], True)
    assert not Partition.objects.get(name="batch").is_default  # one default
    assert list(audit().values_list("action", flat=True).order_by("pk")) == [
        "cluster.partition.create", "cluster.partition.update"]


def test_add_and_remove_a_node(sre, managed, project):  # noqa: F811
    c = client(sre)
    node = Node.objects.create(name="gpu-new", address="10.0.0.9", project=project)
    added = c.post(f"/clusters/{managed.pk}/nodes/add/", {"node": node.pk, "partitions": ["batch"], "cpus": "8",
                                                          "sockets": "1", "cores_per_socket": "8",
                                                          "threads_per_core": "1"})
    assert added.status_code == 302, added.content
    member_row = ClusterNode.objects.get(slurm_name="gpu-new")
    assert member_row.cpus == 8 and "gpu-new" in Partition.objects.get(name="batch").nodes
    ask = c.get(f"/clusters/members/{member_row.pk}/remove/")
    assert ask.status_code == 200 and "Exactly gpu-new" in ask.content.decode()
    gone = c.post(f"/clusters/members/{member_row.pk}/remove/", {"confirm": "yes"})
    assert gone.status_code == 302 and not ClusterNode.objects.filter(slurm_name="gpu-new").exists()
    assert Partition.objects.get(name="batch").nodes == ["lab-node1", "lab-node10"]


def test_a_project_member_gets_403_everywhere(member, managed):  # noqa: F811
    c = client(member)
    p = Partition.objects.get(name="batch")
    m = ClusterNode.objects.get(slurm_name="lab-node1")
    for url in (f"/clusters/{managed.pk}/config/", f"/clusters/{managed.pk}/config/apply/",
                f"/clusters/{managed.pk}/partitions/add/", f"/clusters/partitions/{p.pk}/edit/",
                f"/clusters/partitions/{p.pk}/delete/", f"/clusters/{managed.pk}/nodes/add/",
                f"/clusters/members/{m.pk}/remove/"):
        assert c.get(url).status_code == 403, url
    assert c.post(f"/clusters/members/{m.pk}/remove/", {"confirm": "yes"}).status_code == 403
    assert ClusterNode.objects.filter(pk=m.pk).exists() and not audit().exists()

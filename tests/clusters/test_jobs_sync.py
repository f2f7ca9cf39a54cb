"""Queue sync: real `scontrol show job -d -o` and `sacct` output (captured from Slurm 22.05) into
SlurmJob rows; incremental (unchanged rows are not written), project mapping by account, jobs
that left the queue settled from sacct or, without accounting, as UNKNOWN."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.clusters import jobs_sync
from apps.clusters.models import Cluster, ProjectAccount, SlurmJob, SlurmJobState
from apps.clusters.slurm import parsers
from apps.clusters.slurm.records import JobState
from apps.nodes.models import Node
from apps.rbac.services import create_project
from tests.clusters.samples import sample

pytestmark = pytest.mark.django_db


class FakeClient:
    """The Slurm client's boundary (queue, job_details, nodes, history) returning captured real
    output; queue() leaves out what squeue does not print (GPU indexes, output file)."""

    def __init__(self, jobs, acct=()):
        self.jobs, self.acct, self.history_calls, self.detail_calls = list(jobs), list(acct), [], []

    def queue(self, **kw):
        return [dataclasses.replace(j, gpu_indexes={}, stdout_path="", work_dir="") for j in self.jobs]

    def job_details(self, job_id=None):
        self.detail_calls.append(job_id)
        return [j for j in self.jobs if job_id is None or j.job_id == job_id]

    def nodes(self):
        return parsers.nodes(sample("scontrol_show_node_22.05.txt"))

    def history(self, start, end=None, *, job_ids=None, **kw):
        self.history_calls.append(job_ids)
        return [row for row in self.acct if job_ids is None or row.job_id in job_ids]


def queue():
    return parsers.jobs(sample("scontrol_show_job_d_22.05.txt"))


def acct():
    return parsers.sacct(sample("sacct_22.05.txt"))


@pytest.fixture
def cluster():
    node = Node.objects.create(name="ctl", address="10.9.0.1")
    return Cluster.objects.create(name="c1", controller=node,
                                  config_snapshot={"AccountingStorageType": "accounting_storage/slurmdbd"})


def test_first_sync_creates_every_job_with_gpus_and_the_project_of_its_account(cluster):
    physics = create_project(None, "physics")
    ProjectAccount.objects.create(cluster=cluster, project=physics, account="physics")
    result = jobs_sync.apply_queue(cluster, queue(), client=FakeClient(queue()))
    assert (result["seen"], result["created"], result["updated"]) == (6, 6, 0)
    rows = {r.job_id: r for r in SlurmJob.objects.filter(cluster=cluster)}
    assert rows["1"].state == SlurmJobState.RUNNING and rows["1"].gpu_indexes == {"lab-node10": [0, 1]}
    assert rows["1"].gpus == 2 and rows["1"].started_at is not None and rows["1"].ended_at is None
    assert rows["2"].state == SlurmJobState.PENDING and rows["2"].started_at is None
    assert rows["5"].state == SlurmJobState.COMPLETED and rows["5"].ended_at is not None
    assert {r.project_id for r in rows.values()} == {physics.pk}
    assert [r.job_id for r in result["ended"]] == ["5", "6"]
    cluster.refresh_from_db()
    assert cluster.summary["queue_length"] == 4  # 2 running + 2 pending; the ended two are not the queue


def test_an_unchanged_queue_writes_no_row(cluster):
    jobs_sync.apply_queue(cluster, queue(), client=FakeClient(queue()))
    with CaptureQueriesContext(connection) as queries:
        result = jobs_sync.apply_queue(cluster, queue(), client=FakeClient(queue()))
    assert (result["created"], result["updated"], result["settled"]) == (0, 0, 0)
    writes = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE \"clusters_slurmjob\""))]
    assert writes == []


def test_only_the_changed_job_is_updated_and_portal_columns_survive(cluster, make_user):
    jobs_sync.apply_queue(cluster, queue(), client=FakeClient(queue()))
    owner = make_user("alice")
    SlurmJob.objects.filter(cluster=cluster, job_id="2").update(submitted_by=owner, script="#!/bin/sh\n")
    changed = [dataclasses.replace(j, state=JobState.RUNNING, reason="None", nodes=["lab-node1"],
                                   gpu_indexes={"lab-node1": [1]}) if j.job_id == "2" else j for j in queue()]
    result = jobs_sync.apply_queue(cluster, changed, client=FakeClient(changed))
    assert (result["created"], result["updated"]) == (0, 1)
    row = SlurmJob.objects.get(cluster=cluster, job_id="2")
    assert row.state == SlurmJobState.RUNNING and row.gpu_indexes == {"lab-node1": [1]}
    assert row.submitted_by == owner and row.script == "#!/bin/sh\n"


def test_a_job_that_left_the_queue_takes_its_final_state_from_sacct(cluster):
    jobs_sync.apply_queue(cluster, queue(), client=FakeClient(queue()))
    remaining = [j for j in queue() if j.job_id != "3"]
    client = FakeClient(remaining, acct())
    result = jobs_sync.apply_queue(cluster, remaining, client=client)
    assert client.history_calls == [["3"]]  # only the job that left is asked for
    row = SlurmJob.objects.get(cluster=cluster, job_id="3")
    assert row.state == SlurmJobState.CANCELLED and row.ended_at is not None
    assert [r.job_id for r in result["ended"]] == ["3"]


def test_sacct_a_second_late_keeps_the_job_then_unknown_after_the_grace(cluster, settings):
    jobs_sync.apply_queue(cluster, queue(), client=FakeClient(queue()))
    remaining = [j for j in queue() if j.job_id != "1"]
    late = FakeClient(remaining, acct=[])
    jobs_sync.apply_queue(cluster, remaining, client=late)
    row = SlurmJob.objects.get(cluster=cluster, job_id="1")
    assert row.state == SlurmJobState.RUNNING and row.reason == jobs_sync.WAITING_FOR_ACCOUNTING
    jobs_sync.apply_queue(cluster, remaining, client=late)  # still within the grace: untouched
    assert SlurmJob.objects.get(cluster=cluster, job_id="1").state == SlurmJobState.RUNNING
    later = timezone.now() + dt.timedelta(seconds=settings.SLURM_SYNC_ACCOUNTING_GRACE + 1)
    jobs_sync.apply_queue(cluster, remaining, client=late, now=later)
    assert SlurmJob.objects.get(cluster=cluster, job_id="1").state == SlurmJobState.UNKNOWN


def test_without_accounting_a_job_that_left_is_unknown_at_once(cluster):
    cluster.config_snapshot = {"AccountingStorageType": "accounting_storage/none"}
    cluster.save()
    jobs_sync.apply_queue(cluster, queue(), client=FakeClient(queue()))
    remaining = [j for j in queue() if j.job_id != "1"]
    client = FakeClient(remaining, acct())
    jobs_sync.apply_queue(cluster, remaining, client=client)
    assert client.history_calls == []
    row = SlurmJob.objects.get(cluster=cluster, job_id="1")
    assert row.state == SlurmJobState.UNKNOWN and "no accounting" in row.reason


def test_sync_all_reports_a_failing_cluster_and_syncs_the_others(cluster, monkeypatch):
    from apps.clusters.slurm.errors import TransportError

    other = Cluster.objects.create(name="c2", controller=Node.objects.create(name="ctl2", address="10.9.0.2"))

    def client_for(c):
        if c.pk == other.pk:
            class Broken(FakeClient):
                def queue(self, **kw):
                    raise TransportError("ctl2: connection refused")
            return Broken([])
        return FakeClient(queue())

    monkeypatch.setattr(jobs_sync, "sync_client", client_for)
    result = jobs_sync.sync_all(concurrency=1)
    assert result["c2"] == {"error": "ctl2: connection refused"}
    assert result["c1"]["created"] == 6
    assert SlurmJob.objects.filter(cluster=cluster).count() == 6


def test_a_pending_job_s_requested_node_range_is_read_as_its_lower_bound(cluster):
    """`sbatch --nodes=2` shows NumNodes=2-2 (and NumCPUs=2-2) while pending (seen on the lab's 22.05)."""
    text = sample("scontrol_show_job_d_22.05.txt").splitlines()[1]
    assert " NumNodes=1 " in text
    pending = parsers.jobs(text.replace(" NumNodes=1 ", " NumNodes=2-2 ").replace(" NumCPUs=1 ", " NumCPUs=2-4 "))
    jobs_sync.apply_queue(cluster, pending, client=FakeClient(pending))
    row = SlurmJob.objects.get(cluster=cluster, job_id="2")
    assert (row.num_nodes, row.cpus, row.state) == (2, 2, SlurmJobState.PENDING)


@pytest.mark.django_db(transaction=True)
def test_sync_all_runs_clusters_in_parallel_threads(monkeypatch):
    """Each cluster in its own thread with its own database connection; a slow one is reported
    late without holding back the answer."""
    import threading

    release = threading.Event()
    fast = Cluster.objects.create(name="fast", controller=Node.objects.create(name="f", address="10.9.3.1"))
    slow = Cluster.objects.create(name="slow", controller=Node.objects.create(name="s", address="10.9.3.2"))

    class Slow(FakeClient):
        def queue(self, **kw):
            release.wait(10)
            return []

    monkeypatch.setattr(jobs_sync, "sync_client", lambda c: Slow([]) if c.pk == slow.pk else FakeClient(queue()))
    try:
        result = jobs_sync.sync_all(concurrency=2, budget=2)
    finally:
        release.set()
        # the late thread finishes on its own: let it, before the test's tables are flushed
        for thread in [t for t in threading.enumerate() if t.name.startswith("queue-sync")]:
            thread.join(10)
    assert result["fast"]["created"] == 6 and SlurmJob.objects.filter(cluster=fast).count() == 6
    assert result["slow"] == {"error": "still running after 2 s"}


def test_a_finished_job_keeps_the_gpus_it_held_when_its_record_no_longer_lists_them(cluster):
    jobs_sync.apply_queue(cluster, queue(), client=FakeClient(queue()))
    completing = [dataclasses.replace(j, state=JobState.COMPLETING, gpu_indexes={}) if j.job_id == "1" else j
                  for j in queue()]
    jobs_sync.apply_queue(cluster, completing, client=FakeClient(completing))
    assert SlurmJob.objects.get(cluster=cluster, job_id="1").gpu_indexes == {"lab-node10": [0, 1]}
    done = [dataclasses.replace(j, state=JobState.COMPLETED, gpu_indexes={}) if j.job_id == "1" else j
            for j in queue()]
    result = jobs_sync.apply_queue(cluster, done, client=FakeClient(done))
    row = SlurmJob.objects.get(cluster=cluster, job_id="1")
    assert row.state == SlurmJobState.COMPLETED and row.gpu_indexes == {"lab-node10": [0, 1]}
    assert [r.job_id for r in result["ended"]] == ["1"]


def test_a_sync_reads_details_only_of_running_gpu_jobs_it_lacks_and_keeps_them(cluster):
    """squeue prints no GPU indexes or output file: they are read once per running GPU job (one
    `scontrol show job -d` each) and kept by later syncs; node states come on the same cycle."""
    from apps.clusters.models import ClusterNode

    jobs = queue()
    gpu_running = sorted(j.job_id for j in jobs if j.state.value == "RUNNING" and j.gpus)
    assert gpu_running, "the sample has a running GPU job"
    for sn in parsers.nodes(sample("scontrol_show_node_22.05.txt")):
        ClusterNode.objects.create(cluster=cluster, slurm_name=sn.name)
    client = FakeClient(jobs)
    result = jobs_sync.sync_cluster(cluster, client=client)
    assert sorted(client.detail_calls) == gpu_running and result["details_read"] == len(gpu_running)
    for job_id in gpu_running:
        row = SlurmJob.objects.get(cluster=cluster, job_id=job_id)
        assert row.gpu_indexes and row.stdout_path
    assert result["nodes_changed"] == ClusterNode.objects.filter(cluster=cluster).count()
    assert ClusterNode.objects.exclude(state="").count() == ClusterNode.objects.count()
    cluster.refresh_from_db()
    assert cluster.summary["nodes"] and cluster.samples.count() == 1
    again = FakeClient(jobs)
    jobs_sync.sync_cluster(cluster, client=again)
    assert again.detail_calls == []  # known now: no detail read
    assert all(SlurmJob.objects.get(cluster=cluster, job_id=j).gpu_indexes for j in gpu_running)

"""Rows for the query-budget tests: n finished workflow runs (jobs of the workflow kinds)."""
from apps.jobs.models import Job, JobStatus


def workflow_runs(n, start, user):
    Job.objects.bulk_create([Job(kind="workflows.deploy" if i % 2 else "workflows.cleanup", status=JobStatus.FAILED,
                                 requester=user, params={"node": i, "cluster": 1}, target_repr=f"node-{i}",
                                 error="budget row") for i in range(start, start + n)])

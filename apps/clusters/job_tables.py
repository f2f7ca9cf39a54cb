"""Tables of the Slurm job pages (the queue, templates); values come from the last sync only."""
import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from apps.core.tables import KitTable, TimeColumn

from .models import JobTemplate, SlurmJob, SlurmJobState

STATE_TONES = {SlurmJobState.PENDING: "secondary", SlurmJobState.RUNNING: "primary", SlurmJobState.SUSPENDED: "warning",
               SlurmJobState.COMPLETING: "info", SlurmJobState.COMPLETED: "success", SlurmJobState.CANCELLED: "dark",
               SlurmJobState.FAILED: "danger", SlurmJobState.TIMEOUT: "danger", SlurmJobState.NODE_FAIL: "danger",
               SlurmJobState.OUT_OF_MEMORY: "danger", SlurmJobState.BOOT_FAIL: "danger",
               SlurmJobState.DEADLINE: "danger", SlurmJobState.PREEMPTED: "warning",
               SlurmJobState.REQUEUED: "info", SlurmJobState.UNKNOWN: "light"}


def state_badge(job: SlurmJob):
    tone = STATE_TONES.get(job.state, "light")
    return format_html('<span class="badge text-bg-{} slurm-state" data-state="{}" title="{}">{}</span>', tone,
                       job.state, job.reason or "", job.get_state_display())


class SlurmJobTable(KitTable):
    locked_columns = ("job_id",)

    job_id = tables.Column(verbose_name="Job", linkify=lambda record: reverse("clusters:job-detail",
                                                                              args=[record.pk]))
    name = tables.Column()
    cluster = tables.Column(accessor="cluster__name", verbose_name="Cluster")
    state = tables.Column()
    user = tables.Column(verbose_name="Slurm user")
    account = tables.Column()
    partition = tables.Column()
    nodes = tables.Column(orderable=False)
    gpus = tables.Column(verbose_name="GPUs")
    submitted_at = TimeColumn(verbose_name="Submitted")
    started_at = TimeColumn(verbose_name="Started")

    class Meta(KitTable.Meta):
        model = SlurmJob
        fields = ()
        sequence = ("job_id", "name", "cluster", "state", "user", "account", "partition", "nodes", "gpus",
                    "submitted_at", "started_at")
        empty_text = "No job matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "slurm-jobs"}

    def render_state(self, record):
        return state_badge(record)

    def value_state(self, record):
        return record.state

    def render_nodes(self, value):
        return ", ".join(value[:8]) + (f" +{len(value) - 8}" if len(value) > 8 else "") if value else "—"

    def value_nodes(self, value):
        return " ".join(value or [])


class JobTemplateTable(KitTable):
    locked_columns = ("name",)

    name = tables.Column(linkify=lambda record: reverse("clusters:job-template-edit", args=[record.pk]))
    project = tables.Column(accessor="project__name", verbose_name="Project")
    cluster = tables.Column(accessor="cluster__name", verbose_name="Cluster")
    partition = tables.Column()
    gpus = tables.Column(verbose_name="GPUs")
    time_limit_min = tables.Column(verbose_name="Time (min)")
    owner = tables.Column(accessor="owner__username", verbose_name="Owner")

    class Meta(KitTable.Meta):
        model = JobTemplate
        fields = ()
        sequence = ("name", "project", "cluster", "partition", "gpus", "time_limit_min", "owner")
        empty_text = "No template matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "job-templates"}

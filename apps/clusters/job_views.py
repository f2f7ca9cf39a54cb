"""Slurm job pages: the queue (all clusters, or one), a job's page (state, resources, GPU
efficiency of exactly the GPUs it held, live output), actions with confirmation, the submit form
with templates, and the template list and form. Every change goes through the same services as
the API (apps.clusters.submit, job_actions, job_templates)."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse, reverse_lazy
from django.views import View
from django.views.generic import DetailView

from apps.core.audit import change_log
from apps.core.list_views import KitListView, detail_tab
from apps.rbac.page_views import KitConfirmView, KitDeleteView, KitFormView, ObjectMixin
from apps.rbac.permissions import can

from . import efficiency, job_actions, job_templates, submit
from .job_filters import JobTemplateFilter, SlurmJobFilter
from .job_forms import JobTemplateForm, SubmitForm
from .job_tables import JobTemplateTable, SlurmJobTable, state_badge
from .models import JobTemplate
from .slurm.records import JobAction

ACTION_WORDS = {JobAction.CANCEL: ("Cancel", "scancel stops the job; its output so far stays."),
                JobAction.HOLD: ("Hold", "The pending job will not start until released."),
                JobAction.RELEASE: ("Release", "The held job may start again."),
                JobAction.REQUEUE: ("Requeue", "The job is stopped and put back in the queue to run again."),
                JobAction.SIGNAL: ("Signal", "The signal goes to every step and the batch shell.")}


class SlurmJobListView(KitListView):
    """All clusters' jobs; `?cluster=<id>` (what a cluster's "All jobs" opens) narrows to one."""

    filterset_class = SlurmJobFilter
    table_class = SlurmJobTable
    template_name = "clusters/jobs/job_list.html"
    page_title = "Slurm jobs"
    page_intro = "Jobs of every cluster you may see, as the last queue sync stored them."
    export_name = "slurm-jobs.csv"
    empty = {"title": "No Slurm jobs yet", "lab_hint": True,
             "text": "Jobs appear here once a cluster's queue has been synced, or when you submit one.",
             "how": "Open a cluster and submit a job, or wait for the next queue sync."}

    def base_queryset(self):
        return job_actions.visible_jobs(self.request.user).defer("script", "gpu_efficiency")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        form = self.filterset.form
        cluster = form.cleaned_data.get("cluster") if form.is_bound and form.is_valid() else None
        ctx["cluster"] = cluster
        ctx["may_submit"] = bool(cluster) and submit.may_submit(self.request.user, cluster)
        idle_from = self.base_queryset().filter(cluster=cluster) if cluster else self.base_queryset()
        ctx["idle"] = efficiency.idle_gpu_jobs(idle_from)[:20]
        ctx["idle_threshold"] = (settings.SLURM_IDLE_GPU_UTIL_PCT, settings.SLURM_IDLE_GPU_MINUTES)
        if cluster:
            ctx["page_title"] = f"Jobs on {cluster.name}"
        return ctx


class ClusterJobListView(LoginRequiredMixin, View):
    """/clusters/<id>/jobs/: the job list narrowed to that cluster (404 when it is not visible)."""

    http_method_names = ["get"]

    def get(self, request, pk):
        cluster = get_object_or_404(job_actions.visible_clusters_for_jobs(request.user), pk=pk)
        return redirect(reverse("clusters:jobs") + f"?cluster={cluster.pk}")


class SlurmJobDetailView(LoginRequiredMixin, DetailView):
    template_name = "clusters/jobs/job_detail.html"
    context_object_name = "job"

    def get_queryset(self):
        return job_actions.visible_jobs(self.request.user)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        job, user = self.object, self.request.user
        may_act = can(user, job, "cancel") and job.active
        ctx.update(state=state_badge(job), eff=efficiency.efficiency(job), may_act=may_act,
                   idle_since=job.gpu_efficiency.get("idle_event_at") if job.active else None,
                   idle_threshold=(settings.SLURM_IDLE_GPU_UTIL_PCT, settings.SLURM_IDLE_GPU_MINUTES),
                   actions=[(a.value, ACTION_WORDS[a][0]) for a in JobAction] if may_act else [],
                   output_url=reverse("api:slurmjob-output", args=[job.pk]),
                   changes=change_log(user, job), active_tab=detail_tab(self.request),
                   may_see_script=bool(job.script) and (job.submitted_by_id == user.pk or can(user, job, "change")))
        return ctx


class SlurmJobActionView(ObjectMixin, KitConfirmView):
    """GET: what the action will do; POST confirm=yes: the action through job_actions.act."""

    action: JobAction = JobAction.CANCEL
    required_action = "cancel"

    def visible_queryset(self):
        return job_actions.visible_jobs(self.request.user)

    def confirmation(self, job) -> dict:
        label, consequence = ACTION_WORDS[self.action]
        ctx = {"page_title": f"{label} Slurm job {job.job_id}?", "consequence": consequence,
               "confirm_label": label, "cancel_url": job.get_absolute_url()}
        if not job.active:
            ctx.update(refused=True, consequence=f"The job has ended ({job.get_state_display().lower()}).")
        if self.action == JobAction.SIGNAL:
            ctx["hidden_fields"] = [("signal", self.request.GET.get("signal", "TERM")[:12])]
        return ctx

    def act(self, job) -> str:
        signal = self.request.POST.get("signal", "") if self.action == JobAction.SIGNAL else ""
        job = job_actions.act(self.request.user, job, self.action.value, signal=signal)
        return f"{ACTION_WORDS[self.action][0]}: job {job.job_id} is now {job.get_state_display().lower()}."


def action_view(action: JobAction):
    return type(f"SlurmJob{action.name.title()}View", (SlurmJobActionView,), {"action": action}).as_view()


class SubmitJobView(KitFormView):
    form_class = SubmitForm
    template_name = "clusters/jobs/submit.html"
    submit_label = "Submit job"
    success_message = "Submitted Slurm job {obj.job_id}."

    def dispatch(self, request, *args, **kwargs):
        cluster_pk = kwargs.pop("pk")  # the cluster's: this form creates a job, it edits nothing
        if request.user.is_authenticated:
            self.cluster = get_object_or_404(submit.submittable_clusters(request.user), pk=cluster_pk)
            self.page_title = f"Submit a job to {self.cluster.name}"
        return super().dispatch(request, *args, **kwargs)

    def may_create(self) -> bool:
        return submit.may_submit(self.request.user, self.cluster)

    def form_kwargs(self):
        return {"user": self.request.user, "cluster": self.cluster}

    def get_initial(self):
        pk = self.request.GET.get("template", "")
        if not pk.isdigit():
            return {}
        template = submit.visible_templates(self.request.user).filter(pk=int(pk)).first()
        if template is None:
            return {}
        return {"template": template, "name": template.name, "partition": template.partition,
                "account": template.account, "nodes": template.nodes, "cpus": template.cpus,
                "memory_mb": template.memory_mb or None, "gpus": template.gpus,
                "time_limit_min": template.time_limit_min, "script": template.script}

    def save(self, form):
        values = form.request_values()
        template = form.cleaned_data.get("template")
        req = submit.from_template(template, **values) if template else submit.JobRequest(**values)
        return submit.submit_job(self.request.user, self.cluster, req)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(cluster=self.cluster, cancel_url=reverse("clusters:jobs") + f"?cluster={self.cluster.pk}",
                   templates=list(ctx["form"].fields["template"].queryset[:200]))
        return ctx


class JobTemplateListView(KitListView):
    filterset_class = JobTemplateFilter
    table_class = JobTemplateTable
    template_name = "clusters/jobs/template_list.html"
    page_title = "Job templates"
    page_intro = "Saved submit forms: script and resources a team runs again and again."
    export_name = "job-templates.csv"
    empty = {"title": "No job templates yet", "text": "Save a script with its resources to submit it in one click.",
             "how": "Add a template, then choose it on a cluster's submit form."}

    def base_queryset(self):
        return submit.visible_templates(self.request.user).defer("script")

    def get_empty_context(self):
        ctx = super().get_empty_context()
        if self.request.user.has_perm("clusters.add_jobtemplate"):
            ctx.update(action_url=reverse("clusters:job-template-add"), action_label="Add a template")
        return ctx

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs),
                "may_add": self.request.user.has_perm("clusters.add_jobtemplate")}


class JobTemplateFormView(ObjectMixin, KitFormView):
    form_class = JobTemplateForm
    template_name = "clusters/jobs/template_form.html"
    page_title = "Job template"
    cancel_url = reverse_lazy("clusters:job-templates")
    success_message = "Saved template {obj}."

    def visible_queryset(self):
        return submit.visible_templates(self.request.user)

    def may_create(self) -> bool:
        return self.request.user.has_perm("clusters.add_jobtemplate")

    def form_kwargs(self):
        return {"user": self.request.user, "instance": self.object}

    def save(self, form):
        values = form.service_values()
        if self.object is None:
            return job_templates.create_template(self.request.user, **values)
        return job_templates.update_template(self.request.user, JobTemplate.objects.get(pk=self.object.pk), **values)

    def get_success_url(self, obj=None):
        return reverse("clusters:job-templates")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(page_title=f"Template {self.object}" if self.object else "New job template",
                   cancel_url=reverse("clusters:job-templates"),
                   may_delete=self.object is not None and can(self.request.user, self.object, "delete"))
        return ctx


class JobTemplateDeleteView(KitDeleteView):
    success_url = "clusters:job-templates"

    def visible_queryset(self):
        return submit.visible_templates(self.request.user)

    def confirmation(self, obj) -> dict:
        return {"page_title": f"Delete template {obj}?", "confirm_label": "Delete",
                "consequence": f"The template {obj} will be deleted; jobs submitted from it are not touched.",
                "cancel_url": reverse("clusters:job-templates")}

    def refused_url(self, obj) -> str:
        return reverse("clusters:job-templates")

    def delete(self, obj) -> None:
        job_templates.delete_template(self.request.user, obj)


"""Admin for clusters: the same services and permission layer as the pages and the API. Clusters
are connected on the external-cluster page (or the API), so the admin edits and refreshes them;
partitions, nodes and jobs come from Slurm and are shown read-only here."""
from django.contrib import admin, messages
from django.shortcuts import redirect

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.core.errors import ServiceError
from apps.rbac.admin_base import RestrictedModelAdmin

from . import ops_admin, services
from .models import Cluster, ClusterNode, JobTemplate, Partition, ProjectAccount, SlurmJob, SlurmUser


@admin.register(Cluster)
class ClusterAdmin(RestrictedModelAdmin):
    list_display = ["name", "kind", "status", "controller", "slurm_version", "synced_at"]
    list_filter = ["kind", "status"]
    search_fields = ["name", "description", "slurm_cluster_name"]
    list_select_related = ["controller"]
    fields = ["name", "kind", "description", "project", "controller", "login_node", "reuse_config", "reuse_munge",
              "reuse_database", "conf_path", "base_config_path", "slurmd_restart_command", "status", "status_reason", "slurm_version",
              "slurm_cluster_name", "discovered_at", "synced_at"]
    readonly_fields = ["name", "kind", "controller", "reuse_config", "reuse_munge", "reuse_database", "status",
                       "status_reason", "slurm_version", "slurm_cluster_name", "discovered_at", "synced_at"]
    choice_actions = {"login_node": "use"}
    actions = ["refresh", ops_admin.repair_nodes, ops_admin.check_accounting]

    def get_queryset(self, request):
        return services.visible_clusters(request.user)

    def has_add_permission(self, request):
        return False  # connected on the external-cluster page or through the API (test-connection first)

    def update_through_service(self, request, original, changes, form):
        return services.update_cluster(request.user, original, **changes)

    def delete_through_service(self, request, obj):
        services.forget(request.user, obj)

    @admin.action(description="Refresh (rediscover from the controller)")
    def refresh(self, request, queryset):
        started = []
        for cluster in queryset:
            try:
                started.append(services.refresh(request.user, cluster))
            except ServiceError as exc:
                self.message_user(request, f"{cluster}: {exc.message}", messages.ERROR)
        if len(started) == 1:
            return redirect("jobs:detail", pk=started[0].pk)
        if started:
            self.message_user(request, f"Started {len(started)} refresh job(s).")
        return None


class ClusterPartAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_select_related = ["cluster"]


@admin.register(Partition)
class PartitionAdmin(ClusterPartAdmin):
    list_display = ["name", "cluster", "is_default", "state", "max_time"]
    list_filter = ["state", "is_default"]
    search_fields = ["name", "cluster__name"]


@admin.register(ClusterNode)
class ClusterNodeAdmin(ClusterPartAdmin):
    list_display = ["slurm_name", "cluster", "node", "state", "reason", "gpu_count", "alloc_gpus"]
    search_fields = ["slurm_name", "cluster__name", "node__name"]
    list_select_related = ["cluster", "node"]


@admin.register(SlurmJob)
class SlurmJobAdmin(ClusterPartAdmin):
    list_display = ["job_id", "cluster", "name", "user", "account", "partition", "state", "gpus", "submitted_at"]
    list_filter = ["state"]
    search_fields = ["job_id", "name", "user", "account", "cluster__name"]
    actions = ["cancel_jobs", "hold_jobs", "release_jobs"]

    def _act(self, request, queryset, action: str):
        from .job_actions import act

        done = 0
        for job in queryset.select_related("cluster"):
            try:
                act(request.user, job, action)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{job}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{action.capitalize()}: {done} job(s).")

    @admin.action(description="Cancel in Slurm")
    def cancel_jobs(self, request, queryset):
        self._act(request, queryset, "cancel")

    @admin.action(description="Hold in Slurm")
    def hold_jobs(self, request, queryset):
        self._act(request, queryset, "hold")

    @admin.action(description="Release in Slurm")
    def release_jobs(self, request, queryset):
        self._act(request, queryset, "release")


@admin.register(JobTemplate)
class JobTemplateAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["name", "project", "cluster", "partition", "gpus", "time_limit_min"]
    search_fields = ["name"]
    list_select_related = ["project", "cluster"]


@admin.register(SlurmUser)
class SlurmUserAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["user", "username", "cluster"]
    search_fields = ["user__username", "username"]
    list_select_related = ["user", "cluster"]


@admin.register(ProjectAccount)
class ProjectAccountAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["account", "cluster", "project", "gpus_per_job", "gpu_minutes", "max_running_jobs_per_user",
                    "max_wall_min", "checked_at"]
    search_fields = ["account", "project__name", "cluster__name"]
    list_select_related = ["cluster", "project"]

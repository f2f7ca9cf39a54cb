"""Admin actions of the cluster change list for node repair and accounting: the same services as
the pages and the API (permission, audit, a job each)."""
from django.contrib import admin, messages
from django.shortcuts import redirect

from apps.core.errors import ServiceError

from . import accounting_sync, node_health


def _start(modeladmin, request, queryset, start, what: str):
    started = []
    for cluster in queryset:
        try:
            started.append(start(request.user, cluster))
        except ServiceError as exc:
            modeladmin.message_user(request, f"{cluster}: {exc.message}", messages.ERROR)
    if len(started) == 1:
        return redirect("jobs:detail", pk=started[0].pk)
    if started:
        modeladmin.message_user(request, f"Started {len(started)} {what} job(s).")
    return None


@admin.action(description="Repair nodes Slurm took out of service (restart slurmd, resume)")
def repair_nodes(modeladmin, request, queryset):
    return _start(modeladmin, request, queryset, node_health.start_repair, "repair")


@admin.action(description="Check accounting drift (sacctmgr)")
def check_accounting(modeladmin, request, queryset):
    return _start(modeladmin, request, queryset, accounting_sync.start_check, "drift check")

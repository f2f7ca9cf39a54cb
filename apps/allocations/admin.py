"""Admin: allocations read-only (every change goes through the services: pages and API), quotas
editable."""
from django.contrib import admin

from apps.core.errors import InvalidInput
from apps.rbac.admin_base import RestrictedModelAdmin

from . import services
from .models import Allocation, AllocationGpu, ProjectQuota


class AllocationGpuInline(admin.TabularInline):
    model = AllocationGpu
    fields = ("gpu", "start", "end", "holds")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Allocation)
class AllocationAdmin(RestrictedModelAdmin):
    list_display = ("id", "project", "requester", "gpu_count", "state", "start", "end")
    list_filter = ("state",)
    search_fields = ("purpose", "requester__username", "project__name")
    inlines = [AllocationGpuInline]
    list_select_related = ("project", "requester")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProjectQuota)
class ProjectQuotaAdmin(RestrictedModelAdmin):
    list_display = ("project", "concurrent_gpus", "gpu_hours_per_month", "over_quota")
    search_fields = ("project__name",)
    list_select_related = ("project",)

    def _values(self, data: dict) -> dict:
        return {k: data.get(k) for k in ("concurrent_gpus", "gpu_hours_per_month", "over_quota")}

    def create_through_service(self, request, form):
        return services.set_quota(request.user, form.cleaned_data["project"], **self._values(form.cleaned_data))

    def update_through_service(self, request, original, changes, form):
        if "project" in changes:
            raise InvalidInput({"project": ["A quota stays with its project; delete it and add another."]})
        values = self._values({**self._values(original.__dict__), **changes})
        return services.set_quota(request.user, original.project, **values)

    def delete_through_service(self, request, obj):
        services.delete_quota(request.user, obj)

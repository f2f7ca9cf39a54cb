from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from guardian.admin import GuardedModelAdmin

from apps.core.admin_mixins import AuditedModelAdmin
from apps.core.audit import record_audit

from . import services
from .models import Membership, Project
from .permissions import restrict

User = get_user_model()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    fields = ["user", "role", "from_ldap", "created_at"]
    readonly_fields = ["from_ldap", "created_at"]
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(AuditedModelAdmin, GuardedModelAdmin):
    """Projects; the object-permissions page (guardian) grants access on individual projects."""

    list_display = ["name", "description", "gpu_quota", "gpu_hours_quota", "created_at"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return restrict(super().get_queryset(request), request.user, "view")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # New projects get their permission group through the service.
        created = services.create_project(None, obj.name, obj.description, gpu_quota=obj.gpu_quota,
                                          gpu_hours_quota=obj.gpu_hours_quota)
        obj.pk, obj.group_id = created.pk, created.group_id
        obj._state.adding = False
        self._pending_audit = (obj, list(form.changed_data), None, False)

    def save_formset(self, request, form, formset, change):
        # Keep each member's project group in step with the membership rows.
        instances = formset.save(commit=False)
        project = form.instance
        for removed in formset.deleted_objects:
            removed.user.groups.remove(project.group)
            removed.delete()
            record_audit("project.member_remove", actor=request.user, obj=project,
                         before={"user": removed.user.username, "role": removed.role})
        for membership in instances:
            membership.save()
            membership.user.groups.add(project.group)
            record_audit("project.member_set", actor=request.user, obj=project,
                         after={"user": membership.user.username, "role": membership.role})
        formset.save_m2m()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role", "from_ldap", "created_at"]
    list_filter = ["role", "from_ldap", "project"]
    search_fields = ["user__username", "project__name"]

    def has_add_permission(self, request):
        return False  # through the project page, so group membership stays in step

    def has_change_permission(self, request, obj=None):
        return False


admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(AuditedModelAdmin, UserAdmin):
    """Django's user admin; every change lands in the audit log (passwords never do)."""

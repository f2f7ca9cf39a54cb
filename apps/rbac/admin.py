"""Admin pages of projects, memberships, users, role groups and the audit log.

All stand on RestrictedModelAdmin (apps.rbac.admin_base): restricted lists, per-object checks,
writes through apps.rbac.services / apps.rbac.accounts (which audit once). Object grants are not
edited here: the project page and /api/v1/projects/<id>/grants/ go through the grant service.
"""
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.core.models import AuditEvent

from . import accounts, services
from .admin_base import RestrictedModelAdmin, RestrictedTabularInline
from .admin_thirdparty import restrict_third_party
from .models import Membership, Project, ProjectRole
from .permissions import can, restrict

User = get_user_model()


class MembershipInline(RestrictedTabularInline):
    model = Membership
    extra = 1
    fields = ["user", "role", "from_ldap", "created_at"]
    readonly_fields = ["from_ldap", "created_at"]
    autocomplete_fields = ["user"]
    parent_action = "manage"

    def save_through_services(self, request, parent, formset):
        sets = [(m.user, m.role) for m in formset.new_objects]
        removals = [m.user.get_username() for m in formset.deleted_objects]
        for membership, changed in formset.changed_objects:
            if "user" in changed:  # the row now names someone else: the old member leaves
                removals.append(Membership.objects.get(pk=membership.pk).user.get_username())
            sets.append((membership.user, membership.role))
        # New owners first, so handing over ownership in one save never leaves a project without one.
        for user, role in sorted(sets, key=lambda s: s[1] != ProjectRole.OWNER):
            services.set_member(request.user, parent, user, role)
        for username in removals:
            services.remove_member(request.user, parent, username)


@admin.register(Project)
class ProjectAdmin(RestrictedModelAdmin):
    list_display = ["name", "description", "gpu_quota", "gpu_hours_quota", "created_at"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj is not None else []  # a project's name is its group's name

    def create_through_service(self, request, form):
        data = form.cleaned_data
        return services.create_project(request.user, data["name"], data.get("description", ""),
                                       gpu_quota=data.get("gpu_quota"), gpu_hours_quota=data.get("gpu_hours_quota"))

    def update_through_service(self, request, original, changes, form):
        return services.update_project(request.user, original, **changes)

    def delete_through_service(self, request, obj):
        services.delete_project(request.user, obj)


@admin.register(Membership)
class MembershipAdmin(RestrictedModelAdmin):
    """Memberships across projects; added and changed on the project page, removed here or there
    through the service (group membership and the last-owner rule follow)."""

    list_display = ["project", "user", "role", "from_ldap", "created_at"]
    list_filter = ["role", "from_ldap", "project"]
    search_fields = ["user__username", "project__name"]
    list_select_related = ["project", "user"]

    # A membership is reached through its project: seen with it, removed by who manages it.
    def get_queryset(self, request):
        projects = restrict(Project.objects.all(), request.user, "view")
        return Membership.objects.filter(project__in=projects)

    def has_view_permission(self, request, obj=None):
        return admin.ModelAdmin.has_view_permission(self, request, obj) and (
            obj is None or can(request.user, obj.project, "view"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return admin.ModelAdmin.has_delete_permission(self, request, obj) and (
            obj is None or can(request.user, obj.project, "manage"))

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        # Each row through the service, which checks "manage" on its project; all or none.
        for membership in queryset.select_related("project", "user"):
            self.delete_through_service(request, membership)

    def delete_through_service(self, request, obj):
        services.remove_member(request.user, obj.project, obj.user.get_username())


admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(RestrictedModelAdmin, UserAdmin):
    """Django's user pages, saving through apps.rbac.accounts (checked, audited, no escalation).
    Project groups are not listed: they follow memberships."""

    readonly_fields = ["last_login", "date_joined"]

    def choices_for(self, db_field, request):
        if db_field.name == "groups":
            return accounts.assignable_groups()
        return super().choices_for(db_field, request)

    def create_through_service(self, request, form):
        return accounts.create_user(request.user, form.instance)  # the form hashed the password

    def update_through_service(self, request, original, changes, form):
        groups, permissions = changes.pop("groups", None), changes.pop("user_permissions", None)
        return accounts.update_user(request.user, original, changes, groups=groups, permissions=permissions)

    def delete_through_service(self, request, obj):
        accounts.delete_user(request.user, obj)

    def user_change_password(self, request, id, form_url=""):
        """A valid password form is saved by the service; everything else is Django's page."""
        user = self.get_object(request, unquote(id))
        if request.method == "POST" and user is not None and self.has_change_permission(request, user):
            form = self.change_password_form(user, request.POST)
            usable = form.is_valid() and form.cleaned_data["set_usable_password"]
            if form.is_valid() and (usable or "unset-password" in request.POST):
                accounts.set_password(request.user, user, form.cleaned_data["password1"] if usable else None)
                self.log_change(request, user, self.construct_change_message(request, form, None))
                messages.success(request, "Password changed." if usable else "Password login disabled.")
                update_session_auth_hash(request, user)
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:auth_user_change", args=[user.pk]))
        return super().user_change_password(request, id, form_url)


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin, GroupAdmin):
    """Role templates are code (apps.rbac.roles, synced by `manage.py sync_roles`) and project groups
    follow memberships and grants: both are shown, never edited here."""


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    """Read-only: the audit log is written by services, never edited. (Registered here, not in
    apps.core, because the admin base class stands on the permission layer, which core may not import.)"""

    list_display = ["timestamp", "actor_repr", "action", "object_type", "object_repr", "ip", "request_id"]
    list_filter = ["action", "object_type", ("timestamp", admin.DateFieldListFilter)]
    search_fields = ["actor_repr", "action", "object_repr", "object_id", "request_id"]
    date_hierarchy = "timestamp"
    list_select_related = ["object_type"]


restrict_third_party()

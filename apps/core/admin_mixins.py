"""Mixins for admin classes (the base class itself is apps.rbac.admin_base.RestrictedModelAdmin)."""


class ReadOnlyModelAdmin:
    """Logs and records written by services only: viewable, never added, edited or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

"""Admin edits go through the audit log like every other change."""
from django.forms.models import model_to_dict

from .audit import record_audit

SENSITIVE = {"password"}


def _snapshot(obj, fields) -> dict:
    data = model_to_dict(obj, fields=[f for f in fields if f not in SENSITIVE])
    return {k: (sorted(str(x) for x in v) if isinstance(v, (list, set, tuple)) else str(v) if v is not None else None)
            for k, v in data.items()}


class AuditedModelAdmin:
    """Records `<model>.admin_create/update/delete` with the changed fields before and after."""

    def _action(self, verb: str) -> str:
        return f"{self.model._meta.model_name}.admin_{verb}"

    def save_model(self, request, obj, form, change):
        fields = list(form.changed_data)
        before = _snapshot(type(obj)._default_manager.get(pk=obj.pk), fields) if change and obj.pk else None
        super().save_model(request, obj, form, change)
        self._pending_audit = (obj, fields, before, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj, fields, before, change = getattr(self, "_pending_audit", (form.instance, [], None, change))
        after = _snapshot(obj, fields)
        if "password" in form.changed_data:
            after["password"] = "(changed)"
        record_audit(self._action("update" if change else "create"), actor=request.user, obj=obj,
                     before=before, after=after)

    def delete_model(self, request, obj):
        record_audit(self._action("delete"), actor=request.user, obj=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record_audit(self._action("delete"), actor=request.user, obj=obj)
        super().delete_queryset(request, queryset)


class ReadOnlyModelAdmin:
    """Logs and records written by services only: viewable, never added, edited or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

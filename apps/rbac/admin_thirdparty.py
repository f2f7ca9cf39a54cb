"""Admins of other packages' models, on the same footing as ours: read-only and restricted.

Nothing here has a service that would check and audit a change, so the admin shows and never
writes: API tokens are issued with `manage.py drf_create_token` (and never shown: the key is a
credential), beat schedules are code (CELERY_BEAT_SCHEDULE), login lockouts expire by
themselves or are cleared with `manage.py axes_reset` on the machine.
"""
from django.contrib import admin

from apps.core.admin_mixins import ReadOnlyModelAdmin

from .admin_base import RestrictedModelAdmin

# app label -> fields never shown (credentials)
HIDDEN_FIELDS = {"authtoken": ["key"]}


def _read_only(model, original):
    hidden = HIDDEN_FIELDS.get(model._meta.app_label, [])
    attrs = {"__doc__": f"{original.__doc__ or model.__name__} (read-only here)",
             "actions": [], "exclude": hidden or None}
    if hidden:
        attrs["list_display"] = [f for f in original.list_display if f not in hidden] or ["__str__"]
        attrs["search_fields"] = [f for f in original.search_fields if f not in hidden]
        attrs["fields"] = None
        attrs["readonly_fields"] = [f.name for f in model._meta.concrete_fields if f.name not in hidden]
    return type(f"ReadOnly{original.__name__}", (ReadOnlyModelAdmin, RestrictedModelAdmin, original), attrs)


def restrict_third_party(site=admin.site, apps=("authtoken", "django_celery_beat", "axes")) -> None:
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label in apps:
            site.unregister(model)
            site.register(model, _read_only(model, type(model_admin)))

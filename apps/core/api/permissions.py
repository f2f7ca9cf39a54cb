"""Model permissions for every request method, including reads (DRF's default lets any
authenticated user read)."""
from rest_framework.permissions import DjangoModelPermissions


class StrictModelPermissions(DjangoModelPermissions):
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

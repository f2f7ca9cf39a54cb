from django.apps import AppConfig


class RbacConfig(AppConfig):
    name = "apps.rbac"
    label = "rbac"
    verbose_name = "Access control"

    def ready(self):
        from django.db.models.signals import post_migrate

        from .sync import sync_roles_after_migrate

        # Role templates follow the code: re-synced after every migrate, so new apps' permissions
        # reach the roles without a manual step.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="rbac-sync-roles")
        from . import signals  # noqa: F401  login/lockout audit and LDAP group mapping
        _register_search()


def _register_search():
    from django.urls import reverse

    from apps.core import search

    from .models import Project
    from .permissions import restrict

    search.register(Project, label="Projects", fields=("name",),
                    visible=lambda user: restrict(Project.objects.all(), user, "view"),
                    url=lambda project: reverse("rbac:project", args=[project.pk]))

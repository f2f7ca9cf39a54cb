from django.core.management.base import BaseCommand

from apps.rbac.sync import sync_roles


class Command(BaseCommand):
    help = "Create/update the role-template groups from apps/rbac/roles.py (idempotent)."

    def handle(self, *args, **options):
        for name, count in sync_roles().items():
            self.stdout.write(f"role {name}: {count} permissions")

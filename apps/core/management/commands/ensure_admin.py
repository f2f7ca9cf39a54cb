"""Create the first superuser with a random password, once.

The password is printed once and written to var/admin-credentials (mode 600); nothing is
baked into code. Running it again with an existing admin does nothing (use --reset to replace
the password).
"""
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.core.audit import record_audit


class Command(BaseCommand):
    help = "Create the admin account with a random password if it does not exist."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("AIMATRIX_ADMIN_USER", "admin"))
        parser.add_argument("--email", default=os.environ.get("AIMATRIX_ADMIN_EMAIL", "admin@localhost"))
        parser.add_argument("--reset", action="store_true", help="give the existing admin a new random password")

    def handle(self, *args, username, email, reset, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None and not reset:
            self.stdout.write(f"admin: account {username!r} exists (password in {self._path()} if created here)")
            return
        password = secrets.token_urlsafe(18)
        if user is None:
            user = User.objects.create_superuser(username=username, email=email, password=password)
            record_audit("user.create_admin", obj=user, after={"username": username, "superuser": True})
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
            record_audit("user.reset_admin_password", obj=user)
        path = self._path()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"username={username}\npassword={password}\n")
        os.chmod(path, 0o600)
        self.stdout.write(self.style.SUCCESS(f"admin: created {username!r} with password {password}"))
        self.stdout.write(f"admin: the password is also in {path} (readable by its owner only)")

    @staticmethod
    def _path():
        # The lab (PostgreSQL) keeps its own file so it never overwrites the embedded one's.
        custom = os.environ.get("AIMATRIX_ADMIN_CREDENTIALS_FILE")
        return Path(custom) if custom else settings.VAR_DIR / "admin-credentials"

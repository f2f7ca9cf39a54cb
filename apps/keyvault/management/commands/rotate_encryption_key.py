"""Re-encrypt every secret with the first key of AIMATRIX_ENCRYPTION_KEYS.

Rotation: put the new key first (AIMATRIX_ENCRYPTION_KEYS=new,old), restart, run this command;
once it reports no failures, the old key can be removed from the list.
"""
from django.core.management.base import BaseCommand, CommandError

from apps.keyvault import services


class Command(BaseCommand):
    help = "Re-encrypt all key vault secrets with the first configured encryption key."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="only check that every secret decrypts and count those under older keys")

    def handle(self, *args, dry_run, **options):
        counts = services.rotate_encryption_key(dry_run=dry_run)
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        done = counts["total"] - counts["failed"] if dry_run else counts["rotated"]
        self.stdout.write(f"secrets: {counts['total']} total, {verb} {done}, "
                          f"{counts['from_older_key']} were under an older key, {counts['failed']} failed")
        if counts["failed"]:
            names = ", ".join(counts["failed_names"][:20])
            raise CommandError(f"{counts['failed']} secret(s) could not be decrypted or failed their checksum "
                               f"and were left unchanged: {names}. Keep the old keys until they are fixed.")
        if not dry_run:
            self.stdout.write(self.style.SUCCESS(
                "done: every secret is now encrypted with the first key; older keys may be removed."))

"""Re-encrypt stored secrets under the first key in FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first (FIELD_ENCRYPTION_KEYS=new,old), deploy, run this command,
then remove the old key. Safe to run again or while the application is serving traffic.
"""

from django.core.management.base import BaseCommand

from core.encryption import rotate_encrypted_values


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column under the first key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count values still under an old key; write nothing."
        )
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, dry_run: bool = False, batch_size: int = 500, **options):
        counts = rotate_encrypted_values(dry_run=dry_run, batch_size=batch_size)
        verb = "to re-encrypt" if dry_run else "re-encrypted"
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} {verb}")
        total = sum(counts.values())
        self.stdout.write(self.style.SUCCESS(f"{total} value(s) {verb}."))

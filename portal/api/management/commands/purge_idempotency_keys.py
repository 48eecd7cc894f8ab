"""Delete the API's stored Idempotency-Key answers past settings.API_IDEMPOTENCY_HOURS (run daily)."""

from django.core.management.base import BaseCommand

from portal.api.idempotency import purge_expired_keys


class Command(BaseCommand):
    help = "Delete expired Idempotency-Key answers of the REST API."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {purge_expired_keys()} expired idempotency keys.")

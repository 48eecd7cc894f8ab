"""Refresh the MRR snapshot: the current month, or --backfill N months rebuilt from subscription history."""

from dateutil.relativedelta import relativedelta
from django.core.management.base import BaseCommand

from core import clock
from core.analytics.movement import refresh_mrr_snapshot


class Command(BaseCommand):
    help = "Refresh the monthly MRR snapshot (current month; --backfill N rebuilds the N months before it first)."

    def add_arguments(self, parser):
        parser.add_argument("--backfill", type=int, default=0, help="Also rebuild this many earlier months")

    def handle(self, *args, **options):
        month = clock.today().replace(day=1)
        for n in range(options["backfill"], -1, -1):
            target = month - relativedelta(months=n)
            rows = refresh_mrr_snapshot(target)
            self.stdout.write(f"{target:%Y-%m}: {rows} customer rows")

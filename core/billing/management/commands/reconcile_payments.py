"""List every difference between our payments and a gateway's records; exit 1 when there are any."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from core import clock
from core.billing.gateways import GatewayError
from core.billing.reconciliation import reconcile_payments


class Command(BaseCommand):
    help = "Compare recorded payments with Stripe or PayPal since a date; exits non-zero on any difference."

    def add_arguments(self, parser):
        parser.add_argument("--gateway", required=True, choices=["stripe", "paypal"])
        parser.add_argument("--since", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD (UTC)")
        parser.add_argument("--until", type=dt.date.fromisoformat, help="YYYY-MM-DD (UTC, exclusive); default now")

    def handle(self, *args, gateway, since, until, **options):
        start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC) if until else clock.now()
        try:
            differences = reconcile_payments(gateway, start, end)
        except (GatewayError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        for difference in differences:
            self.stdout.write(str(difference))
        if differences:
            self.stderr.write(f"{len(differences)} difference(s) between our payments and {gateway}.")
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"No differences with {gateway} since {since}."))

"""`manage.py billing_run [--date YYYY-MM-DD] [--dry-run]`: today's billing run, or a preview of it."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from core import clock
from core.billing.services.billing_run import format_totals, preview_billing_run, run_billing


class Command(BaseCommand):
    help = "Issue renewals, charge due invoices, apply the suspension policy (or --dry-run to preview)."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="Run as if today were this date (YYYY-MM-DD, UTC)")
        parser.add_argument("--dry-run", action="store_true", help="Show what would happen; change nothing")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, date=None, dry_run=False, batch_size=1000, **options):
        moment = clock.now()
        if date:
            try:
                day = dt.date.fromisoformat(date)
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, not {date!r}") from exc
            moment = dt.datetime.combine(day, dt.time(6, 0), tzinfo=dt.UTC)
        with clock.frozen_at(moment):
            summary = preview_billing_run() if dry_run else run_billing(batch_size=batch_size)
        label = "Would" if dry_run else "Did"
        self.stdout.write(f"Billing run for {summary.date}{' (dry run: nothing changed)' if dry_run else ''}")
        self.stdout.write(
            f"  {label} issue {summary.renewals_issued} renewal invoices: {format_totals(summary.renewal_totals)}"
        )
        self.stdout.write(f"  {label} add {summary.overage_lines} bandwidth overage lines")
        self.stdout.write(
            f"  {label} charge {summary.charges_attempted} invoices: {format_totals(summary.charged_totals)}"
        )
        if not dry_run:
            self.stdout.write(
                f"    succeeded {summary.charges_succeeded}, failed {summary.charges_failed}, "
                f"action required {summary.charges_action_required}, unknown {summary.charges_unknown}"
            )
        self.stdout.write(f"  {label} advance {summary.periods_advanced} periods, end {summary.subscriptions_ended}")
        self.stdout.write(f"  {label} mark {summary.marked_past_due} subscriptions past due")
        self.stdout.write(
            f"  {label} suspend {summary.suspended}, terminate {summary.terminated}, "
            f"hold {summary.held_for_approval} for approval"
        )
        for error in summary.errors:
            self.stderr.write(f"  error: {error}")
        if summary.errors:
            raise CommandError(f"{len(summary.errors)} errors (see above and the audit log)")

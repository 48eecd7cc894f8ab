"""Run bandwidth collection now (what the hourly schedule does), or re-run one window."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from core.usage import services
from core.usage.sources import FlowSourceError


class Command(BaseCommand):
    help = "Collect closed bandwidth windows (gaps, re-reads) and refresh totals; --window re-runs one hour."

    def add_arguments(self, parser):
        parser.add_argument("--window", help="Start of one hour to re-run, UTC, e.g. 2026-11-03T10:00")
        parser.add_argument("--accept-low", action="store_true", help="With --window: accept a zero or low total")
        parser.add_argument(
            "--demo-history", type=int, metavar="DAYS",
            help="Local demo only: date platform addresses back DAYS days and collect those hours (sandbox source)",
        )  # fmt: skip

    def handle(self, *args, window=None, accept_low=False, demo_history=None, **options):
        if demo_history:
            self._demo_history(demo_history)
            return
        if window:
            try:
                start = dt.datetime.fromisoformat(window).replace(tzinfo=dt.UTC)
            except ValueError as exc:
                raise CommandError("--window must look like 2026-11-03T10:00 (UTC).") from exc
            try:
                result = services.rerun_window(start, accept_low=accept_low)
            except FlowSourceError as exc:
                raise CommandError(f"Not collected: {exc}") from exc
            self.stdout.write(f"{result}: {result.get_status_display()} {result.error}".rstrip())
            return
        run = services.collect_bandwidth()
        self.stdout.write(
            f"{run.collected} window(s) collected, {run.suspect} suspect, {run.failed} failed; "
            f"{run.rows_written} ledger rows, {run.search_requests} searches; {run.alerts_sent} alert(s); "
            f"{run.periods_closed} period(s) closed"
        )
        if run.error:
            raise CommandError(run.error)

    def _demo_history(self, days: int) -> None:
        from django.conf import settings

        from core import clock
        from core.usage.models import ServiceAddress

        if settings.IS_PRODUCTION or not settings.FLOW_SOURCE_CLASS.endswith("SandboxFlowSource"):
            raise CommandError("--demo-history is for the local demo with the sandbox flow source only.")
        start = services.last_closed_window() - services.HOUR * (24 * days - 1)
        ServiceAddress.objects.filter(source="platform", valid_from__gt=start).update(valid_from=start)
        windows, moment = [], start
        while moment <= services.last_closed_window():
            windows.append(moment)
            moment += services.HOUR
        for moment in windows:
            services.collect_window(moment)
        periods = services.refresh_totals({w.date() for w in windows})
        services.check_quotas(periods)
        self.stdout.write(f"Collected {len(windows)} sandbox hours up to {clock.now():%Y-%m-%d %H:%M} UTC.")

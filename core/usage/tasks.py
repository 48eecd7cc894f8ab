"""django-q2 entry points for bandwidth metering (thin wrappers over core.usage services)."""

from __future__ import annotations

import datetime as dt
import logging

log = logging.getLogger(__name__)

HOURLY_SCHEDULE = "usage-collect-bandwidth"
DAILY_COUNTER_SCHEDULE = "usage-compare-platform-counters"


def collect_bandwidth() -> str:
    """Hourly: collect closed windows (with gap back-fill and late-flow re-reads), refresh totals,
    send quota alerts, close ended periods. A flow-store error is logged and alerted; the task
    still returns so the schedule keeps running."""
    from .services import collect_bandwidth as run

    result = run()
    summary = (
        f"{result.collected} window(s) collected, {result.suspect} suspect, {result.failed} failed; "
        f"{result.rows_written} ledger rows, {result.search_requests} searches; "
        f"{result.alerts_sent} quota alert(s); {result.periods_closed} period(s) closed"
    )
    if result.error:
        log.error("Bandwidth collection: %s (%s)", result.error, summary)
        return f"ERROR {result.error} | {summary}"
    return summary


def compare_platform_counters() -> str:
    from .alarms import compare_platform_counters as run

    return f"{run()} divergence alert(s)"


def ensure_schedules() -> list[str]:
    """Create or update the bandwidth schedules (idempotent, by name)."""
    from django_q.models import Schedule

    today = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    Schedule.objects.update_or_create(
        name=HOURLY_SCHEDULE,
        defaults={
            "func": "core.usage.tasks.collect_bandwidth", "schedule_type": Schedule.CRON, "cron": "15 * * * *",
            "repeats": -1, "next_run": today + dt.timedelta(hours=1, minutes=15),
        },
    )  # fmt: skip
    Schedule.objects.update_or_create(
        name=DAILY_COUNTER_SCHEDULE,
        defaults={
            "func": "core.usage.tasks.compare_platform_counters", "schedule_type": Schedule.CRON,
            "cron": "40 4 * * *", "repeats": -1, "next_run": today + dt.timedelta(days=1),
        },
    )  # fmt: skip
    return [HOURLY_SCHEDULE, DAILY_COUNTER_SCHEDULE]

"""django-q2 entry points for analytics: the hourly snapshots (MRR movement, dashboard) and finance exports."""

from __future__ import annotations

import datetime as dt

MRR_SCHEDULE = "analytics-refresh-mrr"


def refresh_mrr_snapshots() -> int:
    """Refresh the current month's MRR snapshot (idempotent; hourly). Returns rows written.

    A month that has no snapshot yet for the month before is backfilled from history first, so
    the current month always has an opening MRR to compare with.
    """
    from dateutil.relativedelta import relativedelta

    from core import clock

    from .models import CustomerMRR
    from .movement import refresh_mrr_snapshot

    month = clock.today().replace(day=1)
    previous = month - relativedelta(months=1)
    if not CustomerMRR.objects.filter(month=previous).exists():
        refresh_mrr_snapshot(previous)
    return refresh_mrr_snapshot(month)


def refresh_snapshots() -> dict:
    """The hourly schedule (and staff's "Refresh now"): the MRR movement snapshot, then the dashboard's.

    Returns {"mrr_rows": n, "dashboard_ms": duration of the dashboard snapshot's computation}.
    """
    from .snapshot import refresh_dashboard_snapshot

    rows = refresh_mrr_snapshots()
    snapshot = refresh_dashboard_snapshot()
    return {"mrr_rows": rows, "dashboard_ms": snapshot.duration_ms}


def refresh_dashboard_snapshot() -> int:
    """The dashboard snapshot alone. Returns how long its computation took (ms)."""
    from .snapshot import refresh_dashboard_snapshot as refresh

    return refresh().duration_ms


def run_export_job(job_id: int) -> None:
    from .exports import run_export_job as run

    run(job_id)


def ensure_schedules():
    """Create or update the hourly snapshot schedule (MRR movement + dashboard; idempotent)."""
    from django_q.models import Schedule

    now = dt.datetime.now(dt.UTC).replace(minute=5, second=0, microsecond=0) + dt.timedelta(hours=1)
    schedule, _ = Schedule.objects.update_or_create(
        name=MRR_SCHEDULE,
        defaults={"func": "core.analytics.tasks.refresh_snapshots", "schedule_type": Schedule.CRON,
                  "cron": "5 * * * *", "repeats": -1, "next_run": now},
    )  # fmt: skip
    return [schedule]

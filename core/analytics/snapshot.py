"""The dashboard snapshot: the figures that read whole tables, computed by a task, read as one row.

What is in it (DashboardSnapshot.figures), each computed by the same function the page used to
call live, so the numbers are the tested ones:

- MRR per product and currency (mrr.mrr_by_product_and_currency): MRR, ARR, ARPU, top products
- paying customers (mrr.paying_customer_count), customers by status, services by status
- churn over the last 30 days (movement.churn_last_30_days)
- revenue per month, refunds and disputes per month, cancellation reasons (revenue.*; 12 months)
- receivables and their ageing (revenue.receivables: it sums every issued invoice's balance, 0.6 s
  at 200,000 invoices on MariaDB)

What is not (read live on every render, each a COUNT on an index): the overdue invoice count,
open tickets, "needs attention", the exchange rates, and the MRR movement, which has its own
snapshot tables (CustomerMRR, MRRMovementTotal; core.analytics.movement).

Freshness: the django-q2 schedule `analytics-refresh-mrr` (cron `5 * * * *`) refreshes both
snapshots hourly, so the figures are at most an hour old (plus the refresh's own duration); the
page says when the snapshot was taken and staff can queue a refresh ("Refresh now"). When no
snapshot exists yet (a new installation, a test), the first dashboard render takes one itself.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from django.db import transaction

from core import clock

from .models import DashboardSnapshot

KEEP = 48  # snapshots kept (two days of hourly refreshes): the newest is shown, older ones are history
REFRESH_TASK = "core.analytics.tasks.refresh_snapshots"
QUEUED_KEY = "analytics:dashboard-refresh-queued"


def compute_figures() -> dict:
    """Every snapshot figure, computed now from the live tables (aggregate SQL; no per-row Python)."""
    from .movement import churn_last_30_days
    from .mrr import customers_by_status, mrr_by_product_and_currency, paying_customer_count
    from .revenue import (
        cancellation_reasons,
        receivables,
        refunds_and_disputes_by_month,
        revenue_by_month,
        services_by_status,
    )

    by_product = mrr_by_product_and_currency()
    return {
        "mrr_by_product": [[pid, code, amount] for (pid, code), amount in sorted(by_product.items(), key=str)],
        "paying_customers": paying_customer_count(),
        "customers_by_status": customers_by_status(),
        "services_by_status": services_by_status(),
        "churn": churn_last_30_days(),
        "revenue": revenue_by_month(12),
        "refunds": refunds_and_disputes_by_month(12),
        "cancellation_reasons": [list(row) for row in cancellation_reasons(12)],
        "receivables": receivables(),
    }


def refresh_dashboard_snapshot() -> DashboardSnapshot:
    """Compute the figures and store them as the newest snapshot; keep the last KEEP ones."""
    from django.core.cache import cache

    started = time.perf_counter()
    taken_at = clock.now()
    figures = compute_figures()
    duration_ms = int((time.perf_counter() - started) * 1000)
    with transaction.atomic():
        snapshot = DashboardSnapshot.objects.create(refreshed_at=taken_at, duration_ms=duration_ms,
                                                    figures=encode(figures))  # fmt: skip
        stale = list(DashboardSnapshot.objects.order_by("-refreshed_at", "-id").values_list("pk", flat=True)[KEEP:])
        if stale:
            DashboardSnapshot.objects.filter(pk__in=stale).delete()
    cache.delete(QUEUED_KEY)
    snapshot.figures = figures
    return snapshot


FIGURES = frozenset({"mrr_by_product", "paying_customers", "customers_by_status", "services_by_status", "churn",
                     "revenue", "refunds", "cancellation_reasons", "receivables"})  # fmt: skip


def latest_snapshot() -> DashboardSnapshot | None:
    """The newest snapshot with its figures decoded (Decimals, dates), or None (also when it lacks a figure
    this code reads: one written before a figure was added is not used)."""
    snapshot = DashboardSnapshot.objects.order_by("-refreshed_at", "-id").first()
    if snapshot is None or not snapshot.figures.keys() >= FIGURES:
        return None
    snapshot.figures = decode(snapshot.figures)
    return snapshot


def latest_snapshot_id() -> int | None:
    return DashboardSnapshot.objects.order_by("-refreshed_at", "-id").values_list("pk", flat=True).first()


def by_product(snapshot: DashboardSnapshot) -> dict[tuple[int, str], Decimal]:
    return {(pid, code): amount for pid, code, amount in snapshot.figures["mrr_by_product"]}


def queue_refresh() -> bool:
    """Queue a snapshot refresh (staff's "Refresh now"). False when one is already queued."""
    from django.core.cache import cache
    from django_q.tasks import async_task

    if not cache.add(QUEUED_KEY, clock.now().isoformat(), timeout=15 * 60):
        return False
    transaction.on_commit(lambda: async_task(REFRESH_TASK, group="analytics"))
    return True


def refresh_queued_since() -> str | None:
    from django.core.cache import cache

    return cache.get(QUEUED_KEY)


# JSON keeps no Decimal or date: tag them so a snapshot reads back exactly as it was computed.


def encode(value):
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value):
    if isinstance(value, dict):
        if len(value) == 1 and "$d" in value:
            return Decimal(value["$d"])
        if len(value) == 1 and "$date" in value:
            return dt.date.fromisoformat(value["$date"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value

"""Read-side helpers for bandwidth: the portal, the API and the admin call these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import F, Q

from core import clock

from .models import BandwidthPeriod, BandwidthPolicy, BandwidthUsage, HourlyUsage, count_bytes
from .periods import period_bounds


@dataclass
class PeriodUsage:
    period_start: dt.date
    period_end: dt.date
    used_bytes: int  # what the product counts (max of in/out by default)
    bytes_in: int
    bytes_out: int
    quota_bytes: int | None  # None: unmetered
    percent: int | None
    projected_bytes: int  # straight-line projection to the end of the period
    counting: str
    daily: list[dict] = field(default_factory=list)  # [{"day", "bytes_in", "bytes_out", "used"}]


def period_usage(service, *, today: dt.date | None = None) -> PeriodUsage:
    """This period's usage against quota with a daily series and the projected end-of-period figure."""
    today = today or clock.today()
    period = (
        BandwidthPeriod.objects.filter(service=service, period_start__lte=today, period_end__gt=today)
        .order_by("-period_start")
        .first()
    )
    start, end = (period.period_start, period.period_end) if period else period_bounds(service, today)
    try:
        counting = service.product.bandwidth_policy.counting
    except BandwidthPolicy.DoesNotExist:
        counting = BandwidthPolicy.Counting.MAX
    rows = {
        row.day: row
        for row in BandwidthUsage.objects.filter(service=service, day__gte=start, day__lt=end).order_by("day")
    }
    daily, total_in, total_out = [], 0, 0
    day = start
    while day < end and day <= today:
        row = rows.get(day)
        b_in, b_out = (row.bytes_in, row.bytes_out) if row else (0, 0)
        total_in += b_in
        total_out += b_out
        daily.append({"day": day, "bytes_in": b_in, "bytes_out": b_out, "used": count_bytes(counting, b_in, b_out)})
        day += dt.timedelta(days=1)
    used = count_bytes(counting, total_in, total_out)
    quota_gb = service.product.bandwidth_quota_gb
    quota = quota_gb * 10**9 if quota_gb else None
    if period is not None:
        # The period row is the ledger's own total and the quota fixed for this period: they win over
        # a sum of daily rows (a day may still be filling) and over a quota changed on the product since.
        used = max(used, period.counted_bytes or 0)
        if period.quota_bytes is not None:
            quota = period.quota_bytes
    elapsed = max(1, min((today - start).days + 1, (end - start).days))
    projected = used * (end - start).days // elapsed
    return PeriodUsage(
        period_start=start, period_end=end, used_bytes=used, bytes_in=total_in, bytes_out=total_out,
        quota_bytes=quota, percent=(used * 100 // quota) if quota else None, projected_bytes=projected,
        counting=counting, daily=daily,
    )  # fmt: skip


def format_bytes(value: int | None) -> str:
    """Decimal units as quotas are sold (1 GB = 10^9 bytes), unlike filesizeformat's 1024 steps."""
    value = int(value or 0)
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if value >= size:
            return f"{value / size:,.2f} {unit}"
    return f"{value} B"


def hourly_series(service, start: dt.datetime, end: dt.datetime) -> list[HourlyUsage]:
    return list(
        HourlyUsage.objects.filter(service=service, window_start__gte=start, window_start__lt=end).order_by(
            "window_start"
        )
    )


def current_periods(today: dt.date | None = None):
    today = today or clock.today()
    return BandwidthPeriod.objects.filter(period_start__lte=today, period_end__gt=today).select_related(
        "service__customer__user", "service__product"
    )


def top_consumers(limit: int = 20, today: dt.date | None = None):
    return current_periods(today).order_by("-counted_bytes")[:limit]


def near_quota(share_percent: int = 75, limit: int = 50, today: dt.date | None = None):
    """Metered services at or over `share_percent` of quota this period, fullest first."""
    return (
        current_periods(today)
        .filter(quota_bytes__gt=0)
        .filter(Q(counted_bytes__gte=F("quota_bytes") * share_percent / 100))
        .annotate(fill=F("counted_bytes") * 1000 / F("quota_bytes"))
        .order_by("-fill")[:limit]
    )

"""This period's bandwidth for the service page: the period total against its quota and the daily
rows as a small inline SVG bar chart (no script, no CDN). Reads the usage models directly."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from core import clock
from core.usage.models import BandwidthPeriod, BandwidthUsage

GB = 1000**3
CHART_WIDTH = 600
CHART_HEIGHT = 120


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: dt.date
    total_bytes: int

    @property
    def label(self) -> str:
        return gigabytes(self.total_bytes)


@dataclass
class BandwidthSummary:
    period_start: dt.date
    period_end: dt.date
    used_bytes: int
    quota_bytes: int | None
    bars: list[Bar] = field(default_factory=list)
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def percent(self) -> int | None:
        if not self.quota_bytes:
            return None
        return min(self.used_bytes * 100 // self.quota_bytes, 999)

    @property
    def used_gb(self) -> str:
        return gigabytes(self.used_bytes)

    @property
    def quota_gb(self) -> str:
        return gigabytes(self.quota_bytes or 0)

    @property
    def meter_width(self) -> int:
        return min(self.percent or 0, 100)


def gigabytes(count: int) -> str:
    """Bytes as decimal GB with one place, as quotas are sold (1 GB = 10^9 bytes)."""
    return f"{Decimal(count) / GB:,.1f} GB"


def current_bandwidth(service) -> BandwidthSummary | None:
    """The open period containing today (else the latest one), or None when nothing was metered yet."""
    today = clock.today()
    periods = BandwidthPeriod.objects.filter(service=service)
    period = periods.filter(period_start__lte=today, period_end__gt=today).first() or periods.first()
    quota_gb = service.product.bandwidth_quota_gb
    if period is None:
        return None
    quota = period.quota_bytes if period.quota_bytes is not None else (quota_gb * GB if quota_gb else None)
    days = list(
        BandwidthUsage.objects.filter(service=service, day__gte=period.period_start, day__lt=period.period_end)
        .order_by("day")
        .values_list("day", "bytes_in", "bytes_out")
    )
    used = period.counted_bytes or period.total_bytes
    summary = BandwidthSummary(period.period_start, period.period_end, used, quota)
    span = max((period.period_end - period.period_start).days, 1)
    peak = max([i + o for _, i, o in days] or [0]) or 1
    slot = CHART_WIDTH / span
    for day, bytes_in, bytes_out in days:
        total = bytes_in + bytes_out
        height = round(total / peak * (CHART_HEIGHT - 4), 1)
        x = round((day - period.period_start).days * slot + 1, 1)
        summary.bars.append(Bar(x, round(CHART_HEIGHT - height, 1), round(max(slot - 2, 1), 1), height, day, total))
    return summary

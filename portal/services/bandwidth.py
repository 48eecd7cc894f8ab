"""This period's bandwidth for the service page: the period total against its quota and the daily
rows as a small inline SVG bar chart (no script, no CDN). The figures come from
core.usage.queries.period_usage, as in the API and the admin."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from core.usage.models import BandwidthPeriod
from core.usage.queries import period_usage

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
    projected_bytes: int = 0
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
    def projected_gb(self) -> str:
        return gigabytes(self.projected_bytes)

    @property
    def meter_width(self) -> int:
        return min(self.percent or 0, 100)


def gigabytes(count: int) -> str:
    """Bytes as decimal GB with one place, as quotas are sold (1 GB = 10^9 bytes)."""
    return f"{Decimal(count) / GB:,.1f} GB"


def current_bandwidth(service) -> BandwidthSummary | None:
    """This period's usage (core.usage.queries.period_usage: what the product counts, its quota and
    the projection) drawn as bars, or None when nothing was metered for the service yet."""
    usage = period_usage(service)
    if not usage.used_bytes and not BandwidthPeriod.objects.filter(service=service).exists():
        return None
    summary = BandwidthSummary(usage.period_start, usage.period_end, usage.used_bytes, usage.quota_bytes,
                               projected_bytes=usage.projected_bytes)  # fmt: skip
    span = max((usage.period_end - usage.period_start).days, 1)
    peak = max([day["used"] for day in usage.daily] or [0]) or 1
    slot = CHART_WIDTH / span
    for day in usage.daily:
        if not day["used"]:
            continue
        height = round(day["used"] / peak * (CHART_HEIGHT - 4), 1)
        x = round((day["day"] - usage.period_start).days * slot + 1, 1)
        summary.bars.append(
            Bar(x, round(CHART_HEIGHT - height, 1), round(max(slot - 2, 1), 1), height, day["day"], day["used"])
        )
    return summary

"""Which usage period a day belongs to: the service's billing period, else the calendar month."""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta

from core.catalog.models import CYCLE_MONTHS


def period_bounds(service, day: dt.date) -> tuple[dt.date, dt.date]:
    """[start, end) dates of the period containing `day`. Periods follow the subscription's
    current period (stepped back or forward by whole cycles); services without one use months."""
    sub = getattr(service, "subscription", None)
    if sub is not None and sub.current_period_start and sub.current_period_end:
        start = sub.current_period_start.astimezone(dt.UTC).date()
        end = sub.current_period_end.astimezone(dt.UTC).date()
        months = CYCLE_MONTHS.get(sub.cycle, 1)
        anchor, steps = start, 0
        while day < start and steps < 240:
            steps += 1
            start, end = anchor - relativedelta(months=months * steps), start
        while day >= end and steps < 240:
            steps += 1
            start, end = end, anchor + relativedelta(months=months * (steps + 1))
        if start <= day < end:
            return start, end
    first = day.replace(day=1)
    return first, first + relativedelta(months=1)

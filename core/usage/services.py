"""Bandwidth collection: hourly windows from the flow source into the ledger, and the daily and
period totals derived from it.

Invariants:
- only closed windows are read (never the hour still filling);
- a window's ledger rows are replaced as a whole inside one transaction: re-running a window
  never adds twice, and a failed or suspect read writes nothing;
- daily rows (BandwidthUsage) and period totals (BandwidthPeriod) are always sums of the ledger;
- a closed period's totals no longer change (its charge may already be on an invoice).

Quota alerts, period close and overage charges are in core.usage.overage; the names the billing
run and others call are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Sum

from core import clock
from core.notifications.services import discord_alert

from .addresses import AddressResolver, addresses_for_window, normalise_network
from .conf import setting
from .models import BandwidthPeriod, BandwidthPolicy, BandwidthUsage, CollectionWindow, HourlyUsage, count_bytes
from .overage import (  # noqa: F401  (re-exported: the billing run and others call them from here)
    adjust_overage,
    check_quotas,
    close_due_periods,
    overage_line_description,
    waive_overage,
)
from .periods import period_bounds
from .sources import FlowSource, FlowSourceError, get_flow_source

log = logging.getLogger(__name__)

HOUR = dt.timedelta(hours=1)
WRITE_BATCH = 2000


@dataclass
class CollectionRun:
    windows: list[dt.datetime] = field(default_factory=list)
    collected: int = 0
    suspect: int = 0
    failed: int = 0
    rows_written: int = 0
    search_requests: int = 0
    error: str = ""
    periods_updated: int = 0
    alerts_sent: int = 0
    periods_closed: int = 0


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def last_closed_window(now: dt.datetime | None = None) -> dt.datetime:
    """Start of the newest hour that is over, plus the settle delay for late exporters."""
    now = now or clock.now()
    return floor_hour(now - dt.timedelta(minutes=setting("WINDOW_DELAY_MINUTES"))) - HOUR


def windows_to_collect(now: dt.datetime | None = None) -> list[dt.datetime]:
    """Oldest first: every closed window in the look-back not yet collected well (gaps, failed or
    suspect windows), at most MAX_WINDOWS_PER_RUN of them, plus the last REREAD_WINDOWS windows again."""
    latest = last_closed_window(now)
    horizon = latest - HOUR * (setting("GAP_LOOKBACK_HOURS") - 1)
    known = CollectionWindow.objects.filter(start__gte=horizon, start__lte=latest)
    good = set(known.filter(status=CollectionWindow.Status.OK).values_list("start", flat=True))
    first = known.order_by("start").values_list("start", flat=True).first()
    if first is None:
        first = latest - HOUR * (setting("INITIAL_BACKFILL_HOURS") - 1)
    first = max(first, horizon)
    missing, moment = [], first
    while moment <= latest:
        if moment not in good:
            missing.append(moment)
        moment += HOUR
    missing = missing[: setting("MAX_WINDOWS_PER_RUN")]
    reread = [latest - HOUR * n for n in range(setting("REREAD_WINDOWS"))]
    return sorted(set(missing) | {w for w in reread if w >= first})


def own_prefixes() -> list[str]:
    if not setting("EXCLUDE_OWN_TRAFFIC"):
        return []
    return [normalise_network(p) for p in setting("OWN_PREFIXES")]


def collect_window(
    start: dt.datetime, *, source: FlowSource | None = None, accept_low: bool = False
) -> CollectionWindow:
    """Read one closed hour and replace its ledger rows. Raises FlowSourceError (nothing written)
    when the flow store cannot answer; a zero or sharply lower total is kept as a suspect window
    (ledger untouched, staff alerted) unless `accept_low` (staff re-run after checking)."""
    start = floor_hour(start)
    end = start + HOUR
    if end > last_closed_window() + HOUR:
        raise FlowSourceError(f"The window {start:%Y-%m-%d %H:00} UTC is not closed yet.", kind="not_closed")
    holders = addresses_for_window(start, end)
    source = source or get_flow_source()
    now = clock.now()
    if not holders:
        return _save_window(start, CollectionWindow.Status.OK, now=now)
    try:
        counts = source.hourly_bytes(start, end, sorted(holders), exclude_prefixes=own_prefixes())
    except FlowSourceError as exc:
        _record_failure(start, exc, now)
        raise
    resolver = AddressResolver(holders)
    per_service: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for ip, value in counts.bytes_in.items():
        service_id = resolver.service_for(ip)
        if service_id is not None:
            per_service[service_id][0] += value
    for ip, value in counts.bytes_out.items():
        service_id = resolver.service_for(ip)
        if service_id is not None:
            per_service[service_id][1] += value
    for ip, docs in counts.docs.items():
        service_id = resolver.service_for(ip)
        if service_id is not None:
            per_service[service_id][2] += docs
    total = sum(v[0] + v[1] for v in per_service.values())
    provenance = {
        "index_pattern": counts.index_pattern[:255], "schema": counts.schema[:8], "query_hash": counts.query_hash,
        "search_requests": counts.search_requests, "doc_count": counts.doc_count, "total_bytes": total,
        "services": len(per_service),
    }  # fmt: skip
    reason = None if accept_low else _suspect_reason(start, total)
    if reason:
        window = _save_window(start, CollectionWindow.Status.SUSPECT, now=now, error=reason, **provenance)
        discord_alert(
            "Bandwidth window suspect: not billed",
            f"{start:%Y-%m-%d %H:00} UTC: {reason} The hour's ledger was left as it was; check ElastiFlow, "
            "then re-run the window from the admin (Collection windows).",
            level="warning", dedupe_key=f"usage-suspect:{start.isoformat()}",
            fields=[("Total", f"{total:,} bytes"), ("Documents", f"{counts.doc_count:,}")],
        )  # fmt: skip
        log.warning("Bandwidth window %s suspect: %s", start.isoformat(), reason)
        return window
    adapt = connection.ops.adapt_datetimefield_value
    window_value, now_value = adapt(start), adapt(now)
    rows = [
        (service_id, window_value, v[0], v[1], v[2], provenance["index_pattern"], counts.query_hash, now_value)
        for service_id, v in per_service.items()
    ]
    with transaction.atomic():
        # Two collectors on the same hour take turns: the second replaces the first's rows.
        CollectionWindow.objects.get_or_create(start=start, defaults={"status": CollectionWindow.Status.FAILED})
        CollectionWindow.objects.select_for_update().get(start=start)
        HourlyUsage.objects.filter(window_start=start).delete()
        _insert_ledger(rows)
        window = _save_window(start, CollectionWindow.Status.OK, now=now, **provenance)
    return window


_LEDGER_COLUMNS = (
    "service_id", "window_start", "bytes_in", "bytes_out", "doc_count", "index_pattern", "query_hash", "collected_at",
)  # fmt: skip


def _insert_ledger(rows: list[tuple]) -> None:
    """Plain multi-row INSERTs: 10,000 rows an hour through the ORM's bulk_create cost more in SQL
    compilation than in the database (benchmark: tests/benchmarks/test_bandwidth_collection.py)."""
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(HourlyUsage._meta.db_table)} ({', '.join(quote(c) for c in _LEDGER_COLUMNS)}) "  # noqa: S608 (constants)
        f"VALUES ({', '.join(['%s'] * len(_LEDGER_COLUMNS))})"
    )
    with connection.cursor() as cursor:
        for offset in range(0, len(rows), WRITE_BATCH):
            cursor.executemany(sql, rows[offset : offset + WRITE_BATCH])


def _save_window(start, status, *, now, error="", **fields) -> CollectionWindow:
    window, created = CollectionWindow.objects.get_or_create(
        start=start, defaults={"status": status, "collected_at": now, "error": error, "attempts": 1, **fields}
    )
    if not created:
        window.status = status
        window.collected_at = now
        window.error = error
        window.attempts += 1
        for name, value in fields.items():
            setattr(window, name, value)
        window.save()
    return window


def _record_failure(start, exc: FlowSourceError, now) -> None:
    window = CollectionWindow.objects.filter(start=start).first()
    message = f"[{exc.kind}] {exc}"
    if window is None:
        CollectionWindow.objects.create(
            start=start, status=CollectionWindow.Status.FAILED, error=message, attempts=1, collected_at=now
        )
    else:
        # A re-read that fails keeps the numbers (and status) of the last good read.
        CollectionWindow.objects.filter(pk=window.pk).update(error=message, attempts=window.attempts + 1)


def _suspect_reason(start: dt.datetime, total: int) -> str:
    if total == 0:
        return "No traffic at all for any service in this hour."
    recent = list(
        CollectionWindow.objects.filter(status=CollectionWindow.Status.OK, start__lt=start, total_bytes__gt=0)
        .order_by("-start")
        .values_list("total_bytes", flat=True)[: setting("SUSPECT_BASELINE_WINDOWS")]
    )
    if len(recent) < 3:
        return ""
    baseline = statistics.median(recent)
    share = Decimal(str(setting("SUSPECT_DROP_SHARE")))
    if Decimal(total) < Decimal(baseline) * share:
        return f"Total {total:,} bytes is below {share:%} of the recent median ({int(baseline):,} bytes)."
    return ""


def collect_bandwidth(now: dt.datetime | None = None, *, source: FlowSource | None = None) -> CollectionRun:
    """The hourly task: collect due windows (gaps, failed, suspect, and the last few again for late
    flows), then refresh daily and period totals, send quota alerts and close ended periods.

    Stops at the first window the flow store cannot answer (the rest are due again next run)."""
    from . import overage

    run = CollectionRun(windows=windows_to_collect(now))
    source = source or get_flow_source()
    days: set[dt.date] = set()
    for start in run.windows:
        try:
            window = collect_window(start, source=source)
        except FlowSourceError as exc:
            run.failed += 1
            run.error = f"[{exc.kind}] {exc}"
            log.error("Bandwidth collection stopped at %s: %s", start.isoformat(), run.error)
            discord_alert(
                "Bandwidth collection failed",
                f"{start:%Y-%m-%d %H:00} UTC and later windows were not collected: {exc}",
                level="error", dedupe_key=f"usage-failed:{exc.kind}:{start:%Y-%m-%dT%H}",
            )  # fmt: skip
            break
        run.search_requests += window.search_requests
        if window.status == CollectionWindow.Status.OK:
            run.collected += 1
            run.rows_written += window.services
            days.add(start.date())
        else:
            run.suspect += 1
    periods = refresh_totals(days)
    run.periods_updated = len(periods)
    run.alerts_sent = overage.check_quotas(periods)
    run.periods_closed = len(overage.close_due_periods(now))
    return run


def refresh_totals(days) -> list[BandwidthPeriod]:
    """Recompute the daily rows of `days` from the ledger, then the open periods containing them."""
    touched: set[tuple[int, dt.date]] = set()
    for day in sorted(days):
        touched |= {(service_id, day) for service_id in refresh_day(day)}
    if not touched:
        return []
    return refresh_periods(touched)


def refresh_day(day: dt.date) -> set[int]:
    """BandwidthUsage rows of one UTC day = sums of that day's ledger hours. Returns the services changed."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    sums = (
        HourlyUsage.objects.filter(window_start__gte=start, window_start__lt=start + dt.timedelta(days=1))
        .values("service_id")
        .annotate(bytes_in=Sum("bytes_in"), bytes_out=Sum("bytes_out"))
    )
    now = clock.now()
    rows = [
        BandwidthUsage(
            service_id=s["service_id"], day=day, bytes_in=s["bytes_in"], bytes_out=s["bytes_out"], collected_at=now
        )
        for s in sums
    ]
    with transaction.atomic():
        before = set(BandwidthUsage.objects.filter(day=day).values_list("service_id", flat=True))
        seen = {row.service_id for row in rows}
        gone = before - seen
        if gone:
            BandwidthUsage.objects.filter(day=day, service_id__in=gone).delete()
        # MySQL/MariaDB upsert on any unique key (ON DUPLICATE KEY UPDATE) and refuse a named target.
        target = ["service", "day"] if connection.features.supports_update_conflicts_with_target else None
        BandwidthUsage.objects.bulk_create(
            rows, batch_size=WRITE_BATCH, update_conflicts=True, unique_fields=target,
            update_fields=["bytes_in", "bytes_out", "collected_at"],
        )  # fmt: skip
    return before | seen


def refresh_periods(pairs) -> list[BandwidthPeriod]:
    """Open periods containing these (service, day) pairs, created when missing, with totals summed
    from the daily rows and the product's quota and counting rule."""
    from core.provisioning.models import Service

    days_of = defaultdict(set)
    for service_id, day in pairs:
        days_of[service_id].add(day)
    service_ids = sorted(days_of)
    days = sorted({day for _, day in pairs})
    services = {s.pk: s for s in Service.objects.filter(pk__in=service_ids).select_related("subscription", "product")}
    policies = dict(
        BandwidthPolicy.objects.filter(product_id__in={s.product_id for s in services.values()}).values_list(
            "product_id", "counting"
        )
    )
    existing = defaultdict(list)
    for period in BandwidthPeriod.objects.filter(
        service_id__in=service_ids, period_start__lte=days[-1], period_end__gt=days[0]
    ):
        existing[period.service_id].append(period)
    wanted: dict[tuple[int, dt.date], dt.date] = {}
    for service_id, service in services.items():
        for day in sorted(days_of[service_id]):
            if any(p.period_start <= day < p.period_end for p in existing[service_id]):
                continue
            start, end = period_bounds(service, day)
            wanted[(service_id, start)] = end
    if wanted:
        BandwidthPeriod.objects.bulk_create(
            [BandwidthPeriod(service_id=sid, period_start=start, period_end=end) for (sid, start), end in wanted.items()],
            batch_size=WRITE_BATCH, ignore_conflicts=True,
        )  # fmt: skip
    periods = [
        p
        for p in BandwidthPeriod.objects.filter(
            service_id__in=service_ids, period_start__lte=days[-1], period_end__gt=days[0], closed_at__isnull=True
        )
        if any(p.period_start <= day < p.period_end for day in days_of[p.service_id])
    ]
    if not periods:
        return []
    low = min(p.period_start for p in periods)
    high = max(p.period_end for p in periods)
    daily = defaultdict(list)
    for service_id, day, bytes_in, bytes_out in BandwidthUsage.objects.filter(
        service_id__in={p.service_id for p in periods}, day__gte=low, day__lt=high
    ).values_list("service_id", "day", "bytes_in", "bytes_out"):
        daily[service_id].append((day, bytes_in, bytes_out))
    for period in periods:
        service = services[period.service_id]
        period.bytes_in = sum(
            b_in for day, b_in, _ in daily[period.service_id] if period.period_start <= day < period.period_end
        )
        period.bytes_out = sum(
            b_out for day, _, b_out in daily[period.service_id] if period.period_start <= day < period.period_end
        )
        counting = policies.get(service.product_id, BandwidthPolicy.Counting.MAX)
        period.counted_bytes = count_bytes(counting, period.bytes_in, period.bytes_out)
        quota_gb = service.product.bandwidth_quota_gb
        period.quota_bytes = quota_gb * 10**9 if quota_gb else None
    # One multi-row upsert on (service, period_start) instead of bulk_update's CASE per row.
    target = ["service", "period_start"] if connection.features.supports_update_conflicts_with_target else None
    BandwidthPeriod.objects.bulk_create(
        [
            BandwidthPeriod(
                service_id=p.service_id, period_start=p.period_start, period_end=p.period_end, bytes_in=p.bytes_in,
                bytes_out=p.bytes_out, counted_bytes=p.counted_bytes, quota_bytes=p.quota_bytes,
            )
            for p in periods
        ],
        batch_size=WRITE_BATCH, update_conflicts=True, unique_fields=target,
        update_fields=["bytes_in", "bytes_out", "counted_bytes", "quota_bytes"],
    )  # fmt: skip
    return periods


def rerun_window(start: dt.datetime, *, actor=None, accept_low: bool = False) -> CollectionWindow:
    """Staff: collect one window again now (audited), and refresh the totals it feeds."""
    from core.audit.services import record

    from . import overage

    window = collect_window(start, accept_low=accept_low)
    record(
        "usage.window_rerun", window, actor=actor,
        message=f"Re-ran {window} ({window.get_status_display()})", data={"accept_low": accept_low},
    )  # fmt: skip
    if window.status == CollectionWindow.Status.OK:
        overage.check_quotas(refresh_totals({window.start.date()}))
    return window

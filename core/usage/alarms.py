"""Platform traffic counters against the ledger: a divergence beyond a share is raised to staff.

VirtFusion traffic, Enhance transfer and Pterodactyl resources come through the drivers'
ResourceUsage (traffic_in/out or traffic_total). Their counting periods are the platform's own
(UNCONFIRMED whether they reset on our billing date), so the comparison is made on the open
period and a small floor (PLATFORM_DIVERGENCE_MIN_BYTES) keeps quiet services out of it.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from core import clock
from core.notifications.services import discord_alert

from .conf import setting
from .models import BandwidthPeriod
from .queries import format_bytes

log = logging.getLogger(__name__)


def platform_total(usage) -> int | None:
    if usage.traffic_total_bytes is not None:
        return int(usage.traffic_total_bytes)
    if usage.traffic_in_bytes is None and usage.traffic_out_bytes is None:
        return None
    return int(usage.traffic_in_bytes or 0) + int(usage.traffic_out_bytes or 0)


def divergence(ledger: int, platform: int) -> Decimal:
    high = max(ledger, platform)
    if high == 0:
        return Decimal(0)
    return Decimal(abs(ledger - platform)) / Decimal(high)


def compare_period(period: BandwidthPeriod, usage) -> bool:
    """Alert (once per period and day) when the platform's counter and the ledger disagree."""
    platform = platform_total(usage)
    if platform is None:
        return False
    ledger = period.total_bytes
    if max(ledger, platform) < setting("PLATFORM_DIVERGENCE_MIN_BYTES"):
        return False
    share = divergence(ledger, platform)
    limit = Decimal(str(setting("PLATFORM_DIVERGENCE_SHARE")))
    if share <= limit:
        return False
    service = period.service
    discord_alert(
        "Bandwidth differs from the platform's counter",
        f"{service} ({service.customer}): ledger {format_bytes(ledger)} ({ledger:,} bytes), platform "
        f"{format_bytes(platform)} ({platform:,} bytes) for {period.period_start:%Y-%m-%d} to "
        f"{period.period_end:%Y-%m-%d}: {share:.1%} apart (limit {limit:.0%}).",
        level="warning", dedupe_key=f"usage-divergence:{period.pk}:{clock.today()}",
        fields=[("Service", f"#{service.pk} {service}"), ("Ledger", f"{ledger:,}"), ("Platform", f"{platform:,}")],
    )  # fmt: skip
    log.warning("Bandwidth divergence on service %s: ledger %s, platform %s", service.pk, ledger, platform)
    return True


def compare_platform_counters() -> int:
    """Ask each active service's driver for its traffic counter; returns the alerts raised."""
    from core.provisioning.drivers import DriverError, get_driver

    today = clock.today()
    alerts = 0
    periods = BandwidthPeriod.objects.filter(
        closed_at__isnull=True, period_start__lte=today, period_end__gt=today,
        service__status="active", service__connection__isnull=False,
    ).select_related("service__connection", "service__customer")  # fmt: skip
    for period in periods.iterator(chunk_size=500):
        try:
            usage = get_driver(period.service.connection).usage(period.service)
        except (DriverError, NotImplementedError) as exc:
            log.info("No traffic counter for service %s: %s", period.service_id, exc)
            continue
        except Exception:
            log.exception("Traffic counter of service %s failed", period.service_id)
            continue
        alerts += compare_period(period, usage)
    return alerts

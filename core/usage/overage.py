"""Quota alerts (75/90/100 %, once per period each), period close and the overage charge.

- An alert threshold is claimed with a conditional update (sent_at IS NULL), so repeated or
  concurrent runs send each one once per period. When one run crosses several thresholds at once
  (a catch-up), the customer gets the highest one only and the lower ones are marked as passed.
- A period closes once its last hour has been collected (with the re-read margin) and no hour in
  it is suspect or failed. Its overage (counted bytes over quota, rounded as the product's policy
  says, priced per GB in the subscription's currency) becomes a pending charge: the billing run
  puts every closed period with overage_amount > 0 and no invoice on the next renewal invoice.
- Staff may waive or adjust the charge, with a reason (audited), until it is invoiced.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import ROUND_CEILING, Decimal

from django.db import transaction

from core import clock, money
from core.audit.services import record
from core.notifications.services import discord_alert, send_email

from .conf import setting
from .errors import ChargeNotEditable, UsageError
from .models import BandwidthPeriod, BandwidthPolicy, CollectionWindow
from .queries import format_bytes

log = logging.getLogger(__name__)

GB = Decimal(10**9)
THRESHOLDS = (100, 90, 75)


def policy_for(product) -> BandwidthPolicy:
    try:
        return product.bandwidth_policy
    except BandwidthPolicy.DoesNotExist:
        return BandwidthPolicy(product=product)


def check_quotas(periods) -> int:
    """Send the quota alerts these (freshly totalled) periods now deserve. Returns emails queued."""
    sent = 0
    for period in periods:
        if not period.quota_bytes or period.closed_at:
            continue
        crossed = [t for t in THRESHOLDS if period.counted_bytes * 100 >= period.quota_bytes * t]
        claimed = []
        for threshold in crossed:
            field = f"alert_{threshold}_sent_at"
            if getattr(period, field):
                continue
            now = clock.now()
            if BandwidthPeriod.objects.filter(pk=period.pk, **{f"{field}__isnull": True}).update(**{field: now}):
                setattr(period, field, now)
                claimed.append(threshold)
        if claimed:
            sent += _send_alert(period, max(claimed))
    return sent


def _send_alert(period: BandwidthPeriod, threshold: int) -> int:
    service = period.service
    customer = service.customer
    policy = policy_for(service.product)
    suspend = threshold == 100 and policy.at_quota == BandwidthPolicy.AtQuota.SUSPEND
    context = {
        "threshold": threshold, "service_name": str(service), "used": format_bytes(period.counted_bytes),
        "quota": format_bytes(period.quota_bytes), "period_start": period.period_start,
        "period_end": period.period_end, "percent": period.percent_used, "suspend": suspend,
        "overage_rate": _rate_text(service),
        "customer_name": getattr(customer, "display_name", ""),
    }  # fmt: skip
    queued = send_email(
        f"bandwidth_{threshold}", to=customer.user.email, customer=customer, template="bandwidth_alert",
        subject=f"{service}: {threshold}% of your bandwidth quota used", context=context,
        dedupe_key=f"bandwidth_{threshold}:{period.pk}",
    )  # fmt: skip
    discord_alert(
        f"Bandwidth {threshold}% of quota",
        f"{service} ({customer}) used {context['used']} of {context['quota']} "
        f"({period.period_start:%Y-%m-%d} to {period.period_end:%Y-%m-%d}).",
        level="warning" if threshold < 100 else "error", dedupe_key=f"bandwidth_{threshold}:{period.pk}:staff",
    )  # fmt: skip
    if suspend and service.status == "active":
        from core.provisioning.services.actions import suspend_service

        suspend_service(service, reason=f"Bandwidth quota used up ({period.period_start:%Y-%m-%d} period)")
    return 1 if queued else 0


def _rate_text(service) -> str:
    sub = service.subscription
    if sub is None or not sub.price.overage_per_gb:
        return ""
    return f"{sub.price.overage_per_gb.normalize():f} {sub.currency_id} per GB"


def billable_gb(over_bytes: int, rounding: str) -> Decimal:
    """GB over quota as billed: per started GB (default), per started 10 GB, or exact to the MB
    (always up: a started unit is a used unit)."""
    if over_bytes <= 0:
        return Decimal("0")
    gb = Decimal(over_bytes) / GB
    if rounding == BandwidthPolicy.Rounding.STARTED_10GB:
        return (gb / 10).to_integral_value(rounding=ROUND_CEILING) * 10
    if rounding == BandwidthPolicy.Rounding.EXACT:
        return gb.quantize(Decimal("0.001"), rounding=ROUND_CEILING)
    return gb.to_integral_value(rounding=ROUND_CEILING)


def overage_for(period: BandwidthPeriod, service) -> dict:
    """The charge of a period: bytes over quota, billable GB, rate, currency and amount."""
    if not period.quota_bytes:
        return {"overage_bytes": 0, "billable": None, "rate": None, "currency": "", "amount": None}
    policy = policy_for(service.product)
    over = max(0, period.counted_bytes - period.quota_bytes)
    gb = billable_gb(over, policy.rounding)
    sub = service.subscription
    if sub is None or policy.at_quota == BandwidthPolicy.AtQuota.SUSPEND:
        return {"overage_bytes": over, "billable": gb, "rate": None, "currency": "", "amount": None}
    rate = sub.price.overage_per_gb
    amount = money.quantize(gb * rate, sub.currency_id)
    return {"overage_bytes": over, "billable": gb, "rate": rate, "currency": sub.currency_id, "amount": amount}


def period_end_moment(period: BandwidthPeriod) -> dt.datetime:
    return dt.datetime.combine(period.period_end, dt.time(), tzinfo=dt.UTC)


def close_due_periods(now: dt.datetime | None = None) -> list[BandwidthPeriod]:
    """Close every open period whose last hour is collected and re-read; price its overage."""
    from .services import HOUR, last_closed_window

    now = now or clock.now()
    latest = last_closed_window(now)
    margin = HOUR * setting("REREAD_WINDOWS")
    # The period's last hour starts at end - 1h; it must be collected and read REREAD_WINDOWS times.
    cutoff = (latest - margin + HOUR).date()
    closed = []
    due = BandwidthPeriod.objects.filter(closed_at__isnull=True, period_end__lte=cutoff).values_list("pk", flat=True)
    for pk in list(due[:5000]):
        period = close_period(pk, now=now)
        if period is not None:
            closed.append(period)
    return closed


def close_period(pk: int, *, now: dt.datetime | None = None) -> BandwidthPeriod | None:
    """Close one period (idempotent); None when held (suspect or failed hours inside it)."""
    now = now or clock.now()
    with transaction.atomic():
        period = BandwidthPeriod.objects.select_for_update().filter(pk=pk).first()
        if period is None or period.closed_at:
            return None
        start = dt.datetime.combine(period.period_start, dt.time(), tzinfo=dt.UTC)
        held = CollectionWindow.objects.filter(
            start__gte=start, start__lt=period_end_moment(period),
            status__in=[CollectionWindow.Status.SUSPECT, CollectionWindow.Status.FAILED],
        ).count()  # fmt: skip
        if held:
            discord_alert(
                "Bandwidth period held open",
                f"{held} hour(s) of {period.period_start:%Y-%m-%d} to {period.period_end:%Y-%m-%d} are suspect or "
                "failed; re-run them (admin: Collection windows) before the overage is charged.",
                level="warning", dedupe_key=f"usage-held:{period.period_start}:{period.period_end}",
            )  # fmt: skip
            return None
        from core.provisioning.models import Service

        service = Service.objects.select_related("subscription__price", "product").get(pk=period.service_id)
        charge = overage_for(period, service)
        period.overage_bytes = charge["overage_bytes"]
        period.overage_billable_gb = charge["billable"]
        period.overage_rate = charge["rate"]
        period.overage_currency = charge["currency"]
        period.overage_amount = charge["amount"]
        period.computed_overage_amount = charge["amount"]
        period.closed_at = now
        period.save()
    if period.overage_amount:
        record(
            "usage.overage_pending", period, source="task",
            message=f"Overage {money.format_amount(period.overage_amount, period.overage_currency)} pending",
            data={"counted_bytes": period.counted_bytes, "quota_bytes": period.quota_bytes,
                  "billable_gb": str(period.overage_billable_gb), "rate": str(period.overage_rate)},
        )  # fmt: skip
    return period


def adjust_overage(period: BandwidthPeriod, amount, *, reason: str, actor=None) -> BandwidthPeriod:
    """Staff: change a pending overage charge before it is invoiced (0 waives it). Audited."""
    reason = (reason or "").strip()
    if not reason:
        raise UsageError("Give a reason for changing the overage charge (it is kept in the audit log).")
    with transaction.atomic():
        period = BandwidthPeriod.objects.select_for_update().get(pk=period.pk)
        if not period.closed_at:
            raise ChargeNotEditable("The period is still open: its charge is computed when it closes.")
        if period.overage_invoice_id:
            raise ChargeNotEditable(
                "This overage is already on an invoice; issue a credit note on that invoice instead."
            )
        if not period.overage_currency:
            raise ChargeNotEditable(
                "This period has no charge to adjust (unmetered, suspended at quota, or no subscription)."
            )
        value = money.quantize(amount, period.overage_currency)
        if value < 0:
            raise UsageError("An overage charge cannot be negative.")
        before = {"overage_amount": str(period.overage_amount)}
        period.overage_amount = value
        period.adjustment_reason = reason[:255]
        period.adjusted_at = clock.now()
        period.save(update_fields=["overage_amount", "adjustment_reason", "adjusted_at"])
        record(
            "usage.overage_waived" if value == 0 else "usage.overage_adjusted", period, actor=actor,
            message=reason, before=before, after={"overage_amount": str(value)},
        )  # fmt: skip
    return period


def waive_overage(period: BandwidthPeriod, *, reason: str, actor=None) -> BandwidthPeriod:
    return adjust_overage(period, 0, reason=reason, actor=actor)


def overage_line_description(period: BandwidthPeriod) -> str:
    """Invoice line text: the ledger total, the quota and the price, so the line explains itself."""
    used = _gb(period.counted_bytes)
    quota = _gb(period.quota_bytes or 0)
    text = (
        f"Bandwidth overage {period.period_start:%Y-%m-%d} to {period.period_end:%Y-%m-%d}: "
        f"{used} GB used (metered), quota {quota} GB"
    )
    if period.overage_billable_gb is not None and period.overage_rate is not None:
        text += f", {period.overage_billable_gb.normalize():f} GB billed at {period.overage_rate.normalize():f} {period.overage_currency}/GB"
    if period.adjustment_reason and period.overage_amount != period.computed_overage_amount:
        text += " (adjusted)"
    return text


def _gb(value: int) -> str:
    return f"{(Decimal(value) / GB).quantize(Decimal('0.01'))}"

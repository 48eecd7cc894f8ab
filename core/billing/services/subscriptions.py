"""Subscriptions: the system's own schedule of what a customer pays and when.

Periods follow calendar months (monthly, quarterly, semi-annual, annual) with dateutil's
relativedelta. A renewal invoice covers the *next* period; the period itself advances at the
period end whether or not that invoice is paid yet (unpaid means past_due, then dunning and the
suspension policy), so the schedule never drifts and a late payment does not shift the dates.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db import transaction

from core import clock, money
from core.audit.services import record
from core.billing.errors import BillingError, SubscriptionError
from core.billing.models import CreditEntry, Invoice, Subscription
from core.billing.services.provisioning_bridge import provisioning
from core.catalog.models import CYCLE_MONTHS

ZERO = Decimal("0")


def add_cycles(start: dt.datetime, cycle: str, count: int = 1) -> dt.datetime:
    return start + relativedelta(months=CYCLE_MONTHS[cycle] * count)


def period_after(subscription: Subscription) -> tuple[dt.datetime, dt.datetime]:
    """The next period (what a renewal invoice covers)."""
    start = subscription.current_period_end
    return start, add_cycles(start, subscription.cycle)


def start_subscription(
    customer,
    price,
    *,
    quantity: int = 1,
    start: dt.datetime | None = None,
    trial_days: int = 0,
    coupon=None,
    coupon_cycles_remaining: int | None = None,
    payment_method=None,
) -> Subscription:
    """Create a subscription whose first period (or trial) starts at `start` (default now)."""
    start = (start or clock.now()).replace(microsecond=0)
    if trial_days > 0:
        end, status, trial_end = start + dt.timedelta(days=trial_days), Subscription.Status.TRIALING, None
        trial_end = end
    else:
        end, status, trial_end = add_cycles(start, price.cycle), Subscription.Status.ACTIVE, None
    if payment_method is None:
        payment_method = customer.payment_methods.filter(removed_at__isnull=True).order_by("-is_default").first()
    return Subscription.objects.create(
        customer=customer, price=price, currency_id=price.currency_id, cycle=price.cycle,
        amount=money.quantize(price.amount * quantity, price.currency_id), status=status,
        current_period_start=start, current_period_end=end, trial_end=trial_end, coupon=coupon,
        coupon_cycles_remaining=coupon_cycles_remaining, payment_method=payment_method,
        gateway=payment_method.gateway if payment_method else "",
    )  # fmt: skip


def mark_subscription_current(subscription: Subscription) -> None:
    """A past-due subscription becomes active again once no issued invoice of it is overdue."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status != Subscription.Status.PAST_DUE:
            return
        overdue = sub.invoices.filter(
            status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE, due_date__lt=clock.today()
        ).exists()
        if not overdue:
            sub.status = Subscription.Status.ACTIVE
            sub.save(update_fields=["status", "updated_at"])
            record("subscription.current", sub)


def mark_subscription_past_due(subscription: Subscription, *, invoice: Invoice | None = None) -> bool:
    updated = Subscription.objects.filter(
        pk=subscription.pk, status__in=[Subscription.Status.ACTIVE, Subscription.Status.TRIALING]
    ).update(status=Subscription.Status.PAST_DUE, updated_at=clock.now())
    if updated:
        record("subscription.past_due", subscription, data={"invoice": getattr(invoice, "number", None)})
    return bool(updated)


CANCEL_REASONS = (
    ("too_expensive", "Too expensive"),
    ("not_needed", "No longer needed"),
    ("switching", "Switching provider"),
    ("performance", "Performance or reliability"),
    ("support", "Support experience"),
    ("other", "Other"),
)


def cancel_subscription(subscription: Subscription, *, reason: str = "", comment: str = "", actor=None) -> Subscription:
    """Cancel at period end (the customer keeps what they paid for), keeping the survey answers for reports.

    An open renewal invoice for the period that will not happen is voided.
    """
    from core.billing.services.invoices import void_invoice

    if reason and reason not in dict(CANCEL_REASONS):
        raise SubscriptionError(f"Unknown cancellation reason {reason!r}.", field="reason")
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status in (Subscription.Status.CANCELLED, Subscription.Status.ENDED):
            raise SubscriptionError("This subscription is already cancelled.")
        already_cancelling = sub.cancel_at_period_end
        sub.cancel_at_period_end = True
        sub.cancelled_at = clock.now()
        sub.cancel_reason = reason
        sub.cancel_comment = comment
        sub.save(
            update_fields=["cancel_at_period_end", "cancelled_at", "cancel_reason", "cancel_comment", "updated_at"]
        )
        for invoice in sub.invoices.filter(
            status=Invoice.Status.ISSUED, renewal_period_start__gte=sub.current_period_end, amount_paid=0
        ):
            void_invoice(invoice, reason="Subscription cancelled at period end", actor=actor)
        record("subscription.cancel", sub, actor=actor, data={"reason": reason, "comment": comment,
                                                              "at_period_end": True})  # fmt: skip
        if not already_cancelling:  # a repeated request (e.g. a new survey answer) is not a new cancellation
            _email_cancelled(sub, at_period_end=True)
    return sub


def _email_cancelled(sub: Subscription, *, at_period_end: bool) -> None:
    """Confirm a cancellation to the customer (queued in its transaction; once per cancellation)."""
    from core.notifications.services import notify

    ends = sub.current_period_end if at_period_end else (sub.ended_at or clock.now())
    notify(
        "subscription_cancelled",
        to=sub.customer.user.email,
        context={"product": sub.price.product.name, "at_period_end": at_period_end, "ends_on": f"{ends:%Y-%m-%d}"},
        key=f"subscription_cancelled:{sub.uuid}:{sub.cancelled_at.isoformat()}",
        customer=sub.customer,
    )


def resume_subscription(subscription: Subscription, *, actor=None) -> Subscription:
    """Undo a cancellation at period end before the period is over."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if not sub.cancel_at_period_end or sub.status in (Subscription.Status.CANCELLED, Subscription.Status.ENDED):
            raise SubscriptionError("Only a subscription set to cancel at period end can be resumed.")
        sub.cancel_at_period_end = False
        sub.cancelled_at = None
        sub.save(update_fields=["cancel_at_period_end", "cancelled_at", "updated_at"])
        record("subscription.resume", sub, actor=actor)
    return sub


def unused_fraction(subscription: Subscription, at: dt.datetime) -> Decimal:
    """The exact share of the current period left at `at`, in seconds (0..1)."""
    total = (subscription.current_period_end - subscription.current_period_start).total_seconds()
    left = (subscription.current_period_end - at).total_seconds()
    if total <= 0:
        return ZERO
    return min(max(Decimal(int(left)) / Decimal(int(total)), ZERO), Decimal(1))


def cancel_subscription_now(
    subscription: Subscription, *, actor, reason: str = "", comment: str = "", prorated_credit: bool = False
) -> Subscription:
    """Staff: end a subscription at once, terminate its services, optionally credit the unused time."""
    from core.billing.services.credit import add_credit
    from core.billing.services.invoices import void_invoice

    now = clock.now()
    with transaction.atomic():
        # The subscription row only; add_credit locks the customer itself, and only when crediting.
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status in (Subscription.Status.CANCELLED, Subscription.Status.ENDED):
            raise SubscriptionError("This subscription has already ended.")
        credit = ZERO
        # Staff decide whether the unused time is owed; trial time was never paid for.
        if prorated_credit and sub.status != Subscription.Status.TRIALING:
            credit = money.quantize(sub.amount * unused_fraction(sub, now), sub.currency_id)
        for invoice in sub.invoices.filter(status=Invoice.Status.ISSUED):
            void_invoice(invoice, reason="Subscription cancelled by staff", actor=actor)
        sub.status = Subscription.Status.CANCELLED
        sub.cancelled_at = now
        sub.ended_at = now
        sub.cancel_reason = reason or sub.cancel_reason
        sub.cancel_comment = comment or sub.cancel_comment
        sub.save(update_fields=["status", "cancelled_at", "ended_at", "cancel_reason", "cancel_comment", "updated_at"])
        if credit > 0 and sub.currency_id == sub.customer.currency_id:
            add_credit(sub.customer, credit, reason=CreditEntry.Reason.CANCELLATION, actor=actor,
                       description=f"Unused time on subscription {sub.pk}")  # fmt: skip
        record("subscription.cancel_now", sub, actor=actor, data={"reason": reason, "credit": str(credit)})
        _email_cancelled(sub, at_period_end=False)
        _terminate_services(sub, reason=f"Subscription {sub.pk} cancelled", actor=actor)
    return sub


def _terminate_services(sub: Subscription, *, reason: str, actor=None) -> None:
    from core.provisioning.models import Service

    for service in sub.services.exclude(status=Service.Status.TERMINATED):
        provisioning().terminate_service(service, reason=reason, actor=actor)


def roll_subscription_period(subscription: Subscription, *, now: dt.datetime | None = None) -> str:
    """At period end: end a subscription set to cancel, or move it to its next period.

    Invariant: the period moves exactly once per period end (the row is locked and re-checked).
    Returns "ended", "advanced" or "" when nothing was due.
    """
    now = now or clock.now()
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.current_period_end > now or sub.status in (Subscription.Status.CANCELLED, Subscription.Status.ENDED):
            return ""
        if sub.cancel_at_period_end:
            sub.status = Subscription.Status.ENDED
            sub.ended_at = sub.current_period_end
            sub.save(update_fields=["status", "ended_at", "updated_at"])
            record("subscription.end", sub, data={"reason": sub.cancel_reason})
            _terminate_services(sub, reason="Subscription ended (cancelled at period end)")
            return "ended"
        start, end = period_after(sub)
        renewal = sub.invoices.filter(renewal_period_start=start).exclude(status=Invoice.Status.VOID).first()
        if renewal is None:
            # The renewal step has not invoiced this period (e.g. it failed); advancing would give it away.
            raise BillingError(
                f"Subscription {sub.pk} has no renewal invoice for the period starting {start:%Y-%m-%d}."
            )
        sub.current_period_start, sub.current_period_end = start, end
        if sub.status == Subscription.Status.TRIALING:
            sub.status = Subscription.Status.ACTIVE
        if renewal.status == Invoice.Status.ISSUED and renewal.due_date and renewal.due_date < now.date():
            sub.status = Subscription.Status.PAST_DUE
        sub.save(update_fields=["current_period_start", "current_period_end", "status", "updated_at"])
    return "advanced"

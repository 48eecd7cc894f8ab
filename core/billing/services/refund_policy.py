"""Who may refund how much: staff with `billing.refund_payment` (the Billing role) refund up to
settings.STAFF_REFUND_LIMIT (in settings.DEFAULT_CURRENCY, other currencies converted at the
staff-set exchange rates); above it takes `billing.refund_any_amount` (the Admin role) or a superuser.
Refunds not made by a person (gateway webhooks, dashboard refunds reflected, imports) are not limited.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from core.billing.errors import PaymentError


def refund_limit() -> Decimal:
    return Decimal(str(getattr(settings, "STAFF_REFUND_LIMIT", "250.00")))


def in_limit_currency(amount: Decimal, currency: str) -> Decimal:
    from core.catalog.models import Currency

    if currency == settings.DEFAULT_CURRENCY:
        return amount
    rate = Currency.objects.filter(code=currency).values_list("exchange_rate", flat=True).first()
    return amount / (rate or Decimal("1"))


def check_refund_allowed(actor, *, amount: Decimal, currency: str) -> None:
    """Raise PaymentError (nothing refunded) when this staff user may not refund this much."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return
    if actor.is_superuser or actor.has_perm("billing.refund_any_amount"):
        return
    if not actor.has_perm("billing.refund_payment"):
        raise PaymentError("Your role may not refund payments; ask someone in Billing or an admin.")
    limit = refund_limit()
    if in_limit_currency(amount, currency) > limit:
        raise PaymentError(
            f"Refunds above {settings.DEFAULT_CURRENCY} {limit} (or the same in another currency) need an admin; "
            "nothing was refunded.",
            field="amount",
        )

"""Coupons: validation, race-safe redemption, and the discount lines they produce.

Redemption locks the coupon row, re-checks every limit and counts the use in the same
transaction, so N concurrent redemptions of a coupon with one use left give one success.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from core import clock, money
from core.audit.services import record
from core.billing.errors import CouponError
from core.billing.models import Coupon, CouponAmount, CouponRedemption, InvoiceLine
from core.billing.services import amounts

ZERO = Decimal("0")
HUNDRED = Decimal("100")


def find_coupon(code: str) -> Coupon:
    code = (code or "").strip().upper()
    coupon = Coupon.objects.filter(code=code).first()
    if coupon is None:
        raise CouponError(f"There is no coupon {code!r}. Check the spelling.")
    return coupon


def check_coupon(coupon: Coupon, customer, *, products=(), currency: str | None = None) -> None:
    """Raise CouponError (with the reason a customer understands) unless the coupon can be used now."""
    now = clock.now()
    if not coupon.is_active:
        raise CouponError(f"Coupon {coupon.code} is no longer active.")
    if coupon.valid_from and now < coupon.valid_from:
        raise CouponError(f"Coupon {coupon.code} is not valid before {coupon.valid_from:%Y-%m-%d}.")
    if coupon.expires_at and now >= coupon.expires_at:
        raise CouponError(f"Coupon {coupon.code} expired on {coupon.expires_at:%Y-%m-%d}.")
    if coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        raise CouponError(f"Coupon {coupon.code} has been used the maximum number of times.")
    if coupon.max_per_customer is not None:
        used = CouponRedemption.objects.filter(coupon=coupon, customer=customer).count()
        if used >= coupon.max_per_customer:
            raise CouponError(f"You have already used coupon {coupon.code}.")
    if products and not any(applies_to(coupon, p) for p in products):
        raise CouponError(f"Coupon {coupon.code} does not apply to the products in this order.")
    if (
        coupon.kind == Coupon.Kind.FIXED
        and currency
        and not CouponAmount.objects.filter(coupon=coupon, currency_id=currency).exists()
    ):
        raise CouponError(f"Coupon {coupon.code} cannot be used with {currency}.")


def applies_to(coupon: Coupon, product) -> bool:
    if coupon.applies_to_all_products:
        return True
    return coupon.products.filter(pk=product.pk).exists()


def redeem_coupon(coupon: Coupon, customer, *, order=None, subscription=None, products=(), currency=None, actor=None):
    """Use one redemption of the coupon for this customer.

    Invariant: times_redeemed never exceeds max_redemptions and a customer never exceeds
    max_per_customer, however many callers race (coupon row locked; the check constraint backs it).
    """
    with transaction.atomic():
        locked = Coupon.objects.select_for_update().get(pk=coupon.pk)
        check_coupon(locked, customer, products=products, currency=currency)
        redemption = CouponRedemption.objects.create(
            coupon=locked, customer=customer, order=order, subscription=subscription
        )
        Coupon.objects.filter(pk=locked.pk).update(times_redeemed=F("times_redeemed") + 1)
        record("coupon.redeem", locked, actor=actor, data={"customer": customer.pk,
                                                          "order": getattr(order, "pk", None)})  # fmt: skip
    return redemption


def discount_lines(coupon: Coupon, lines: list[dict], currency: str) -> list[dict]:
    """Discount line specs (negative) for the eligible recurring/setup lines of an invoice.

    Percentage: per eligible line. Fixed: one line, capped at what the eligible lines add up to.
    Trial coupons give no money off (they lengthen the trial instead).
    """
    eligible = [
        ln for ln in lines
        if ln.get("amount", ZERO) > 0 and (ln.get("product") is None or applies_to(coupon, ln["product"]))
    ]  # fmt: skip
    if not eligible or coupon.kind == Coupon.Kind.TRIAL:
        return []
    if coupon.kind == Coupon.Kind.PERCENT:
        out = []
        for ln in eligible:
            off = amounts.quantize(ln["amount"] * coupon.percent / HUNDRED, currency)
            if off > 0:
                out.append(_discount_spec(coupon, off, ln))
        return out
    fixed = CouponAmount.objects.filter(coupon=coupon, currency_id=currency).values_list("amount", flat=True).first()
    if not fixed:
        return []
    base = sum((ln["amount"] for ln in eligible), ZERO)
    off = money.quantize(min(fixed, base), currency)
    return [_discount_spec(coupon, off, eligible[0])] if off > 0 else []


def _discount_spec(coupon: Coupon, off: Decimal, line: dict) -> dict:
    label = f"{coupon.percent.normalize()}%" if coupon.kind == Coupon.Kind.PERCENT else "discount"
    return {
        "description": f"Coupon {coupon.code} ({label})"[:255],
        "unit_amount": -off,
        "amount": -off,
        "kind": InvoiceLine.Kind.DISCOUNT,
        "product": line.get("product"),
        "subscription": line.get("subscription"),
    }


def cycles_after_first(coupon: Coupon, *, first_invoice_discounted: bool) -> tuple[bool, int | None]:
    """(keep the coupon on the subscription?, cycles remaining) after the order's first invoice."""
    if coupon.kind == Coupon.Kind.TRIAL or coupon.duration == Coupon.Duration.ONCE:
        return (not first_invoice_discounted and coupon.kind != Coupon.Kind.TRIAL), (
            1 if not first_invoice_discounted else 0
        )
    if coupon.duration == Coupon.Duration.FOREVER:
        return True, None
    left = (coupon.duration_cycles or 0) - (1 if first_invoice_discounted else 0)
    return left > 0, max(left, 0)

"""MRR from every recurring subscription: normalised to a month, coupons applied, tax and trials excluded.

A subscription counts while it is `active` or `past_due` (a trial pays nothing yet; cancelled and
ended ones stopped). Its MRR is (amount - the coupon's discount on one renewal) / months in the
cycle: quarterly / 3, semi-annual / 6, annual / 12. The coupon counts while it still applies to the
next renewal (cycles remaining empty or above zero), computed as the billing run computes it:
a percentage quantised per line, a fixed amount capped at the price. Tax is never in
Subscription.amount. Figures are kept unrounded until the per-currency total is quantised.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum

from core.catalog.models import CYCLE_MONTHS
from core.money import quantize

from .rates import ZERO, convert, exchange_rates

RECURRING_STATUSES = ("active", "past_due")
HUNDRED = Decimal("100")


@dataclass(frozen=True)
class CouponTerms:
    kind: str
    percent: Decimal | None
    all_products: bool
    product_ids: frozenset = frozenset()
    fixed: dict = field(default_factory=dict)  # currency -> amount

    def discount(self, amount: Decimal, currency: str, product_id: int | None) -> Decimal:
        """Money off one renewal of `amount`, exactly as core.billing.services.coupons.discount_lines gives it."""
        if amount <= 0 or self.kind == "trial":
            return ZERO
        if not self.all_products and product_id not in self.product_ids:
            return ZERO
        if self.kind == "percent":
            return quantize(amount * (self.percent or ZERO) / HUNDRED, currency)
        fixed = self.fixed.get(currency)
        return quantize(min(fixed, amount), currency) if fixed else ZERO


def coupon_terms(coupon_ids) -> dict[int, CouponTerms]:
    """The discount rules of the given coupons, in three queries whatever their number."""
    from core.billing.models import Coupon, CouponAmount

    ids = {i for i in coupon_ids if i}
    if not ids:
        return {}
    products = defaultdict(set)
    for coupon_id, product_id in Coupon.products.through.objects.filter(coupon_id__in=ids).values_list(
        "coupon_id", "product_id"
    ):
        products[coupon_id].add(product_id)
    fixed = defaultdict(dict)
    for coupon_id, currency, amount in CouponAmount.objects.filter(coupon_id__in=ids).values_list(
        "coupon_id", "currency_id", "amount"
    ):
        fixed[coupon_id][currency] = amount
    return {
        c["id"]: CouponTerms(c["kind"], c["percent"], c["applies_to_all_products"], frozenset(products[c["id"]]),
                             fixed[c["id"]])
        for c in Coupon.objects.filter(pk__in=ids).values("id", "kind", "percent", "applies_to_all_products")
    }  # fmt: skip


def coupon_still_applies(coupon_id, cycles_remaining) -> bool:
    """The billing run's rule: a coupon discounts the next renewal while cycles remain (empty: forever)."""
    return bool(coupon_id) and (cycles_remaining is None or cycles_remaining > 0)


def subscription_mrr(
    amount, cycle: str, currency: str, *, product_id=None, coupon: CouponTerms | None = None
) -> Decimal:
    """One subscription's monthly recurring revenue, unrounded."""
    amount = Decimal(amount)
    if coupon is not None:
        amount -= coupon.discount(amount, currency, product_id)
    return amount / CYCLE_MONTHS[cycle]


def _recurring():
    from core.billing.models import Subscription

    return Subscription.objects.filter(status__in=RECURRING_STATUSES)


_COUPON_LIVE = Q(coupon__isnull=False) & (Q(coupon_cycles_remaining__isnull=True) | Q(coupon_cycles_remaining__gt=0))
_NO_COUPON = Q(coupon__isnull=True) | Q(coupon_cycles_remaining=0)


def mrr_by_product_and_currency() -> dict[tuple[int, str], Decimal]:
    """Unrounded MRR per (product id, currency), in two GROUP BY queries (+ coupon rules when any apply).

    Subscriptions without a live coupon are summed per (product, currency, cycle); those with one
    are grouped per (product, currency, cycle, coupon, amount) so each discount is computed exactly.
    """
    from core.catalog.models import Price

    # Grouped by price_id, not price__product_id: the join made MariaDB build a temporary table of
    # every subscription; the price -> product map is one small query.
    product_of = dict(Price.objects.values_list("pk", "product_id"))
    result: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    plain = (
        _recurring().filter(_NO_COUPON)
        .values("currency_id", "cycle", "price_id")
        .annotate(total=Sum("amount")).order_by()
    )  # fmt: skip
    for row in plain:
        key = (product_of.get(row["price_id"]), row["currency_id"])
        result[key] += Decimal(row["total"]) / CYCLE_MONTHS[row["cycle"]]
    discounted = list(
        _recurring().filter(_COUPON_LIVE)
        .values("currency_id", "cycle", "coupon_id", "amount", "price_id")
        .annotate(n=Count("id")).order_by()
    )  # fmt: skip
    terms = coupon_terms(row["coupon_id"] for row in discounted)
    for row in discounted:
        product_id = product_of.get(row["price_id"])
        one = subscription_mrr(row["amount"], row["cycle"], row["currency_id"], product_id=product_id,
                               coupon=terms.get(row["coupon_id"]))  # fmt: skip
        result[(product_id, row["currency_id"])] += one * row["n"]
    return dict(result)


def mrr_by_currency(by_product: dict | None = None) -> dict[str, Decimal]:
    """MRR per currency, quantised to the currency (coupons applied, tax and trials excluded)."""
    by_product = mrr_by_product_and_currency() if by_product is None else by_product
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for (_product, currency), amount in by_product.items():
        totals[currency] += amount
    return {code: quantize(amount, code) for code, amount in sorted(totals.items())}


def arr_by_currency() -> dict[str, Decimal]:
    """Annual run rate per currency: MRR x 12."""
    return {code: quantize(amount * 12, code) for code, amount in mrr_by_currency().items()}


def paying_customer_count() -> int:
    """Customers with at least one recurring (active or past-due) subscription."""
    return _recurring().values("customer_id").distinct().count()


def arpu(mrr_converted: Decimal, paying_customers: int) -> Decimal | None:
    """Average revenue per paying customer per month, in settings.DEFAULT_CURRENCY."""
    if not paying_customers:
        return None
    return quantize(mrr_converted / paying_customers, settings.DEFAULT_CURRENCY)


def customers_by_status() -> dict[str, int]:
    from core.accounts.models import Customer

    return dict(Customer.objects.values_list("status").annotate(n=Count("id")).order_by())


def top_products_by_mrr(by_product: dict | None = None, rates: dict | None = None, limit: int = 10) -> list[dict]:
    """Products ranked by MRR converted to settings.DEFAULT_CURRENCY, with the per-currency parts."""
    from core.catalog.models import Product

    by_product = mrr_by_product_and_currency() if by_product is None else by_product
    rates = exchange_rates() if rates is None else rates
    per_product: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for (product_id, currency), amount in by_product.items():
        per_product[product_id][currency] = amount
    ranked = sorted(
        (
            (sum((convert(a, c, rates) for c, a in parts.items()), ZERO), pid, parts)
            for pid, parts in per_product.items()
        ),
        key=lambda item: (-item[0], item[1]),
    )[:limit]
    names = dict(Product.objects.filter(pk__in=[pid for _, pid, _ in ranked]).values_list("pk", "name"))
    code = settings.DEFAULT_CURRENCY
    return [
        {"product_id": pid, "name": names.get(pid, f"Product {pid}"), "converted": quantize(total, code),
         "by_currency": {c: quantize(a, c) for c, a in sorted(parts.items())}}
        for total, pid, parts in ranked
    ]  # fmt: skip


def customer_mrr_now() -> dict[tuple[int, str], Decimal]:
    """Unrounded MRR per (customer id, currency) from the live subscriptions (the snapshot task's input)."""
    rows = _recurring().values_list(
        "customer_id", "currency_id", "cycle", "amount", "coupon_id", "coupon_cycles_remaining", "price__product_id"
    )
    return _per_customer(rows.iterator(chunk_size=5000))


def customer_mrr_as_of(moment) -> dict[tuple[int, str], Decimal]:
    """Unrounded MRR per (customer, currency) as django-simple-history recorded the subscriptions at `moment`.

    Used to backfill months from before the snapshot task ran. Approximate where a change was
    made with QuerySet.update() (no history row; e.g. coupon cycles counted down by the billing run).
    """
    from core.billing.models import Subscription
    from core.catalog.models import Price

    latest = {}
    history = (
        Subscription.history.filter(history_date__lte=moment)
        .order_by("id", "history_date", "history_id")
        .values_list("id", "history_type", "status", "customer_id", "currency_id", "cycle", "amount", "coupon_id",
                     "coupon_cycles_remaining", "price_id")
    )  # fmt: skip
    for row in history.iterator(chunk_size=5000):
        latest[row[0]] = row
    products = dict(Price.objects.values_list("pk", "product_id"))
    rows = (
        (r[3], r[4], r[5], r[6], r[7], r[8], products.get(r[9]))
        for r in latest.values()
        if r[1] != "-" and r[2] in RECURRING_STATUSES
    )
    return _per_customer(rows)


def _per_customer(rows) -> dict[tuple[int, str], Decimal]:
    rows = list(rows)
    terms = coupon_terms({r[4] for r in rows if coupon_still_applies(r[4], r[5])})
    result: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    for customer_id, currency, cycle, amount, coupon_id, cycles_left, product_id in rows:
        coupon = terms.get(coupon_id) if coupon_still_applies(coupon_id, cycles_left) else None
        result[(customer_id, currency)] += subscription_mrr(amount, cycle, currency, product_id=product_id,
                                                            coupon=coupon)  # fmt: skip
    return dict(result)

"""The numbers at the top of the customer 360 page: what they owe, hold, pay and run.

A fixed number of queries whatever the size of the account: every figure is a GROUP BY
(per currency, per status) or a single ordered row, never a loop over invoices or services.
Amounts stay in their own currency; nothing is converted here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q, Sum
from django.urls import reverse

from core import clock
from core.catalog.models import CYCLE_MONTHS

from .admin.base import SERVICE_STATUS, money

ZERO = Decimal("0")
# The statuses that bring in money every period (as core.analytics counts MRR).
RECURRING_STATUSES = ("active", "past_due")
RENEWING_STATUSES = ("trialing", "active", "past_due")
# Unfold label colours -> the label template's variants.
LABEL_VARIANT = {"success": "success", "info": "info", "warning": "warning", "danger": "danger"}


@dataclass(frozen=True)
class CurrencyRef:
    """The two attributes money() reads, from an aggregate row."""

    code: str
    exponent: int


@dataclass
class Balance:
    currency: CurrencyRef
    open_amount: Decimal
    open_count: int
    overdue_count: int

    @property
    def display(self) -> str:
        return money(self.open_amount, self.currency)


@dataclass
class CustomerSummary:
    open_balances: list[Balance] = field(default_factory=list)
    credit: list[str] = field(default_factory=list)
    lifetime_paid: list[str] = field(default_factory=list)
    mrr: list[str] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    service_total: int = 0
    last_payment: dict | None = None
    next_renewal: dict | None = None
    links: dict = field(default_factory=dict)

    @property
    def overdue_total(self) -> int:
        return sum(b.overdue_count for b in self.open_balances)


def _ref(row: dict) -> CurrencyRef:
    return CurrencyRef(row["currency_id"], row["currency__exponent"])


def customer_summary(customer, *, today: dt.date | None = None) -> CustomerSummary:
    """Open balance and overdue count, credit, lifetime paid and MRR per currency; services by
    status; the last payment and the next renewal. Seven queries for any customer."""
    from core.billing.models import CreditEntry, Invoice, Payment, Subscription
    from core.provisioning.models import Service

    today = today or clock.today()
    summary = CustomerSummary()

    open_rows = (
        Invoice.objects.filter(customer=customer, status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE)
        .values("currency_id", "currency__exponent")
        .annotate(
            open_amount=Sum(F("total") - F("amount_paid") - F("credit_applied")),
            open_count=Count("pk"),
            overdue_count=Count("pk", filter=Q(due_date__lt=today)),
        )
        .order_by("currency_id")
    )
    summary.open_balances = [
        Balance(_ref(r), r["open_amount"] or ZERO, r["open_count"], r["overdue_count"]) for r in open_rows
    ]

    credit_rows = (
        CreditEntry.objects.filter(customer=customer)
        .values("currency_id", "currency__exponent")
        .annotate(total=Sum("amount"))
        .order_by("currency_id")
    )
    summary.credit = [money(r["total"], _ref(r)) for r in credit_rows if r["total"]]

    paid: dict[CurrencyRef, Decimal] = defaultdict(lambda: ZERO)
    payment_rows = (
        Payment.objects.filter(customer=customer, status=Payment.Status.SUCCEEDED)
        .values("currency_id", "currency__exponent", "kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for r in payment_rows:  # refunds and chargebacks are stored positive and take money back
        paid[_ref(r)] += r["total"] if r["kind"] == Payment.Kind.PAYMENT else -r["total"]
    summary.lifetime_paid = [money(total, ref) for ref, total in sorted(paid.items(), key=lambda i: i[0].code)]

    mrr: dict[CurrencyRef, Decimal] = defaultdict(lambda: ZERO)
    mrr_rows = (
        Subscription.objects.filter(customer=customer, status__in=RECURRING_STATUSES)
        .values("currency_id", "currency__exponent", "cycle")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for r in mrr_rows:
        mrr[_ref(r)] += Decimal(r["total"]) / CYCLE_MONTHS[r["cycle"]]
    summary.mrr = [
        money(total.quantize(Decimal(1).scaleb(-ref.exponent), rounding=ROUND_HALF_UP), ref)
        for ref, total in sorted(mrr.items(), key=lambda i: i[0].code)
    ]

    status_labels = dict(Service.Status.choices)
    status_rows = Service.objects.filter(customer=customer).values("status").annotate(n=Count("pk")).order_by("status")
    order = list(SERVICE_STATUS)
    for r in sorted(status_rows, key=lambda r: order.index(r["status"]) if r["status"] in order else len(order)):
        summary.services.append({
            "status": r["status"], "text": f"{r['n']} {status_labels.get(r['status'], r['status'])}", "count": r["n"],
            "variant": LABEL_VARIANT.get(SERVICE_STATUS.get(r["status"], ""), "default"),
        })  # fmt: skip
        summary.service_total += r["n"]

    last = (
        Payment.objects.filter(customer=customer, status=Payment.Status.SUCCEEDED, kind=Payment.Kind.PAYMENT)
        .select_related("currency", "invoice")
        .order_by("-received_at", "-pk")
        .first()
    )
    if last is not None:
        summary.last_payment = {
            "amount": money(last.amount, last.currency),
            "date": last.received_at,
            "via": last.get_gateway_display(),
            "invoice": last.invoice.number if last.invoice_id else "",
            "href": reverse("admin:billing_payment_change", args=[last.pk]),
        }

    renewal = (
        Subscription.objects.filter(customer=customer, status__in=RENEWING_STATUSES, cancel_at_period_end=False)
        .select_related("price__product", "currency")
        .order_by("current_period_end", "pk")
        .first()
    )
    if renewal is not None:
        summary.next_renewal = {
            "date": renewal.current_period_end,
            "product": renewal.price.product.name,
            "amount": money(renewal.amount, renewal.currency),
            "cycle": renewal.get_cycle_display(),
            # Demo data and a skipped run leave ended periods behind: say so instead of a silent past date.
            "is_late": renewal.current_period_end <= clock.now(),
            "href": reverse("admin:billing_subscription_change", args=[renewal.pk]),
        }

    summary.links = {
        "open_invoices": reverse("admin:billing_invoice_changelist")
        + f"?customer__id__exact={customer.pk}&status=issued",
        "services": reverse("admin:provisioning_service_changelist") + f"?customer__id__exact={customer.pk}",
        "subscriptions": reverse("admin:billing_subscription_changelist") + f"?customer__id__exact={customer.pk}",
        "credit": reverse("admin:billing_creditentry_changelist") + f"?customer__id__exact={customer.pk}",
        "payments": reverse("admin:billing_payment_changelist") + f"?customer__id__exact={customer.pk}",
    }
    return summary

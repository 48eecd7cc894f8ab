"""Money in and money owed: revenue per month, receivables with ageing, refunds and disputes, cancellations.

Every function is a bounded aggregate (GROUP BY in the database); amounts stay per currency.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Case, Count, DecimalField, F, Q, Sum, When
from django.db.models.functions import TruncMonth

from core import clock
from core.money import quantize

from .rates import ZERO

AGEING_BUCKETS = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
# SupportPal status names that mean a ticket needs no more work (UNCONFIRMED: SupportPal lets
# each installation name its statuses; these are its defaults, compared case-insensitively).
CLOSED_TICKET_STATUSES = ("closed", "resolved", "locked")
MONEY = DecimalField(max_digits=16, decimal_places=2)


def month_starts(months: int = 12, today: date | None = None) -> list[date]:
    """The first day of each of the last `months` months, oldest first, ending with the current month."""
    first = (today or clock.today()).replace(day=1)
    return [first - relativedelta(months=n) for n in range(months - 1, -1, -1)]


def _monthly(rows, starts, value_key) -> dict[str, list[Decimal]]:
    index = {start: i for i, start in enumerate(starts)}
    by_currency: dict[str, list[Decimal]] = {}
    for row in rows:
        month = row["month"].date() if isinstance(row["month"], datetime) else row["month"]
        if month not in index:
            continue
        series = by_currency.setdefault(row["currency_id"], [ZERO] * len(starts))
        series[index[month]] += Decimal(row[value_key])
    return {code: [quantize(v, code) for v in series] for code, series in sorted(by_currency.items())}


def revenue_by_month(months: int = 12, today: date | None = None) -> dict:
    """Net cash per calendar month and currency: succeeded payments minus refunds and chargebacks.

    Returns {"months": [date, ...], "by_currency": {code: [Decimal per month]}}.
    """
    from core.billing.models import Payment

    starts = month_starts(months, today)
    signed = Case(When(kind=Payment.Kind.PAYMENT, then=F("amount")), default=-F("amount"), output_field=MONEY)
    rows = (
        Payment.objects.filter(status=Payment.Status.SUCCEEDED, received_at__gte=_midnight(starts[0]))
        .annotate(month=TruncMonth("received_at"))
        .values("month", "currency_id")
        .annotate(net=Sum(signed))
        .order_by()
    )
    return {"months": starts, "by_currency": _monthly(rows, starts, "net")}


def refunds_and_disputes_by_month(months: int = 12, today: date | None = None) -> dict:
    """Per month and currency: refunds paid out, chargebacks, and payments disputed (count and amount)."""
    from core.billing.models import Payment

    starts = month_starts(months, today)
    rows = list(
        Payment.objects.filter(received_at__gte=_midnight(starts[0]))
        .filter(Q(kind__in=(Payment.Kind.REFUND, Payment.Kind.CHARGEBACK), status=Payment.Status.SUCCEEDED)
                | Q(is_disputed=True))
        .annotate(month=TruncMonth("received_at"))
        .values("month", "currency_id")
        .annotate(
            refunds=Sum("amount", filter=Q(kind=Payment.Kind.REFUND, status=Payment.Status.SUCCEEDED), default=ZERO),
            chargebacks=Sum("amount", filter=Q(kind=Payment.Kind.CHARGEBACK, status=Payment.Status.SUCCEEDED),
                            default=ZERO),
            disputed=Sum("amount", filter=Q(is_disputed=True), default=ZERO),
            disputes=Count("id", filter=Q(is_disputed=True)),
            refund_count=Count("id", filter=Q(kind=Payment.Kind.REFUND, status=Payment.Status.SUCCEEDED)),
        )
        .order_by()
    )  # fmt: skip
    index = {start: i for i, start in enumerate(starts)}
    counts = {"refunds": [0] * len(starts), "disputes": [0] * len(starts)}
    for row in rows:
        month = row["month"].date() if isinstance(row["month"], datetime) else row["month"]
        if month in index:
            counts["refunds"][index[month]] += row["refund_count"]
            counts["disputes"][index[month]] += row["disputes"]
    return {
        "months": starts,
        "refunds": _monthly(rows, starts, "refunds"),
        "chargebacks": _monthly(rows, starts, "chargebacks"),
        "disputed": _monthly(rows, starts, "disputed"),
        "counts": counts,
    }


def receivables(today: date | None = None) -> dict:
    """Outstanding (issued, unpaid) invoice balances per currency, how much is overdue, and its ageing.

    Balance = total - amount paid - credit applied. Days overdue count from the due date: an invoice
    due yesterday is 1 day overdue and sits in 0-30. Returns {code: {"outstanding", "not_due",
    "overdue", "0-30", "31-60", "61-90", "90+", "count", "overdue_count"}}.
    """
    from core.billing.models import Invoice

    today = today or clock.today()
    balance = F("total") - F("amount_paid") - F("credit_applied")
    aggregates = {
        "outstanding": Sum(balance, output_field=MONEY, default=ZERO),
        "not_due": Sum(balance, filter=Q(due_date__gte=today) | Q(due_date__isnull=True), output_field=MONEY,
                       default=ZERO),
        "overdue": Sum(balance, filter=Q(due_date__lt=today), output_field=MONEY, default=ZERO),
        "count": Count("id"),
        "overdue_count": Count("id", filter=Q(due_date__lt=today)),
    }  # fmt: skip
    for label, low, high in AGEING_BUCKETS:
        window = Q(due_date__lte=today - dt.timedelta(days=max(low, 1)))
        if high is not None:
            window &= Q(due_date__gte=today - dt.timedelta(days=high))
        aggregates[label] = Sum(balance, filter=window, output_field=MONEY, default=ZERO)
    rows = (
        Invoice.objects.filter(status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE)
        .values("currency_id").annotate(**aggregates).order_by("currency_id")
    )  # fmt: skip
    result = {}
    for row in rows:
        code = row.pop("currency_id")
        result[code] = {k: (v if isinstance(v, int) else quantize(v, code)) for k, v in row.items()}
    return result


def cancellation_reasons(months: int = 12, today: date | None = None) -> list[tuple[str, int]]:
    """Reasons given in the cancellation survey (or by the system, e.g. non_payment), most frequent first."""
    from core.billing.models import Subscription
    from core.billing.services.subscriptions import CANCEL_REASONS

    since = _midnight(month_starts(months, today)[0])
    labels = dict(CANCEL_REASONS) | {"non_payment": "Not paid (terminated by the policy)", "": "No reason given"}
    rows = (
        Subscription.objects.filter(cancelled_at__gte=since)
        .values_list("cancel_reason").annotate(n=Count("id")).order_by("-n", "cancel_reason")
    )  # fmt: skip
    return [(labels.get(reason, reason), n) for reason, n in rows]


def services_by_status() -> dict[str, int]:
    from core.provisioning.models import Service

    return dict(Service.objects.values_list("status").annotate(n=Count("id")).order_by())


def overdue_invoice_count(today: date | None = None) -> int:
    from core.billing.models import Invoice

    return Invoice.objects.filter(status=Invoice.Status.ISSUED, due_date__lt=today or clock.today()).count()


def open_ticket_count() -> int:
    from core.support.models import SupportTicket

    closed = Q()
    for name in CLOSED_TICKET_STATUSES:
        closed |= Q(status__iexact=name)
    return SupportTicket.objects.exclude(closed).count()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, dt.time(), tzinfo=dt.UTC)

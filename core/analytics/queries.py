"""Read-side numbers for the dashboard and reports: MRR, ARR, churn, revenue, counts.

Every function is a bounded aggregate (GROUP BY in the database, no per-row loop over
business objects). Amounts in several currencies are converted with the staff-maintained
exchange rates on Currency (units of that currency per one settings.DEFAULT_CURRENCY)
and every converted figure says so in its label.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Case, Count, DecimalField, F, Q, Sum, When
from django.db.models.functions import Coalesce, TruncMonth

from core import clock
from core.catalog.models import CYCLE_MONTHS, Currency
from core.money import quantize

ZERO = Decimal("0")
# SupportPal status names that mean a ticket needs no more work (UNCONFIRMED: SupportPal lets
# each installation name its statuses; these are its defaults, compared case-insensitively).
CLOSED_TICKET_STATUSES = ("closed", "resolved", "locked")
RECURRING_STATUSES = ("active", "past_due")


def exchange_rates() -> dict[str, Decimal]:
    """Units of each currency per one unit of settings.DEFAULT_CURRENCY."""
    return dict(Currency.objects.values_list("code", "exchange_rate"))


def to_reporting_currency(amounts: dict[str, Decimal], rates: dict[str, Decimal] | None = None) -> Decimal:
    """Sum amounts in several currencies as settings.DEFAULT_CURRENCY, at the staff-set rates."""
    rates = exchange_rates() if rates is None else rates
    total = ZERO
    for code, amount in amounts.items():
        rate = rates.get(code) or Decimal("1")
        total += Decimal(amount) / rate
    return quantize(total, settings.DEFAULT_CURRENCY)


def mrr_by_currency() -> dict[str, Decimal]:
    """Monthly recurring revenue per currency: active and past-due subscriptions, amount / months in the cycle.

    List amounts before coupons and tax (what the plan is worth per month), not cash collected.
    """
    from core.billing.models import Subscription

    rows = (
        Subscription.objects.filter(status__in=RECURRING_STATUSES)
        .values("currency_id", "cycle")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    result: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:  # one row per (currency, cycle): at most currencies x 4
        result[row["currency_id"]] += Decimal(row["total"]) / CYCLE_MONTHS[row["cycle"]]
    return {code: quantize(amount, code) for code, amount in sorted(result.items())}


def arr_by_currency() -> dict[str, Decimal]:
    """Annual run rate per currency: MRR x 12."""
    return {code: quantize(amount * 12, code) for code, amount in mrr_by_currency().items()}


def churn_last_30_days(today: date | None = None) -> dict:
    """Subscriptions that ended or were cancelled in the last 30 days, against those live at the window start.

    Returns {"churned": n, "base": n, "rate": Decimal percent (one decimal) or None when base is 0}.
    """
    from core.billing.models import Subscription

    now = clock.now() if today is None else datetime.combine(today, datetime.min.time(), tzinfo=clock.now().tzinfo)
    start = now - timedelta(days=30)
    stopped_at = Coalesce("ended_at", "cancelled_at")
    counts = Subscription.objects.annotate(stopped_at=stopped_at).aggregate(
        churned=Count("id", filter=Q(status__in=("cancelled", "ended"), stopped_at__gte=start, stopped_at__lt=now)),
        base=Count(
            "id",
            filter=Q(created_at__lt=start)
            & ~Q(status="trialing")
            & (Q(stopped_at__isnull=True) | Q(stopped_at__gte=start)),
        ),
    )
    base = counts["base"]
    rate = (Decimal(counts["churned"]) * 100 / base).quantize(Decimal("0.1")) if base else None
    return {"churned": counts["churned"], "base": base, "rate": rate}


def month_starts(months: int = 12, today: date | None = None) -> list[date]:
    """The first day of each of the last `months` months, oldest first, ending with the current month."""
    first = (today or clock.today()).replace(day=1)
    return [first - relativedelta(months=n) for n in range(months - 1, -1, -1)]


def revenue_by_month(months: int = 12, today: date | None = None) -> dict:
    """Net cash per calendar month and currency: succeeded payments minus refunds and chargebacks.

    Returns {"months": [date, ...], "by_currency": {code: [Decimal per month]}}.
    """
    from core.billing.models import Payment

    starts = month_starts(months, today)
    signed = Case(
        When(kind=Payment.Kind.PAYMENT, then=F("amount")),
        default=-F("amount"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    rows = (
        Payment.objects.filter(status=Payment.Status.SUCCEEDED, received_at__date__gte=starts[0])
        .annotate(month=TruncMonth("received_at"))
        .values("month", "currency_id")
        .annotate(net=Sum(signed))
        .order_by()
    )
    index = {start: i for i, start in enumerate(starts)}
    by_currency: dict[str, list[Decimal]] = {}
    for row in rows:  # at most months x currencies rows
        month = row["month"].date() if isinstance(row["month"], datetime) else row["month"]
        if month not in index:
            continue
        series = by_currency.setdefault(row["currency_id"], [ZERO] * len(starts))
        series[index[month]] += Decimal(row["net"])
    return {
        "months": starts,
        "by_currency": {code: [quantize(v, code) for v in series] for code, series in sorted(by_currency.items())},
    }


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


def dashboard_kpis() -> dict:
    """Everything the admin home shows, in a bounded number of aggregate queries."""
    rates = exchange_rates()
    mrr = mrr_by_currency()
    mrr_total = to_reporting_currency(mrr, rates)
    services = services_by_status()
    return {
        "reporting_currency": settings.DEFAULT_CURRENCY,
        "mrr_by_currency": mrr,
        "mrr_converted": mrr_total,
        "arr_converted": quantize(mrr_total * 12, settings.DEFAULT_CURRENCY),
        "services_by_status": services,
        "active_services": services.get("active", 0),
        "overdue_invoices": overdue_invoice_count(),
        "open_tickets": open_ticket_count(),
        "churn": churn_last_30_days(),
        "revenue": revenue_by_month(12),
        "rates": rates,
    }

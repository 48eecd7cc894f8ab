"""Read-side numbers for the dashboard and reports: MRR, ARR, revenue, counts.

Amounts in several currencies are converted with the staff-maintained exchange rates
on Currency (units per one DEFAULT_CURRENCY) and labelled as such.
"""

from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Sum

from core import clock
from core.catalog.models import CYCLE_MONTHS, Currency
from core.money import quantize


def _to_reporting(amounts: dict[str, Decimal]) -> Decimal:
    rates = dict(Currency.objects.values_list("code", "exchange_rate"))
    total = Decimal("0")
    for code, amount in amounts.items():
        rate = rates.get(code) or Decimal("1")
        total += Decimal(amount) / rate
    return quantize(total, settings.DEFAULT_CURRENCY)


def mrr_by_currency() -> dict[str, Decimal]:
    """Monthly recurring revenue per currency from active and past-due subscriptions."""
    from core.billing.models import Subscription

    rows = (
        Subscription.objects.filter(status__in=[Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE])
        .values("currency_id", "cycle")
        .annotate(total=Sum("amount"))
    )
    result: dict[str, Decimal] = defaultdict(lambda: Decimal("0"))
    for row in rows:
        result[row["currency_id"]] += Decimal(row["total"]) / CYCLE_MONTHS[row["cycle"]]
    return {code: quantize(amount, code) for code, amount in result.items()}


def dashboard_kpis() -> dict:
    from core.billing.models import Invoice
    from core.provisioning.models import Service

    mrr = mrr_by_currency()
    mrr_total = _to_reporting(mrr)
    services = dict(Service.objects.values_list("status").annotate(n=Count("id")))
    overdue = Invoice.objects.filter(status=Invoice.Status.ISSUED, due_date__lt=clock.today()).count()
    return {
        "kpi": [
            {"title": f"MRR ({settings.DEFAULT_CURRENCY}, converted)", "value": f"{mrr_total:,}"},
            {"title": f"ARR ({settings.DEFAULT_CURRENCY}, converted)", "value": f"{mrr_total * 12:,}"},
            {"title": "Active services", "value": services.get("active", 0)},
            {"title": "Overdue invoices", "value": overdue},
        ],
        "mrr_by_currency": mrr,
    }

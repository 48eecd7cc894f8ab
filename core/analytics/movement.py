"""MRR movement per month: new, expansion, contraction, churned, reactivated; churn rates and NRR.

How the history is kept: a snapshot table, not a replay. `refresh_mrr_snapshot(month)` writes one
CustomerMRR row per customer and currency whose MRR at the end of the month (for the current
month: now) or at the end of the month before is above zero, classified against the month before:

- new:          nothing last month, something now, and never paid before
- reactivated:  nothing last month, something now, paid in an earlier month (an earlier snapshot,
                or a subscription that stopped before this month began)
- expansion / contraction: more / less than last month
- churned:      something last month, nothing now
- retained:     unchanged

The django-q2 task core.analytics.tasks.refresh_mrr_snapshots runs hourly and refreshes the
current month, so a closed month holds its state from the last refresh before it ended (at most
an hour old) and the current month is as fresh as `refreshed_at` says. Months from before the
task existed can be backfilled from django-simple-history (`manage.py refresh_mrr --backfill 12`).
Per-month totals go to MRRMovementTotal in the same transaction, so the dashboard reads a few rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Coalesce

from core import clock
from core.money import quantize

from .models import CustomerMRR, Movement, MRRMovementTotal
from .mrr import customer_mrr_as_of, customer_mrr_now
from .rates import ZERO, convert, exchange_rates

GROWTH = (Movement.NEW, Movement.EXPANSION, Movement.REACTIVATED)
LOSS = (Movement.CONTRACTION, Movement.CHURNED)
CHART_ORDER = (Movement.NEW, Movement.REACTIVATED, Movement.EXPANSION, Movement.CONTRACTION, Movement.CHURNED)
BATCH = 2000


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first_of_month(month), dt.time(), tzinfo=dt.UTC)
    return start, start + relativedelta(months=1)


def classify(previous: Decimal, current: Decimal, *, paid_before: bool) -> str:
    if previous <= 0:
        return Movement.REACTIVATED if paid_before else Movement.NEW
    if current <= 0:
        return Movement.CHURNED
    if current > previous:
        return Movement.EXPANSION
    if current < previous:
        return Movement.CONTRACTION
    return Movement.RETAINED


def _paid_before(customer_ids: set[int], month: dt.date) -> set[int]:
    """Of these customers, those who had MRR in a month before `month` or a subscription that stopped before it."""
    from core.billing.models import Subscription

    start, _ = month_bounds(month)
    found: set[int] = set()
    ids = sorted(customer_ids)
    for i in range(0, len(ids), 1000):
        chunk = ids[i : i + 1000]
        found |= set(
            CustomerMRR.objects.filter(customer_id__in=chunk, month__lt=month, mrr__gt=0)
            .values_list("customer_id", flat=True).distinct()
        )  # fmt: skip
        found |= set(
            Subscription.objects.filter(customer_id__in=chunk, status__in=("cancelled", "ended"))
            .annotate(stopped=Coalesce("ended_at", "cancelled_at"))
            .filter(stopped__lt=start)
            .values_list("customer_id", flat=True).distinct()
        )  # fmt: skip
    return found


def refresh_mrr_snapshot(month: dt.date | None = None) -> int:
    """Rewrite one month's CustomerMRR rows and totals. Idempotent: a rerun gives the same rows.

    The current month reads the live subscriptions; an earlier month is rebuilt from
    subscription history at its end (the backfill). Returns the number of rows written.
    """
    today_month = first_of_month(clock.today())
    month = first_of_month(month or today_month)
    if month > today_month:
        raise ValueError("A month in the future has no MRR yet.")
    current = customer_mrr_now() if month == today_month else customer_mrr_as_of(month_bounds(month)[1])
    previous_month = month - relativedelta(months=1)
    previous = {
        (c, cur): mrr
        for c, cur, mrr in CustomerMRR.objects.filter(month=previous_month, mrr__gt=0).values_list(
            "customer_id", "currency", "mrr"
        )
    }
    if not previous and not CustomerMRR.objects.filter(month=previous_month).exists():
        previous = customer_mrr_as_of(month_bounds(previous_month)[1])  # no snapshot yet: ask the history
    keys = {k for k, v in current.items() if v > 0} | {k for k, v in previous.items() if v > 0}
    starting = {c for (c, cur) in keys if previous.get((c, cur), ZERO) <= 0}
    returning = _paid_before(starting, month) if starting else set()
    now = clock.now()
    rows, totals = [], defaultdict(lambda: [0, ZERO, ZERO])
    for customer_id, currency in keys:
        before = Decimal(previous.get((customer_id, currency), ZERO)).quantize(Decimal("0.0001"))
        after = Decimal(current.get((customer_id, currency), ZERO)).quantize(Decimal("0.0001"))
        kind = classify(before, after, paid_before=customer_id in returning)
        rows.append(CustomerMRR(month=month, customer_id=customer_id, currency=currency, mrr=after,
                                previous_mrr=before, movement=kind, refreshed_at=now))  # fmt: skip
        total = totals[(currency, kind)]
        total[0] += 1
        total[1] += after
        total[2] += before
    with transaction.atomic():
        CustomerMRR.objects.filter(month=month).delete()
        MRRMovementTotal.objects.filter(month=month).delete()
        CustomerMRR.objects.bulk_create(rows, batch_size=BATCH)
        MRRMovementTotal.objects.bulk_create([
            MRRMovementTotal(month=month, currency=currency, movement=kind, customers=n, mrr=after,
                             previous_mrr=before, refreshed_at=now)
            for (currency, kind), (n, after, before) in sorted(totals.items())
        ])  # fmt: skip
    return len(rows)


def last_refreshed_at(month: dt.date | None = None):
    qs = MRRMovementTotal.objects.all() if month is None else MRRMovementTotal.objects.filter(month=month)
    return qs.aggregate(at=Max("refreshed_at"))["at"]


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part * 100 / whole).quantize(Decimal("0.1")) if whole else None


def mrr_movement(month: dt.date, rates: dict | None = None) -> dict:
    """The month's movement: per kind the customers and the MRR change (per currency and converted),
    opening and closing MRR, logo churn, revenue churn and net revenue retention (percent, one decimal).

    Logo churn = churned customers / customers paying at the start of the month.
    Revenue churn = (MRR lost to churn + contraction) / opening MRR.
    NRR = (opening + expansion - contraction - churn) / opening MRR (new and reactivated left out).
    Converted figures use the staff-set rates (rates.describe_rates says which).
    """
    rates = exchange_rates() if rates is None else rates
    month = first_of_month(month)
    code = settings.DEFAULT_CURRENCY
    kinds = {k: {"customers": 0, "by_currency": defaultdict(lambda: ZERO), "converted": ZERO} for k in Movement.values}
    opening, closing = defaultdict(lambda: ZERO), defaultdict(lambda: ZERO)
    opening_customers = 0
    for t in MRRMovementTotal.objects.filter(month=month):
        change = t.mrr - t.previous_mrr
        entry = kinds[t.movement]
        entry["customers"] += t.customers
        entry["by_currency"][t.currency] += change
        entry["converted"] += convert(change, t.currency, rates)
        opening[t.currency] += t.previous_mrr
        closing[t.currency] += t.mrr
        if t.movement not in (Movement.NEW, Movement.REACTIVATED):
            opening_customers += t.customers
    opening_converted = sum((convert(v, c, rates) for c, v in opening.items()), ZERO)
    closing_converted = sum((convert(v, c, rates) for c, v in closing.items()), ZERO)
    lost = -(kinds[Movement.CHURNED]["converted"] + kinds[Movement.CONTRACTION]["converted"])
    kept = opening_converted + kinds[Movement.EXPANSION]["converted"] - lost
    result_kinds = {
        k: {"customers": v["customers"], "converted": quantize(v["converted"], code),
            "by_currency": {c: quantize(a, c) for c, a in sorted(v["by_currency"].items())}}
        for k, v in kinds.items()
    }  # fmt: skip
    return {
        "month": month,
        "kinds": result_kinds,
        "opening_by_currency": {c: quantize(v, c) for c, v in sorted(opening.items())},
        "closing_by_currency": {c: quantize(v, c) for c, v in sorted(closing.items())},
        "opening_converted": quantize(opening_converted, code),
        "closing_converted": quantize(closing_converted, code),
        "opening_customers": opening_customers,
        "logo_churn_rate": _percent(Decimal(kinds[Movement.CHURNED]["customers"]), Decimal(opening_customers)),
        "revenue_churn_rate": _percent(lost, opening_converted),
        "net_revenue_retention": _percent(kept, opening_converted),
        "refreshed_at": last_refreshed_at(month),
    }


def movement_by_month(months: int = 12, today: dt.date | None = None, rates: dict | None = None) -> dict:
    """The last `months` months' MRR change per movement kind, converted, plus each month's closing MRR."""
    rates = exchange_rates() if rates is None else rates
    last = first_of_month(today or clock.today())
    starts = [last - relativedelta(months=n) for n in range(months - 1, -1, -1)]
    index = {m: i for i, m in enumerate(starts)}
    series = {k: [ZERO] * months for k in CHART_ORDER}
    closing = [ZERO] * months
    for t in MRRMovementTotal.objects.filter(month__gte=starts[0], month__lte=last):
        i = index[t.month]
        closing[i] += convert(t.mrr, t.currency, rates)
        if t.movement in series:
            series[t.movement][i] += convert(t.mrr - t.previous_mrr, t.currency, rates)
    code = settings.DEFAULT_CURRENCY
    return {
        "months": starts,
        "series": {k: [quantize(v, code) for v in values] for k, values in series.items()},
        "closing": [quantize(v, code) for v in closing],
    }


def movement_customers(month: dt.date, kind: str):
    """The CustomerMRR rows behind one movement figure (the dashboard links to this list)."""
    return CustomerMRR.objects.filter(month=first_of_month(month), movement=kind).select_related("customer__user")


def churn_last_30_days(today: dt.date | None = None) -> dict:
    """Subscriptions that ended or were cancelled in the last 30 days, against those live at the window start.

    Returns {"churned": n, "base": n, "rate": Decimal percent (one decimal) or None when base is 0}.
    """
    from django.db.models import Count

    from core.billing.models import Subscription

    now = clock.now() if today is None else dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    start = now - dt.timedelta(days=30)
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
    return {"churned": counts["churned"], "base": base, "rate": _percent(Decimal(counts["churned"]), Decimal(base))}

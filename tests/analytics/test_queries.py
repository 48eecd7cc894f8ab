"""MRR, ARR, churn and revenue from known data: exact Decimals."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from core import clock
from core.analytics import queries
from core.billing.models import Payment
from tests.factories import CurrencyFactory, CustomerFactory, PaymentFactory, PriceFactory, SubscriptionFactory


@pytest.fixture
def two_currencies(db):
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    eur = CurrencyFactory(code="EUR", exchange_rate=Decimal("0.8"))
    return usd, eur


def _sub(currency, cycle, amount, status="active"):
    customer = CustomerFactory(currency=currency)
    price = PriceFactory(currency=currency, cycle=cycle, amount=Decimal(amount))
    return SubscriptionFactory(customer=customer, price=price, status=status)


def test_mrr_and_arr_from_monthly_and_annual_subscriptions_in_two_currencies(two_currencies):
    usd, eur = two_currencies
    _sub(usd, "monthly", "20.00")
    _sub(usd, "annual", "240.00")  # 20.00 a month
    _sub(usd, "quarterly", "10.00")  # 3.333… a month
    _sub(eur, "monthly", "15.50")
    _sub(eur, "annual", "100.00")  # 8.333… a month
    _sub(usd, "monthly", "99.00", status="cancelled")  # not recurring
    _sub(usd, "monthly", "99.00", status="trialing")  # not paying yet

    assert queries.mrr_by_currency() == {"EUR": Decimal("23.83"), "USD": Decimal("43.33")}
    assert queries.arr_by_currency() == {"EUR": Decimal("285.96"), "USD": Decimal("519.96")}
    kpis = queries.dashboard_kpis()
    # 43.33 USD + 23.83 EUR / 0.8 (= 29.7875 USD) = 73.1175 -> 73.12
    assert kpis["mrr_converted"] == Decimal("73.12")
    assert kpis["arr_converted"] == Decimal("877.44")
    assert isinstance(kpis["mrr_converted"], Decimal)


def test_past_due_subscriptions_still_count_towards_mrr(two_currencies):
    usd, _ = two_currencies
    _sub(usd, "monthly", "12.00", status="past_due")
    assert queries.mrr_by_currency() == {"USD": Decimal("12.00")}


def test_revenue_by_month_nets_refunds_per_currency(two_currencies):
    usd, eur = two_currencies
    customer = CustomerFactory(currency=usd)
    eur_customer = CustomerFactory(currency=eur)
    today = dt.date(2026, 6, 15)
    march = timezone.make_aware(dt.datetime(2026, 3, 10, 12))
    june = timezone.make_aware(dt.datetime(2026, 6, 2, 9))
    PaymentFactory(customer=customer, amount=Decimal("100.00"), received_at=march)
    PaymentFactory(customer=customer, amount=Decimal("30.00"), kind=Payment.Kind.REFUND, received_at=march)
    PaymentFactory(customer=customer, amount=Decimal("50.00"), status=Payment.Status.FAILED, received_at=march)
    PaymentFactory(customer=customer, amount=Decimal("25.25"), received_at=june)
    PaymentFactory(customer=eur_customer, amount=Decimal("9.99"), received_at=june)
    PaymentFactory(customer=customer, amount=Decimal("500.00"), received_at=march - dt.timedelta(days=400))

    revenue = queries.revenue_by_month(12, today=today)
    assert revenue["months"][0] == dt.date(2025, 7, 1)
    assert revenue["months"][-1] == dt.date(2026, 6, 1)
    usd_series = revenue["by_currency"]["USD"]
    assert usd_series[revenue["months"].index(dt.date(2026, 3, 1))] == Decimal("70.00")
    assert usd_series[-1] == Decimal("25.25")
    assert sum(usd_series) == Decimal("95.25")
    assert revenue["by_currency"]["EUR"][-1] == Decimal("9.99")


def test_churn_counts_subscriptions_stopped_in_the_window_against_the_base(two_currencies):
    usd, _ = two_currencies
    with clock.frozen_at(timezone.make_aware(dt.datetime(2026, 1, 1))):
        old = [_sub(usd, "monthly", "10.00") for _ in range(4)]
    now = timezone.make_aware(dt.datetime(2026, 3, 1))
    old[0].status = "cancelled"
    old[0].cancelled_at = now - dt.timedelta(days=5)
    old[0].save()
    old[1].status = "ended"
    old[1].ended_at = now - dt.timedelta(days=90)  # before the window: not in base, not churned
    old[1].save()
    with clock.frozen_at(now):
        churn = queries.churn_last_30_days()
    assert churn == {"churned": 1, "base": 3, "rate": Decimal("33.3")}


def test_open_tickets_exclude_closed_statuses_in_any_case(db):
    from core.support.models import SupportTicket

    SupportTicket.objects.create(external_id="1", subject="a", status="Open")
    SupportTicket.objects.create(external_id="2", subject="b", status="Awaiting reply")
    SupportTicket.objects.create(external_id="3", subject="c", status="Closed")
    SupportTicket.objects.create(external_id="4", subject="d", status="resolved")
    assert queries.open_ticket_count() == 2


def test_dashboard_kpis_use_the_same_number_of_queries_however_many_rows(two_currencies, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.analytics.snapshot import refresh_dashboard_snapshot

    usd, eur = two_currencies
    _sub(usd, "monthly", "10.00")
    refresh_dashboard_snapshot()
    with CaptureQueriesContext(connection) as few:
        queries.dashboard_kpis()
    for _ in range(5):
        _sub(usd, "monthly", "10.00")
        _sub(eur, "annual", "120.00")
    refresh_dashboard_snapshot()
    with django_assert_num_queries(len(few.captured_queries)):
        kpis = queries.dashboard_kpis()
    assert kpis["mrr_by_currency"] == {"EUR": Decimal("50.00"), "USD": Decimal("60.00")}
    # The page reads the snapshot and a few live aggregates: no query per subscription, none over them.
    assert len(few.captured_queries) <= 20
    assert not [q for q in few.captured_queries if "billing_subscription" in q["sql"]]


def test_mrr_applies_live_coupons_and_ignores_spent_ones(two_currencies):
    from core.billing.models import Coupon, CouponAmount

    usd, eur = two_currencies
    pct = Coupon.objects.create(code="TEN", kind="percent", percent=Decimal("10"), duration="forever")
    fixed = Coupon.objects.create(code="FIVE", kind="fixed", duration="repeating", duration_cycles=3)
    CouponAmount.objects.create(coupon=fixed, currency=usd, amount=Decimal("5.00"))
    a = _sub(usd, "quarterly", "30.00")  # 10% off 30 = 27 a quarter = 9.00 a month
    a.coupon = pct
    a.save()
    b = _sub(usd, "monthly", "20.00")  # 5 off while cycles remain = 15.00
    b.coupon, b.coupon_cycles_remaining = fixed, 2
    b.save()
    c = _sub(usd, "monthly", "20.00")  # coupon spent: full 20.00
    c.coupon, c.coupon_cycles_remaining = fixed, 0
    c.save()
    d = _sub(eur, "annual", "120.00")  # a USD-only fixed coupon gives EUR nothing: 10.00
    d.coupon = fixed
    d.save()
    assert queries.mrr_by_currency() == {"EUR": Decimal("10.00"), "USD": Decimal("44.00")}


def test_receivables_split_overdue_balances_into_ageing_buckets(two_currencies):
    from tests.factories import InvoiceFactory

    usd, _ = two_currencies
    customer = CustomerFactory(currency=usd)
    today = dt.date(2026, 6, 30)
    n = iter(range(1, 100))

    def issued(total, due, paid="0.00"):
        return InvoiceFactory(customer=customer, status="issued", number=f"T-{next(n)}", total=Decimal(total),
                              amount_paid=Decimal(paid), due_date=due)  # fmt: skip

    issued("100.00", today)  # due today: not overdue
    issued("10.00", today - dt.timedelta(days=1))  # 1 day: 0-30
    issued("20.00", today - dt.timedelta(days=30), paid="5.00")  # 30 days: 0-30, 15 left
    issued("40.00", today - dt.timedelta(days=31))  # 31-60
    issued("80.00", today - dt.timedelta(days=90))  # 61-90
    issued("160.00", today - dt.timedelta(days=91))  # 90+
    InvoiceFactory(customer=customer, status="paid", number="T-P", total=Decimal("999.00"), due_date=today)
    usd_row = queries.receivables(today)["USD"]
    assert usd_row["outstanding"] == Decimal("405.00")
    assert usd_row["not_due"] == Decimal("100.00")
    assert usd_row["overdue"] == Decimal("305.00")
    assert (usd_row["0-30"], usd_row["31-60"], usd_row["61-90"], usd_row["90+"]) == (
        Decimal("25.00"), Decimal("40.00"), Decimal("80.00"), Decimal("160.00"),
    )  # fmt: skip
    assert usd_row["overdue_count"] == 5


def test_refunds_and_disputes_per_month(two_currencies):
    usd, _ = two_currencies
    customer = CustomerFactory(currency=usd)
    may = timezone.make_aware(dt.datetime(2026, 5, 4, 12))
    PaymentFactory(customer=customer, amount=Decimal("12.00"), kind=Payment.Kind.REFUND, received_at=may)
    PaymentFactory(customer=customer, amount=Decimal("30.00"), kind=Payment.Kind.CHARGEBACK, received_at=may)
    PaymentFactory(customer=customer, amount=Decimal("30.00"), is_disputed=True, received_at=may)
    PaymentFactory(customer=customer, amount=Decimal("99.00"), received_at=may)  # a plain payment: neither
    result = queries.refunds_and_disputes_by_month(12, today=dt.date(2026, 6, 15))
    i = result["months"].index(dt.date(2026, 5, 1))
    assert result["refunds"]["USD"][i] == Decimal("12.00")
    assert result["chargebacks"]["USD"][i] == Decimal("30.00")
    assert result["disputed"]["USD"][i] == Decimal("30.00")
    assert result["counts"]["refunds"][i] == 1
    assert result["counts"]["disputes"][i] == 1


def test_top_products_rank_by_converted_mrr_and_arpu(two_currencies):
    usd, eur = two_currencies
    small = _sub(usd, "monthly", "10.00")
    big = _sub(eur, "monthly", "40.00")  # 50 USD
    ranked = queries.top_products_by_mrr()
    assert [r["product_id"] for r in ranked] == [big.price.product_id, small.price.product_id]
    assert ranked[0]["converted"] == Decimal("50.00")
    kpis = queries.dashboard_kpis()
    assert kpis["paying_customers"] == 2
    assert kpis["arpu"] == Decimal("30.00")

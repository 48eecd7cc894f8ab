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


def test_dashboard_kpis_use_a_bounded_number_of_queries(two_currencies, django_assert_max_num_queries):
    usd, eur = two_currencies
    for _ in range(5):
        _sub(usd, "monthly", "10.00")
        _sub(eur, "annual", "120.00")
    # 7 aggregates + the currency exponent lookups (cached per code by Currency.exponent_for)
    with django_assert_max_num_queries(10):
        queries.dashboard_kpis()

"""MRR movement on a hand-built history in two currencies, each answer worked out by hand below.

Rates: 1 USD = 1 USD, 1 USD = 0.8 EUR (so EUR amounts convert as amount / 0.8).

Nov 2025  D subscribes at EUR 40/month                         -> D new
Dec 2025  D cancels                                            -> D churned
Jan 2026  A USD 10/month, B EUR 90/quarter (30/mo), C USD 180/year (15/mo) start -> 3 new
Feb 2026  A upgrades to USD 25/month         expansion   +15 USD
          B downgrades to EUR 60/quarter     contraction -10 EUR (= -12.50 USD)
          C cancels                          churned     -15 USD
          D comes back, EUR 50/month with a 20% forever coupon = EUR 40  reactivated +40 EUR (= +50 USD)
          F (never paid before) USD 60 semi-annual = USD 10/month         new +10 USD
          E starts a trial of USD 12/month                                 no MRR (trials excluded)

Feb opening MRR: USD 25 + EUR 30 (= 37.50)                   = 62.50 USD
Feb closing MRR: USD 25 + 10 = 35, EUR 20 + 40 = 60 (= 75.00) = 110.00 USD
Check: 62.50 + 10 + 50 + 15 - 12.50 - 15 = 110.00
Logo churn: 1 churned of 3 paying at the start (A, B, C)     = 33.3%
Revenue churn: (15 + 12.50) / 62.50                          = 44.0%
NRR: (62.50 + 15 - 12.50 - 15) / 62.50 = 50 / 62.50          = 80.0%
"""

import datetime as dt
from decimal import Decimal

import pytest

from core import clock
from core.analytics import movement
from core.analytics.models import CustomerMRR, Movement
from core.billing.models import Coupon
from tests.factories import CurrencyFactory, CustomerFactory, PriceFactory, SubscriptionFactory

NOV, DEC, JAN, FEB = dt.date(2025, 11, 1), dt.date(2025, 12, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1)


def at(day):
    return clock.frozen_at(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC))


def subscribe(customer, amount, cycle="monthly", **extra):
    price = PriceFactory(currency=customer.currency, cycle=cycle, amount=Decimal(amount))
    return SubscriptionFactory(customer=customer, price=price, **extra)


def change_plan(sub, amount):
    price = PriceFactory(currency=sub.currency, cycle=sub.cycle, amount=Decimal(amount))  # the new plan
    sub.price, sub.amount = price, Decimal(amount)
    sub.save()


def cancel(sub, day):
    sub.status = "cancelled"
    sub.cancelled_at = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
    sub.save()


@pytest.fixture
def history(db):
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    eur = CurrencyFactory(code="EUR", exchange_rate=Decimal("0.8"))
    people = {name: CustomerFactory(currency=usd if name in "ACEF" else eur) for name in "ABCDEF"}
    with at(dt.date(2025, 11, 5)):
        d_first = subscribe(people["D"], "40.00")
    with at(dt.date(2025, 11, 28)):
        movement.refresh_mrr_snapshot()
    cancel(d_first, dt.date(2025, 12, 10))
    with at(dt.date(2025, 12, 28)):
        movement.refresh_mrr_snapshot()
    with at(dt.date(2026, 1, 3)):
        subs = {
            "A": subscribe(people["A"], "10.00"),
            "B": subscribe(people["B"], "90.00", "quarterly"),
            "C": subscribe(people["C"], "180.00", "annual"),
        }
    with at(dt.date(2026, 1, 30)):
        movement.refresh_mrr_snapshot()
    with at(dt.date(2026, 2, 10)):
        change_plan(subs["A"], "25.00")
        change_plan(subs["B"], "60.00")
        cancel(subs["C"], dt.date(2026, 2, 10))
        coupon = Coupon.objects.create(code="BACK20", kind="percent", percent=Decimal("20"), duration="forever")
        subscribe(people["D"], "50.00", coupon=coupon)
        subscribe(people["E"], "12.00", status="trialing")
        subscribe(people["F"], "60.00", "semi_annual")
    with at(dt.date(2026, 2, 27)):
        movement.refresh_mrr_snapshot()
    return people


def test_month_with_upgrade_downgrade_churn_and_reactivation_in_two_currencies(history):
    feb = movement.mrr_movement(FEB)
    kinds = feb["kinds"]
    assert kinds["expansion"] == {
        "customers": 1,
        "converted": Decimal("15.00"),
        "by_currency": {"USD": Decimal("15.00")},
    }
    assert kinds["contraction"] == {
        "customers": 1, "converted": Decimal("-12.50"), "by_currency": {"EUR": Decimal("-10.00")}
    }  # fmt: skip
    assert kinds["churned"] == {
        "customers": 1,
        "converted": Decimal("-15.00"),
        "by_currency": {"USD": Decimal("-15.00")},
    }
    assert kinds["reactivated"] == {
        "customers": 1, "converted": Decimal("50.00"), "by_currency": {"EUR": Decimal("40.00")}
    }  # fmt: skip
    assert kinds["new"] == {"customers": 1, "converted": Decimal("10.00"), "by_currency": {"USD": Decimal("10.00")}}
    assert feb["opening_by_currency"] == {"EUR": Decimal("30.00"), "USD": Decimal("25.00")}
    assert feb["closing_by_currency"] == {"EUR": Decimal("60.00"), "USD": Decimal("35.00")}
    assert feb["opening_converted"] == Decimal("62.50")
    assert feb["closing_converted"] == Decimal("110.00")
    assert feb["opening_customers"] == 3
    assert feb["logo_churn_rate"] == Decimal("33.3")
    assert feb["revenue_churn_rate"] == Decimal("44.0")
    assert feb["net_revenue_retention"] == Decimal("80.0")


def test_movement_lists_the_customers_behind_each_figure(history):
    def who(month, kind):
        return {row.customer_id for row in movement.movement_customers(month, kind)}

    p = history
    assert who(FEB, Movement.EXPANSION) == {p["A"].pk}
    assert who(FEB, Movement.CONTRACTION) == {p["B"].pk}
    assert who(FEB, Movement.CHURNED) == {p["C"].pk}
    assert who(FEB, Movement.REACTIVATED) == {p["D"].pk}
    assert who(FEB, Movement.NEW) == {p["F"].pk}
    assert who(JAN, Movement.NEW) == {p["A"].pk, p["B"].pk, p["C"].pk}
    assert who(DEC, Movement.CHURNED) == {p["D"].pk}
    assert who(NOV, Movement.NEW) == {p["D"].pk}
    assert not CustomerMRR.objects.filter(customer=p["E"]).exists()  # a trial brings no MRR


def test_twelve_month_chart_stacks_each_movement_and_ends_at_the_closing_mrr(history):
    chart = movement.movement_by_month(12, today=dt.date(2026, 2, 27))
    assert chart["months"][-1] == FEB
    i_feb, i_dec = -1, chart["months"].index(DEC)
    assert chart["series"]["new"][i_feb] == Decimal("10.00")
    assert chart["series"]["reactivated"][i_feb] == Decimal("50.00")
    assert chart["series"]["expansion"][i_feb] == Decimal("15.00")
    assert chart["series"]["contraction"][i_feb] == Decimal("-12.50")
    assert chart["series"]["churned"][i_feb] == Decimal("-15.00")
    assert chart["series"]["churned"][i_dec] == Decimal("-50.00")  # D's EUR 40
    assert chart["closing"][i_feb] == Decimal("110.00")
    assert chart["closing"][chart["months"].index(JAN)] == Decimal("62.50")


def test_refreshing_a_month_twice_gives_the_same_rows(history):
    before = sorted(CustomerMRR.objects.filter(month=FEB).values_list("customer_id", "movement", "mrr"))
    with at(dt.date(2026, 2, 27)):
        movement.refresh_mrr_snapshot()
        movement.refresh_mrr_snapshot()
    assert sorted(CustomerMRR.objects.filter(month=FEB).values_list("customer_id", "movement", "mrr")) == before


def test_future_month_is_refused(db):
    with at(dt.date(2026, 2, 1)), pytest.raises(ValueError):
        movement.refresh_mrr_snapshot(dt.date(2026, 3, 1))


def test_hourly_task_backfills_the_month_before_once_then_refreshes_the_current(db):
    from django_q.models import Schedule

    from core.analytics import tasks

    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    with at(dt.date(2026, 2, 3)):
        subscribe(CustomerFactory(currency=usd), "10.00")
        assert tasks.refresh_mrr_snapshots() == 1
        assert CustomerMRR.objects.get(month=FEB).movement == Movement.NEW
        assert tasks.refresh_mrr_snapshots() == 1  # idempotent
    assert CustomerMRR.objects.filter(month=FEB).count() == 1
    tasks.ensure_schedules()
    tasks.ensure_schedules()
    schedule = Schedule.objects.get(name=tasks.MRR_SCHEDULE)
    assert schedule.func == "core.analytics.tasks.refresh_snapshots" and schedule.cron == "5 * * * *"

"""Dunning what-if: the replay of the current policy matches what the real daily policy run did,
and a proposed policy's figures follow from its days (worked out by hand)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from core import clock
from core.billing.models import Invoice, SuspensionPolicy
from core.billing.services import suspension, whatif
from tests.factories import (
    CurrencyFactory,
    CustomerFactory,
    InvoiceFactory,
    PriceFactory,
    ServiceFactory,
    SubscriptionFactory,
)

JAN = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(31)]


@pytest.fixture
def no_blast_limit(settings):
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 1000, "BLAST_RADIUS_MAX_SHARE": 1.0}


def _fleet():
    """Four VPS services, policy suspend +5 / terminate +30 days.

    s1: invoice due Jan 10 paid Jan 20 (suspended Jan 15, lifted Jan 20); invoice due Jan 25 unpaid (suspended Jan 30)
    s2: invoice due Jan 5 never paid: suspended Jan 10 (terminated Feb 4, outside January)
    s3: customer exempt, invoice due Jan 3 unpaid: never touched
    s4: invoice due Jan 8 paid Jan 12: before its suspension day (Jan 13), never suspended
    """
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    SuspensionPolicy.objects.create(service_type="vps", suspend_after_days=5, terminate_after_days=30)
    numbers = iter(range(1, 100))
    fleet = {}
    for name in ("s1", "s2", "s3", "s4"):
        customer = CustomerFactory(currency=usd, suspension_exempt=(name == "s3"))
        with clock.frozen_at(dt.date(2025, 12, 1)):
            sub = SubscriptionFactory(customer=customer, price=PriceFactory(currency=usd, amount=Decimal("30.00")))
            service = ServiceFactory(customer=customer, subscription=sub, product=sub.price.product, connection=None)
        fleet[name] = service
        fleet[name + "_sub"] = sub

    def invoice(name, due):
        return InvoiceFactory(customer=fleet[name].customer, subscription=fleet[name + "_sub"], status="issued",
                              kind="invoice", number=f"INV-{next(numbers)}", due_date=due, total=Decimal("30.00"))  # fmt: skip

    plan = {
        dt.date(2026, 1, 20): invoice("s1", dt.date(2026, 1, 10)),
        dt.date(2026, 1, 12): invoice("s4", dt.date(2026, 1, 8)),
    }
    invoice("s1", dt.date(2026, 1, 25))
    invoice("s2", dt.date(2026, 1, 5))
    invoice("s3", dt.date(2026, 1, 3))
    return fleet, plan


def _live_through_january(plan):
    """The real daily policy run for every day of January, with the payments landing mid-day."""
    for day in JAN:
        with clock.frozen_at(dt.datetime.combine(day, dt.time(3), tzinfo=dt.UTC)):
            suspension.apply_suspension_policy(day)
        if day in plan:
            paid_at = dt.datetime.combine(day, dt.time(14), tzinfo=dt.UTC)
            with clock.frozen_at(paid_at):
                Invoice.objects.filter(pk=plan[day].pk).update(status="paid", paid_at=paid_at)
                plan[day].refresh_from_db()
                suspension.unsuspend_after_payment(plan[day])


def test_replaying_the_current_policy_over_a_past_month_reproduces_the_recorded_suspensions(db, no_blast_limit):
    fleet, plan = _fleet()
    _live_through_january(plan)
    recorded = whatif.recorded_policy_suspensions(JAN[0], JAN[-1])
    s1, s2 = fleet["s1"].pk, fleet["s2"].pk
    assert recorded == sorted([(s1, dt.date(2026, 1, 15)), (s1, dt.date(2026, 1, 30)), (s2, dt.date(2026, 1, 10))])

    with clock.frozen_at(dt.date(2026, 3, 1)):
        replay = whatif.replay_policy(whatif.PolicyTerms.current(), JAN[0], JAN[-1])
    assert sorted((e.service_id, e.day) for e in replay.events if e.action == "suspend") == recorded
    assert replay.terminations == 0
    assert replay.mrr_at_risk == {"USD": Decimal("60.00")}  # s1 and s2, 30.00 a month each


def test_proposed_policy_is_compared_with_the_current_over_the_past_year_and_next_30_days(db, no_blast_limit):
    fleet, plan = _fleet()
    _live_through_january(plan)
    proposed = whatif.PolicyTerms.uniform(3, 20, reminder_days=(-3, 1), exempt_customer_ids=frozenset())
    with clock.frozen_at(dt.date(2026, 1, 31)):
        result = whatif.compare_policies(proposed)
    past, future = result["past"], result["future"]
    # Proposed +3 days: s1 suspended Jan 13 (paid Jan 20) and Jan 28; s2 Jan 8; s4 (due Jan 8, paid Jan 12) Jan 11.
    assert past["proposed"].suspensions == 4
    assert past["current"].suspensions == 3
    # Proposed +20 terminates s2 (due Jan 5) on Jan 25, inside the past year; the current +30 would not yet.
    assert [(e.service_id, e.day) for e in past["proposed"].events if e.action == "terminate"] == [
        (fleet["s2"].pk, dt.date(2026, 1, 25))
    ]
    assert past["current"].terminations == 0
    # Next 30 days (Jan 31 - Mar 2), nothing more paid: proposed terminates s1 (oldest unpaid due Jan 25) on
    # Feb 14 (s2 is gone already); current: s2 on Feb 4, s1 on Feb 24.
    assert [(e.service_id, e.day) for e in future["proposed"].events if e.action == "terminate"] == [
        (fleet["s1"].pk, dt.date(2026, 2, 14))
    ]
    assert future["current"].services("terminate") == {fleet["s1"].pk, fleet["s2"].pk}
    assert {e.day for e in future["current"].events if e.action == "terminate"} == {
        dt.date(2026, 2, 4),
        dt.date(2026, 2, 24),
    }
    # s3's exemption holds under both.
    assert fleet["s3"].pk not in past["proposed"].services() | future["proposed"].services()
    # Reminders in the past year: 5 invoices; day -3 reminders for all 5 (each unpaid 3 days before due),
    # day +1 for the unpaid-on-the-day ones: s1 Jan 10 (paid Jan 20), s1 Jan 25 (Jan 26 within the window),
    # s2, s3, s4 (due Jan 8, paid Jan 12) = 5 -> 10.
    assert past["proposed"].reminders == 10


def test_exempting_a_customer_removes_their_services_from_the_replay(db, no_blast_limit):
    fleet, plan = _fleet()
    terms = whatif.PolicyTerms.uniform(5, 30, exempt_customer_ids=frozenset({fleet["s2"].customer_id}))
    with clock.frozen_at(dt.date(2026, 3, 1)):
        replay = whatif.replay_policy(terms, JAN[0], JAN[-1])
    assert fleet["s2"].pk not in replay.services()


def test_terminate_must_follow_suspend():
    with pytest.raises(ValueError):
        whatif.PolicyTerms.uniform(10, 10)


def test_whatif_page_shows_both_policies(staff_client, db, no_blast_limit):
    _fleet()
    url = reverse("admin:analytics_dunning_whatif")
    response = staff_client.get(url, {"suspend_after_days": 3, "terminate_after_days": 20, "reminder_days": "-3, 1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Current policy" in body and "Proposed policy" in body
    assert "MRR at risk" in body
    bad = staff_client.get(url, {"suspend_after_days": 9, "terminate_after_days": 3})
    assert bad.status_code == 200
    assert "more days than" in bad.content.decode()

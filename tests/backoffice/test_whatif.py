"""Dunning what-if: the replay of the current policy matches what the real daily policy run did,
and a proposed policy's figures follow from its days (worked out by hand)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from core import clock
from core.billing.models import Invoice, PendingPolicyAction, SuspensionPolicy
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
    assert "Held for approval" in body and "Blast-radius guard: a replayed day with more than 1000 actions" in body
    assert "as they were on each replayed day" in body
    bad = staff_client.get(url, {"suspend_after_days": 9, "terminate_after_days": 3})
    assert bad.status_code == 200
    assert "more days than" in bad.content.decode()


def _at(day, hour=14):
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def _backdate_history(obj, moment):
    """History rows written so far for `obj` carry `moment` (the test's clock does not reach simple-history)."""
    type(obj).history.filter(id=obj.pk).update(history_date=moment)


def _save_at(obj, moment, **changes):
    for name, value in changes.items():
        setattr(obj, name, value)
    obj._history_date = moment
    obj.save()


def _history_and_holds_fleet():
    """Policy +5 / +30, four VPS services, each with one unpaid invoice:

    e1: customer exempt until Jan 12 14:00, invoice due Jan 5: the Jan 10 run skips it, Jan 13 suspends.
    g2: service grace 10 days during January (0 since Feb 1), invoice due Jan 3: suspended Jan 18.
    h3, h4: invoices due Jan 20: on Jan 25 two actions > BLAST_RADIUS_MAX_COUNT (1): both held.
        h3 pays on Jan 27, which drops its held action; staff approve h4's on Jan 28 (the live test).
    Today's flags (none exempt, no grace) would put e1 on Jan 10 and g2 on Jan 8, and h3/h4 suspended Jan 25.
    """
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    SuspensionPolicy.objects.create(service_type="vps", suspend_after_days=5, terminate_after_days=30)
    december = _at(dt.date(2025, 12, 1), 9)
    fleet = {}
    for n, (name, due) in enumerate((("e1", 5), ("g2", 3), ("h3", 20), ("h4", 20))):
        with clock.frozen_at(december):
            customer = CustomerFactory(currency=usd, suspension_exempt=(name == "e1"))
            sub = SubscriptionFactory(customer=customer, price=PriceFactory(currency=usd, amount=Decimal("10.00")))
            service = ServiceFactory(customer=customer, subscription=sub, product=sub.price.product, connection=None,
                                     extra_grace_days=10 if name == "g2" else 0)  # fmt: skip
        _backdate_history(customer, december)
        _backdate_history(service, december)
        invoice = InvoiceFactory(customer=customer, subscription=sub, status="issued", kind="invoice",
                                 number=f"INV-H{n}", due_date=dt.date(2026, 1, due), total=Decimal("10.00"))  # fmt: skip
        fleet[name], fleet[name + "_invoice"] = service, invoice
    return fleet


def test_replay_uses_exemptions_and_grace_as_they_were_and_holds_a_big_day_like_the_real_run(db, settings):
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 1, "BLAST_RADIUS_MAX_SHARE": 1.0,
                        "BLAST_RADIUS_MIN_COUNT": 1}  # fmt: skip
    fleet = _history_and_holds_fleet()
    e1, g2, h3, h4 = (fleet[k] for k in ("e1", "g2", "h3", "h4"))
    for day in JAN:  # the real daily run at 03:00; staff and customers act in the afternoon
        with clock.frozen_at(_at(day, 3)):
            suspension.apply_suspension_policy(day)
        if day == dt.date(2026, 1, 12):
            _save_at(e1.customer, _at(day), suspension_exempt=False)
        if day == dt.date(2026, 1, 27):
            with clock.frozen_at(_at(day)):
                invoice = fleet["h3_invoice"]
                Invoice.objects.filter(pk=invoice.pk).update(status="paid", paid_at=_at(day))
                invoice.refresh_from_db()
                suspension.unsuspend_after_payment(invoice)
        if day == dt.date(2026, 1, 28):
            with clock.frozen_at(_at(day, 15)):
                assert suspension.approve_policy_actions(PendingPolicyAction.objects.all(), actor=None) == (1, 0)
    g2.refresh_from_db()
    _save_at(g2, _at(dt.date(2026, 2, 1)), extra_grace_days=0)  # today's grace differs from January's

    recorded = whatif.recorded_policy_suspensions(JAN[0], JAN[-1])
    assert recorded == sorted([(e1.pk, dt.date(2026, 1, 13)), (g2.pk, dt.date(2026, 1, 18)),
                               (h4.pk, dt.date(2026, 1, 28))])  # fmt: skip
    held = whatif.recorded_policy_holds(JAN[0], JAN[-1])
    assert held == sorted([(h3.pk, "suspend", dt.date(2026, 1, 25)), (h4.pk, "suspend", dt.date(2026, 1, 25))])

    with clock.frozen_at(dt.date(2026, 3, 1)):
        replay = whatif.replay_policy(whatif.PolicyTerms.current(), JAN[0], JAN[-1])
    assert sorted((e.service_id, e.day) for e in replay.events if e.action == "suspend") == recorded
    assert sorted((e.service_id, e.action, e.day) for e in replay.held) == held
    assert replay.held_days == [dt.date(2026, 1, 25)]
    assert replay.terminations == 0
    # The same days as a proposed policy: the approval was staff's answer to the real run, not replayed.
    with clock.frozen_at(dt.date(2026, 3, 1)):
        proposed = whatif.replay_policy(whatif.PolicyTerms.uniform(5, 30), JAN[0], JAN[-1])
    assert sorted((e.service_id, e.day) for e in proposed.events) == recorded[:2]
    assert len(proposed.held) == 2
    # At risk: the two suspended and the two held, 10.00 a month each.
    assert replay.mrr_at_risk == {"USD": Decimal("40.00")}
    assert {c["id"]: c["held"] for c in replay.customers}[h4.customer_id] == 1


def test_held_action_is_not_proposed_again_but_a_later_termination_is(db, settings):
    """Nothing paid: h3's and h4's held suspensions wait (never proposed again); on Feb 19 (due + 30) their
    terminations are new actions, two on one day again: held. g2 terminates alone on its day: done."""
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 1, "BLAST_RADIUS_MAX_SHARE": None}
    fleet = _history_and_holds_fleet()
    with clock.frozen_at(dt.date(2026, 3, 1)):
        replay = whatif.replay_policy(whatif.PolicyTerms.current(), JAN[0], dt.date(2026, 2, 28))
    h3, h4 = fleet["h3"].pk, fleet["h4"].pk
    assert [(e.service_id, e.action, e.day) for e in replay.held if e.day.month == 1] == [
        (h3, "suspend", dt.date(2026, 1, 25)), (h4, "suspend", dt.date(2026, 1, 25))
    ]  # fmt: skip
    terminations = sorted((e.service_id, e.day) for e in replay.events if e.action == "terminate")
    assert (h3, dt.date(2026, 2, 19)) not in terminations and (h4, dt.date(2026, 2, 19)) not in terminations
    assert [(e.service_id, e.action) for e in replay.held if e.day == dt.date(2026, 2, 19)] == [
        (h3, "terminate"), (h4, "terminate")
    ]  # fmt: skip
    # g2 (Jan 3 + 30 + 10 grace = Feb 12) is alone on its day: done. e1's customer is still exempt here.
    assert terminations == [(fleet["g2"].pk, dt.date(2026, 2, 12))]
    assert len([e for e in replay.held if e.service_id == h4 and e.action == "suspend"]) == 1


def test_the_share_rule_counts_the_services_active_on_the_replayed_day(db, settings):
    """MAX_SHARE 0.7 from 2 actions. On Jan 25 h3 and h4 are due for suspension. Active then: four services
    less g2, which the replay suspended on Jan 18 (e1 is exempt): 2 of 3 is not above 0.7. With e1 and g2
    really terminated on Jan 2 (terminated_at), 2 of the 2 left are: both held."""
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 100, "BLAST_RADIUS_MAX_SHARE": 0.7,
                        "BLAST_RADIUS_MIN_COUNT": 2}  # fmt: skip
    fleet = _history_and_holds_fleet()
    terms = whatif.PolicyTerms.uniform(5, 300)
    with clock.frozen_at(dt.date(2026, 3, 1)):
        replay = whatif.replay_policy(terms, dt.date(2026, 1, 18), dt.date(2026, 1, 25))
    assert replay.held == []
    assert [(e.service_id, e.day) for e in replay.events] == [
        (fleet["g2"].pk, dt.date(2026, 1, 18)), (fleet["h3"].pk, dt.date(2026, 1, 25)),
        (fleet["h4"].pk, dt.date(2026, 1, 25)),
    ]  # fmt: skip
    for other in ("e1", "g2"):
        type(fleet[other]).objects.filter(pk=fleet[other].pk).update(
            status="terminated", terminated_at=_at(dt.date(2026, 1, 2))
        )
    with clock.frozen_at(dt.date(2026, 3, 1)):
        replay = whatif.replay_policy(terms, dt.date(2026, 1, 18), dt.date(2026, 1, 25))
    assert replay.events == []  # g2 is gone before Jan 18: the run leaves it alone
    assert [e.service_id for e in replay.held] == [fleet["h3"].pk, fleet["h4"].pk]

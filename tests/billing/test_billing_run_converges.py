"""Issue 13: one billing run brings every subscription up to date for its day; a second run writes nothing."""

import datetime as dt

import pytest
from dateutil.relativedelta import relativedelta
from django.core.management import call_command

from core import clock
from core.billing.models import Invoice, Subscription
from core.billing.services import billing_run, subscriptions
from tests.billing.rowstate import changed, database_state

pytestmark = pytest.mark.django_db


def run(at):
    with clock.frozen_at(at):
        return billing_run.run_billing()


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_one_run_catches_up_every_missed_period_and_a_second_run_writes_nothing(subscribed, fake_gateway, provisioning):
    sub = subscribed()  # period ends 2026-02-01; nothing ran since
    day = utc(2026, 5, 10, 6)
    first = run(day)
    sub.refresh_from_db()
    starts = list(sub.invoices.order_by("renewal_period_start").values_list("renewal_period_start", flat=True))
    assert starts == [utc(2026, 2, 1), utc(2026, 3, 1), utc(2026, 4, 1), utc(2026, 5, 1)]
    assert (sub.current_period_start, sub.current_period_end) == (utc(2026, 5, 1), utc(2026, 6, 1))
    assert first.renewals_issued == 4 and first.periods_advanced == 4 and not first.errors
    before = database_state()
    second = run(day)
    assert changed(before, database_state()) == {}
    assert second.renewals_issued == 0 and second.periods_advanced == 0 and second.charges_attempted == 0


def test_command_twice_for_a_date_far_ahead_the_second_writes_nothing(subscribed, fake_gateway, provisioning):
    subs = [
        subscribed(),
        subscribed(start=utc(2025, 12, 20), end=utc(2026, 1, 20)),
        subscribed(start=utc(2025, 10, 3), end=utc(2025, 11, 3)),
    ]
    call_command("billing_run", "--date", "2026-04-15")
    day, horizon = utc(2026, 4, 15, 6), utc(2026, 4, 22, 6)  # renewals go out 7 days ahead
    for sub in subs:
        first_renewal = sub.current_period_end
        sub.refresh_from_db()
        assert sub.current_period_start <= day < sub.current_period_end
        expected, period = [], first_renewal
        while period <= horizon:  # every period from the first renewal to the window's end, invoiced once
            expected.append(period)
            period += relativedelta(months=1)
        assert list(sub.invoices.order_by("renewal_period_start").values_list("renewal_period_start", flat=True)) == (
            expected
        )
    before = database_state()
    call_command("billing_run", "--date", "2026-04-15")
    assert changed(before, database_state()) == {}


def test_missed_days_are_caught_up_by_the_next_daily_run(subscribed, fake_gateway, provisioning):
    sub = subscribed()
    run(utc(2026, 1, 25, 6))  # renews February on time
    # The schedule stops for 70 days; the next daily run does everything alone.
    summary = run(utc(2026, 4, 5, 6))
    sub.refresh_from_db()
    assert sub.current_period_end == utc(2026, 5, 1)
    assert sub.invoices.count() == 3  # Feb, Mar, Apr (May is outside the 7-day window on 5 April)
    assert summary.renewals_issued == 2 and summary.periods_advanced == 3
    assert run(utc(2026, 4, 5, 7)).renewals_issued == 0


def test_renewal_due_on_the_start_of_its_period_or_the_issue_day_when_late(subscribed, fake_gateway, provisioning):
    on_time, late = subscribed(), subscribed()
    Subscription.objects.filter(pk=late.pk).update(cancel_at_period_end=True)
    run(utc(2026, 1, 25, 6))
    assert on_time.invoices.get().due_date == dt.date(2026, 2, 1)  # issued 7 days ahead, due when the period starts
    assert on_time.invoices.get().issue_date == dt.date(2026, 1, 25)
    Subscription.objects.filter(pk=late.pk).update(cancel_at_period_end=False)
    fake_gateway.script = []
    run(utc(2026, 2, 3, 6))
    first = late.invoices.order_by("renewal_period_start").first()
    assert first.renewal_period_start == utc(2026, 2, 1)
    assert first.issue_date == first.due_date == dt.date(2026, 2, 3)  # issued after its period began


def test_a_broken_subscription_is_bounded_and_reported_once(subscribed, fake_gateway, provisioning, monkeypatch):
    good, broken = subscribed(), subscribed()
    real = subscriptions.roll_subscription_period
    calls = []

    def roll(subscription, *, now=None):
        calls.append(subscription.pk)
        if subscription.pk == broken.pk:
            raise RuntimeError("row is broken")
        return real(subscription, now=now)

    monkeypatch.setattr(billing_run, "roll_subscription_period", roll)
    summary = run(utc(2026, 6, 10, 6))
    good.refresh_from_db()
    assert good.current_period_end == utc(2026, 7, 1)
    assert calls.count(broken.pk) == 1
    assert [e for e in summary.errors if str(broken.pk) in e] == [f"period subscription {broken.pk}: row is broken"]
    assert Invoice.objects.filter(subscription=broken).count() == 1  # its first renewal; no more rounds for it


def test_catch_up_rounds_are_bounded(subscribed, fake_gateway, provisioning, monkeypatch):
    monkeypatch.setattr(billing_run, "MAX_PERIODS_PER_RUN", 2)
    sub = subscribed()
    summary = run(utc(2026, 8, 10, 6))
    sub.refresh_from_db()
    assert sub.current_period_end == utc(2026, 4, 1)  # two periods moved, no more
    assert any("still behind" in e for e in summary.errors)

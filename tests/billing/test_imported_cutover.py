"""WHMCS cutover: until BILLING["IMPORTED_BILLING_FROM"], WHMCS bills imported customers.

During the parallel-run weeks both systems hold the same subscriptions; only one may invoice a
period or remind a customer, or customers are billed twice. Imported subscriptions and invoices
(whmcs_id set) are left alone by our billing run and reminders until the cutover moment, then
billed like our own.
"""

import datetime as dt
from decimal import Decimal

import pytest

from core import clock
from core.billing.models import Invoice
from core.billing.services import imported, invoices, reminders
from core.billing.services.billing_run import RunSummary, catch_up, preview_billing_run
from core.notifications.models import Notification
from tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def _subscriptions():
    start = NOW - dt.timedelta(days=28)
    ours = SubscriptionFactory(current_period_start=start, current_period_end=start + dt.timedelta(days=30))
    theirs = SubscriptionFactory(current_period_start=start, current_period_end=start + dt.timedelta(days=30),
                                 whmcs_id=4242)  # fmt: skip
    return ours, theirs


def _renewals(sub):
    return Invoice.objects.filter(subscription=sub).count()


def _cutover(settings, value):
    settings.BILLING = {**settings.BILLING, "IMPORTED_BILLING_FROM": value}


def test_before_the_cutover_only_our_own_subscriptions_renew_and_move_on(settings):
    _cutover(settings, "")
    ours, theirs = _subscriptions()
    with clock.frozen_at(NOW + dt.timedelta(days=5)):  # both periods ended 3 days ago
        summary = RunSummary(date="x")
        catch_up(clock.now(), summary)
        preview = preview_billing_run()
    assert summary.errors == []
    assert _renewals(ours) == 1 and _renewals(theirs) == 0
    theirs.refresh_from_db()
    assert theirs.current_period_end == NOW + dt.timedelta(days=2)  # left where WHMCS's next due date put it
    assert preview.renewals_issued == 0 and preview.periods_advanced == 0


def test_a_cutover_in_the_future_still_leaves_imported_subscriptions_to_whmcs(settings):
    _cutover(settings, "2027-01-01")
    _, theirs = _subscriptions()
    with clock.frozen_at(NOW + dt.timedelta(days=5)):
        catch_up(clock.now(), RunSummary(date="x"))
    assert _renewals(theirs) == 0


def test_after_the_cutover_imported_subscriptions_renew_once_like_ours(settings):
    _cutover(settings, "2026-12-06T08:00:00")
    ours, theirs = _subscriptions()
    with clock.frozen_at(NOW + dt.timedelta(days=5)):
        catch_up(clock.now(), RunSummary(date="x"))
        catch_up(clock.now(), RunSummary(date="x"))  # twice: still one renewal each
    assert _renewals(ours) == 1 and _renewals(theirs) == 1
    invoice = Invoice.objects.get(subscription=theirs)
    assert invoice.subtotal == theirs.amount and invoice.renewal_period_start == NOW + dt.timedelta(days=2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        ("2027-01-01", dt.datetime(2027, 1, 1, tzinfo=dt.UTC)),
        ("2027-01-01T06:30:00", dt.datetime(2027, 1, 1, 6, 30, tzinfo=dt.UTC)),
        ("2027-01-01T06:30:00+01:00", dt.datetime(2027, 1, 1, 5, 30, tzinfo=dt.UTC)),
    ],
)
def test_the_cutover_setting_reads_dates_and_datetimes(settings, value, expected):
    _cutover(settings, value)
    assert imported.imported_billing_from() == expected


def test_imported_invoices_get_reminders_only_after_the_cutover(settings, django_capture_on_commit_callbacks):
    settings.BILLING = {**settings.BILLING, "REMINDER_DAYS_BEFORE_DUE": 3, "IMPORTED_BILLING_FROM": "2026-12-10"}
    customer = CustomerFactory(auto_apply_credit=False)
    draft = invoices.create_draft_invoice(customer, lines=[{"description": "VPS", "unit_amount": Decimal("9.00")}])
    invoice = invoices.issue_invoice(draft, due_date=dt.date(2026, 12, 12), email=False)
    Invoice.objects.filter(pk=invoice.pk).update(whmcs_id=777)  # as the importer marks its invoices

    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_due_reminders(dt.date(2026, 12, 9)) == 0  # WHMCS still reminds
        assert reminders.send_due_reminders(dt.date(2026, 12, 10)) == 1  # cutover day: ours
    assert Notification.objects.filter(event="invoice_reminder").count() == 1

"""Races that only a real database with row locks can show (MariaDB; skipped on SQLite)."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from core import clock
from core.billing.errors import CouponError
from core.billing.models import Coupon, CouponRedemption, Invoice, Payment
from core.billing.services import billing_run, coupons, invoices, payments
from tests.factories import CustomerFactory

D = Decimal
pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def _in_threads(count, target):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def worker(i):
        try:
            barrier.wait()
            results.append(target(i))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_fifty_concurrent_issues_get_numbers_one_to_fifty():
    customer = CustomerFactory()
    drafts = [
        invoices.create_draft_invoice(customer, lines=[{"description": f"Item {i}", "unit_amount": D("1.00")}])
        for i in range(50)
    ]
    with clock.frozen_at(dt.datetime(2026, 5, 1, tzinfo=dt.UTC)):
        results, errors = _in_threads(50, lambda i: invoices.issue_invoice(drafts[i], email=False).number)
    assert errors == []
    assert sorted(results) == [f"INV-2026-{n:06d}" for n in range(1, 51)]


def test_twenty_concurrent_redemptions_of_last_use_give_one_success():
    coupon = Coupon.objects.create(
        code="LASTONE", kind="percent", percent=D("10"), max_redemptions=5, times_redeemed=4, max_per_customer=None
    )
    customers = [CustomerFactory() for _ in range(20)]
    results, errors = _in_threads(20, lambda i: coupons.redeem_coupon(coupon, customers[i]))
    assert len(results) == 1
    assert len(errors) == 19 and all(isinstance(e, CouponError) for e in errors)
    assert all("maximum number of times" in str(e) for e in errors)
    coupon.refresh_from_db()
    assert coupon.times_redeemed == 5
    assert CouponRedemption.objects.count() == 1


def test_concurrent_duplicate_payments_record_one():
    customer = CustomerFactory(auto_apply_credit=False)
    inv = invoices.issue_invoice(
        invoices.create_draft_invoice(customer, lines=[{"description": "x", "unit_amount": D("10")}]), email=False
    )
    results, errors = _in_threads(
        10,
        lambda i: payments.record_payment(inv, amount=D("10"), gateway="stripe", gateway_transaction_id="pi_same").pk,
    )
    assert errors == [] and len(set(results)) == 1
    assert Payment.objects.count() == 1


def test_concurrent_billing_runs_issue_each_renewal_once(subscribed, fake_gateway, monkeypatch):
    monkeypatch.setattr(billing_run, "queue_renewal_emails", lambda ids: None)
    subs = [subscribed() for _ in range(30)]
    at = dt.datetime(2026, 1, 25, 6, tzinfo=dt.UTC)

    def one_run(i):
        with clock.frozen_at(at):
            summary = billing_run.RunSummary(date="x")
            billing_run.issue_renewals(clock.now(), summary, batch_size=7)
            return summary.renewals_issued

    results, errors = _in_threads(3, one_run)
    assert errors == []
    assert sum(results) == 30
    assert Invoice.objects.count() == 30
    assert sorted(Invoice.objects.values_list("subscription_id", flat=True)) == sorted(s.pk for s in subs)
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [f"INV-2026-{n:06d}" for n in range(1, 31)]

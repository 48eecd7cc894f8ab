"""End to end, with nothing of ours patched: an order is placed, paid through the sandbox gateway,
fulfilled, provisioned on the sandbox platform, renewed by the billing run, suspended for an
unpaid renewal, unsuspended by paying it, and terminated when the next one stays unpaid.

Only the world outside is stood in for: the sandbox gateway and platform (no network), Discord
delivery, and the clock (core.clock.frozen_at). Tasks run inline (django-q2 sync under pytest);
on_commit callbacks run inside django_capture_on_commit_callbacks(execute=True).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from core import clock
from core.billing.errors import OrderError
from core.billing.models import CreditEntry, Invoice, Order, Payment, Subscription
from core.billing.services import methods
from core.billing.services.billing_run import run_billing
from core.billing.services.credit import credit_balance
from core.billing.services.dunning import charge_invoice
from core.billing.services.orders import place_order
from core.catalog.models import Product
from core.provisioning.models import ProvisioningJob, SandboxResource, Service
from integrations.platforms.sandbox.driver import inject_fault

from .conftest import DECLINED_CARD, SUSPEND_AFTER, TERMINATE_AFTER

START = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)


def emails(subject_part: str):
    return [m for m in mail.outbox if subject_part in m.subject]


def buy_vps(customer, price, capture):
    """The customer orders and the first invoice is charged to their saved card (the real charge path)."""
    with capture(execute=True):
        order = place_order(customer, [{"price": price, "hostname": "web1.example.net"}], ip_address="198.51.100.7")
        charge_invoice(order.invoice)
    order.refresh_from_db()
    return order


def run_day(day: dt.date, capture) -> None:
    with clock.frozen_at(dt.datetime.combine(day, dt.time(6, 0), tzinfo=dt.UTC)), capture(execute=True):
        summary = run_billing()
    assert not summary.errors, summary.errors


def run_days(first: dt.date, last: dt.date, capture) -> None:
    day = first
    while day <= last:
        run_day(day, capture)
        day += dt.timedelta(days=1)


def order_to_active_service(buyer, vps_price, capture) -> Service:
    with clock.frozen_at(START):
        order = buy_vps(buyer, vps_price, capture)

    assert order.status == Order.Status.FULFILLED
    assert order.invoice.status == Invoice.Status.PAID
    subscription = Subscription.objects.get(customer=buyer)
    assert subscription.price == vps_price and subscription.current_period_start == START
    service = Service.objects.get(subscription=subscription)
    assert service.status == Service.Status.ACTIVE
    assert service.hostname == "web1.example.net"
    assert service.primary_ip.startswith("203.0.113.")
    assert SandboxResource.objects.get(external_id=str(service.uuid), deleted_at__isnull=True)
    ready = emails("is ready")
    assert len(ready) == 1
    assert ready[0].to == [buyer.user.email]
    assert service.credentials["password"] in ready[0].body and service.primary_ip in ready[0].body
    assert Product.objects.get(pk=vps_price.product_id).stock_quantity == 4
    return service


def _test_order_renew_suspend_pay_terminate(buyer, vps_price, capture):
    service = order_to_active_service(buyer, vps_price, capture)
    subscription = service.subscription

    # (b) From now on the card on file declines: the renewal stays unpaid.
    declined = methods.save_payment_method(buyer, "sandbox", DECLINED_CARD, make_default=True)
    methods.set_subscription_payment_method(subscription, declined)
    # Issued RENEWAL_DAYS_BEFORE (7) days before the period ends: the first daily run past that moment.
    renewal_day = (subscription.current_period_end - dt.timedelta(days=7)).date() + dt.timedelta(days=1)
    run_days(START.date() + dt.timedelta(days=1), renewal_day - dt.timedelta(days=1), capture)
    assert not Invoice.objects.filter(subscription=subscription, purpose=Invoice.Purpose.RENEWAL).exists()
    run_day(renewal_day, capture)
    renewal = Invoice.objects.get(subscription=subscription, purpose=Invoice.Purpose.RENEWAL)
    assert renewal.status == Invoice.Status.ISSUED and renewal.total == Decimal("20.00")

    suspend_day = renewal.due_date + dt.timedelta(days=SUSPEND_AFTER)
    run_days(renewal_day + dt.timedelta(days=1), suspend_day - dt.timedelta(days=1), capture)
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE  # not a day early
    assert Payment.objects.filter(invoice=renewal, status=Payment.Status.FAILED).exists()

    run_day(suspend_day, capture)
    service.refresh_from_db()
    assert service.status == Service.Status.SUSPENDED
    assert service.suspension_reason.startswith("Overdue invoice")
    assert SandboxResource.objects.get(external_id=str(service.uuid)).is_suspended  # the platform did it
    assert ProvisioningJob.objects.filter(service=service, action="suspend", outcome="succeeded").count() == 1
    run_day(suspend_day + dt.timedelta(days=1), capture)  # a rerun changes nothing, emails nothing
    assert len(emails("has been suspended")) == 1

    # Paying the overdue invoice (same real charge path, with a card that works) lifts the suspension.
    good = methods.active_payment_methods(buyer).get(last4="4242")
    with clock.frozen_at(dt.datetime.combine(suspend_day, dt.time(15, 0), tzinfo=dt.UTC)), capture(execute=True):
        charge_invoice(renewal, method=good)
    renewal.refresh_from_db()
    service.refresh_from_db()
    assert renewal.status == Invoice.Status.PAID
    assert service.status == Service.Status.ACTIVE
    assert not SandboxResource.objects.get(external_id=str(service.uuid)).is_suspended
    assert len(emails("running again")) == 1

    # The next renewal stays unpaid: suspended again, then terminated TERMINATE_AFTER days after its due date.
    subscription.refresh_from_db()
    next_renewal_day = (subscription.current_period_end - dt.timedelta(days=7)).date() + dt.timedelta(days=1)
    run_days(suspend_day + dt.timedelta(days=2), next_renewal_day, capture)
    second = (
        Invoice.objects.filter(subscription=subscription, purpose=Invoice.Purpose.RENEWAL, status=Invoice.Status.ISSUED)
        .order_by("due_date")
        .first()
    )
    assert second is not None and second.pk != renewal.pk
    terminate_day = second.due_date + dt.timedelta(days=TERMINATE_AFTER)
    run_days(next_renewal_day + dt.timedelta(days=1), terminate_day - dt.timedelta(days=1), capture)
    service.refresh_from_db()
    assert service.status == Service.Status.SUSPENDED
    assert len(emails("has been suspended")) == 2  # once per suspension

    run_day(terminate_day, capture)
    service.refresh_from_db()
    subscription.refresh_from_db()
    assert service.status == Service.Status.TERMINATED
    assert SandboxResource.objects.get(external_id=str(service.uuid)).deleted_at is not None
    assert subscription.status == Subscription.Status.ENDED
    assert Product.objects.get(pk=vps_price.product_id).stock_quantity == 5  # the unit came back
    assert len(emails("is ready")) == 1  # the welcome email never repeated


@pytest.mark.django_db
def test_order_paid_provisioned_renewed_suspended_unsuspended_terminated(
    buyer, vps_price, django_capture_on_commit_callbacks
):
    _test_order_renew_suspend_pay_terminate(buyer, vps_price, django_capture_on_commit_callbacks)


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_order_to_termination_on_mariadb(buyer, vps_price, django_capture_on_commit_callbacks):
    _test_order_renew_suspend_pay_terminate(buyer, vps_price, django_capture_on_commit_callbacks)


# --- (c) refused before any charge ------------------------------------------------------------


@pytest.mark.django_db
def test_out_of_stock_order_is_refused_before_any_invoice_or_charge(buyer, vps_price):
    Product.objects.filter(pk=vps_price.product_id).update(stock_quantity=0)
    vps_price.refresh_from_db()

    with pytest.raises(OrderError, match="VPS Small is out of stock"):
        place_order(buyer, [{"price": vps_price}])

    assert not Order.objects.exists()
    assert not Invoice.objects.exists()
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_order_the_platform_has_no_room_for_is_refused_with_a_clear_message(buyer, vps_price, sandbox_platform):
    sandbox_platform.defaults = {"build_seconds": 0, "max_services": 0}
    sandbox_platform.save()

    with pytest.raises(OrderError) as refused:
        place_order(buyer, [{"price": vps_price}])

    assert "VPS Small is sold out in this location right now" in str(refused.value)
    assert not Invoice.objects.exists() and not Payment.objects.exists()


# --- (d) provisioning fails for good, staff make it good --------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["credit", "refund"])
def test_failed_provisioning_is_refunded_or_credited_by_staff_in_one_click(
    buyer, vps_price, sandbox_platform, staff_client, mode, django_capture_on_commit_callbacks
):
    inject_fault(sandbox_platform, "create", "before", times=10, retryable=False)
    with clock.frozen_at(START):
        order = buy_vps(buyer, vps_price, django_capture_on_commit_callbacks)
    service = Service.objects.get(subscription__customer=buyer)
    assert order.invoice.status == Invoice.Status.PAID
    assert service.status == Service.Status.FAILED
    assert "injected failure" in service.last_error
    assert not emails("is ready")

    url = reverse("admin:provisioning_service_detail_refund_or_credit", args=[service.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, {"confirm": "yes", "mode": mode})
    assert response.status_code == 302

    service.refresh_from_db()
    assert service.compensation == mode and service.compensated_at is not None
    assert service.status == Service.Status.TERMINATED
    if mode == "credit":
        assert credit_balance(buyer) == Decimal("20.00")
        assert CreditEntry.objects.get(customer=buyer).reason == "provisioning_failed"
        assert not Payment.objects.filter(kind=Payment.Kind.REFUND).exists()
    else:
        refund = Payment.objects.get(kind=Payment.Kind.REFUND)
        assert refund.amount in (Decimal("20.00"), Decimal("-20.00"))
        assert credit_balance(buyer) == Decimal("0")
    told = emails("could not set up")
    assert len(told) == 1 and "USD 20.00" in told[0].body
    # The one click is not repeatable.
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, {"confirm": "yes", "mode": mode})
    assert len(emails("could not set up")) == 1
    assert Product.objects.get(pk=vps_price.product_id).stock_quantity == 5

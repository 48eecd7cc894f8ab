"""Issue 13: the portal's subscription page, subscription list and service page say the same thing about a
subscription: the same next renewal, the service's status, a pay link when a renewal is due now, and
no "default payment method" that does not exist."""

import datetime as dt

import pytest
from django.urls import reverse

from core import clock
from core.billing.models import Invoice
from core.billing.services import methods
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from core.billing.services.payments import record_payment
from tests.factories import ServiceFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with clock.frozen_at(NOW):
        yield


@pytest.fixture
def subscription(customer, frozen):
    sub = SubscriptionFactory(
        customer=customer, current_period_start=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        current_period_end=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    sub.service = ServiceFactory(customer=customer, subscription=sub, product=sub.price.product)
    return sub


def renewal_invoice(sub, *, start, due):
    draft = create_draft_invoice(
        sub.customer, subscription=sub,
        lines=[{"description": "Renewal", "quantity": 1, "unit_amount": sub.amount, "subscription": sub}],
    )  # fmt: skip
    invoice = issue_invoice(draft, due_date=due, email=False)
    Invoice.objects.filter(pk=invoice.pk).update(renewal_period_start=start)
    invoice.refresh_from_db()
    return invoice


def pages(client, sub):
    detail = client.get(reverse("portal:subscription_detail", args=[sub.uuid]))
    service = client.get(reverse("portal:service_detail", args=[sub.service.uuid]))
    listing = client.get(reverse("portal:subscription_list"))
    assert detail.status_code == service.status_code == listing.status_code == 200
    return detail, service, listing


def test_a_renewal_paid_ahead_moves_the_next_renewal_on_both_pages(customer_client, subscription):
    invoice = renewal_invoice(subscription, start=subscription.current_period_end, due=dt.date(2026, 4, 1))
    record_payment(invoice, amount=invoice.total, gateway="sandbox", gateway_transaction_id="sbx_states_1")
    detail, service, listing = pages(customer_client, subscription)
    expected = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert detail.context["renewal"].date == service.context["next_due"] == expected
    assert listing.context["subscriptions"][0].renewal.date == expected
    from portal.templatetags.portal_ui import local_date

    shown = str(local_date(expected))
    assert shown in detail.content.decode() and shown in service.content.decode()


def test_a_renewal_due_now_offers_its_pay_link(customer_client, subscription):
    invoice = renewal_invoice(subscription, start=subscription.current_period_end, due=dt.date(2026, 3, 9))
    detail, service, listing = pages(customer_client, subscription)
    pay = reverse("portal:invoice_pay", args=[invoice.uuid])
    assert detail.context["renewal"].due_now and "due now" in detail.content.decode()
    assert pay in detail.content.decode() and pay in listing.content.decode()
    assert detail.context["renewal"].date == service.context["next_due"] == subscription.current_period_end


def test_the_subscription_page_shows_the_service_status_and_why(customer_client, subscription):
    type(subscription.service).objects.filter(pk=subscription.service.pk).update(
        status="suspended", suspension_reason="Unpaid invoice INV-2026-000001 (due 2026-03-01)"
    )
    detail, service, _ = pages(customer_client, subscription)
    page = detail.content.decode()
    assert "Suspended" in page and "Unpaid invoice INV-2026-000001" in page
    assert "Suspended" in service.content.decode()


def test_no_default_payment_method_is_claimed_when_none_exists(customer_client, subscription):
    listing = customer_client.get(reverse("portal:subscription_list")).content.decode()
    assert "Default payment method" not in listing and "No payment method yet" in listing
    methods.save_payment_method(subscription.customer, "sandbox", "4242424242424242")
    listing = customer_client.get(reverse("portal:subscription_list")).content.decode()
    assert "No payment method yet" not in listing and "(your default)" in listing

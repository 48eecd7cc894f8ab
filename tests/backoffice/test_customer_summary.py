"""The customer 360 summary: balances, credit, paid, MRR, services, last payment, next renewal, in bounded queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.customer_summary import customer_summary
from core.billing.models import CreditEntry, Invoice
from tests.backoffice.conftest import make_customer_world
from tests.factories import (
    CurrencyFactory,
    CustomerFactory,
    InvoiceFactory,
    PaymentFactory,
    PriceFactory,
    ServiceFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 15)


def _issued(customer, *, total, due, currency=None, paid="0.00", credit="0.00", status="issued", kind="invoice"):
    invoice = InvoiceFactory(customer=customer, currency=currency or customer.currency)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=status, kind=kind, total=Decimal(total), amount_paid=Decimal(paid), credit_applied=Decimal(credit),
        due_date=due, issue_date=due - dt.timedelta(days=7), number=f"INV-S-{invoice.pk}",
    )  # fmt: skip
    return invoice


@pytest.fixture
def customer():
    return CustomerFactory(currency=CurrencyFactory(code="USD"))


def test_open_balance_and_overdue_count_per_currency(customer):
    eur = CurrencyFactory(code="EUR")
    _issued(customer, total="100.00", paid="30.00", credit="5.00", due=TODAY - dt.timedelta(days=3))
    _issued(customer, total="20.00", due=TODAY + dt.timedelta(days=3))
    _issued(customer, total="50.00", due=TODAY - dt.timedelta(days=30), currency=eur)
    _issued(customer, total="999.00", due=TODAY - dt.timedelta(days=3), status="paid")
    _issued(customer, total="999.00", due=TODAY - dt.timedelta(days=3), status="void")
    _issued(CustomerFactory(currency=customer.currency), total="999.00", due=TODAY - dt.timedelta(days=3))

    summary = customer_summary(customer, today=TODAY)

    rows = [(b.currency.code, b.display, b.open_count, b.overdue_count) for b in summary.open_balances]
    assert rows == [("EUR", "EUR 50.00", 1, 1), ("USD", "USD 85.00", 2, 1)]
    assert summary.overdue_total == 2


def test_credit_and_lifetime_paid_count_refunds_and_chargebacks_against_payments(customer):
    CreditEntry.objects.create(customer=customer, currency=customer.currency, amount=Decimal("15.00"), reason="manual")
    CreditEntry.objects.create(customer=customer, currency=customer.currency, amount=Decimal("-5.00"), reason="applied")
    PaymentFactory(customer=customer, amount=Decimal("100.00"))
    PaymentFactory(customer=customer, amount=Decimal("50.00"))
    PaymentFactory(customer=customer, amount=Decimal("20.00"), kind="refund")
    PaymentFactory(customer=customer, amount=Decimal("10.00"), kind="chargeback")
    PaymentFactory(customer=customer, amount=Decimal("500.00"), status="failed")

    summary = customer_summary(customer, today=TODAY)

    assert summary.credit == ["USD 10.00"]
    assert summary.lifetime_paid == ["USD 120.00"]


def test_mrr_counts_active_and_past_due_plans_per_month(customer):
    SubscriptionFactory(customer=customer, price=PriceFactory(currency=customer.currency, amount=Decimal("10.00")))
    SubscriptionFactory(
        customer=customer, status="past_due",
        price=PriceFactory(currency=customer.currency, cycle="annual", amount=Decimal("120.00")),
    )  # fmt: skip
    SubscriptionFactory(customer=customer, status="cancelled", price=PriceFactory(currency=customer.currency))

    assert customer_summary(customer, today=TODAY).mrr == ["USD 20.00"]


def test_services_by_status_in_lifecycle_order(customer):
    ServiceFactory(customer=customer, status="suspended")
    ServiceFactory(customer=customer, status="active")
    ServiceFactory(customer=customer, status="active")
    ServiceFactory(status="active")

    summary = customer_summary(customer, today=TODAY)

    assert [(row["status"], row["count"]) for row in summary.services] == [("active", 2), ("suspended", 1)]
    assert summary.services[0]["text"] == "2 Active" and summary.service_total == 3


def test_last_payment_and_next_renewal(customer):
    now = dt.datetime(2026, 3, 15, 12, tzinfo=dt.UTC)
    PaymentFactory(customer=customer, amount=Decimal("11.00"), received_at=now - dt.timedelta(days=9))
    PaymentFactory(customer=customer, amount=Decimal("12.00"), received_at=now - dt.timedelta(days=2))
    PaymentFactory(customer=customer, amount=Decimal("12.00"), received_at=now, kind="refund")
    start = now - dt.timedelta(days=20)
    soon = SubscriptionFactory(
        customer=customer,
        current_period_start=start,
        current_period_end=now + dt.timedelta(days=3),
        cancel_at_period_end=True,
    )
    later = SubscriptionFactory(
        customer=customer, current_period_start=start, current_period_end=now + dt.timedelta(days=10)
    )
    SubscriptionFactory(customer=customer, current_period_start=start, current_period_end=now + dt.timedelta(days=20))
    assert soon.pk  # ends at period end: it does not renew

    summary = customer_summary(customer, today=TODAY)

    assert summary.last_payment["amount"] == "USD 12.00"
    assert summary.last_payment["date"] == now - dt.timedelta(days=2)
    assert summary.next_renewal["date"] == later.current_period_end
    assert summary.next_renewal["href"] == reverse("admin:billing_subscription_change", args=[later.pk])


def test_empty_customer_has_an_empty_summary(customer):
    summary = customer_summary(customer, today=TODAY)
    assert summary.open_balances == [] and summary.credit == [] and summary.lifetime_paid == []
    assert summary.mrr == [] and summary.services == [] and summary.last_payment is None
    assert summary.next_renewal is None


def test_customer_page_shows_the_summary_cards(staff_client, customer):
    _issued(customer, total="42.00", due=dt.date(2000, 1, 1))
    ServiceFactory(customer=customer, status="active")
    page = staff_client.get(reverse("admin:accounts_customer_change", args=[customer.pk])).content.decode()
    assert 'id="customer-summary"' in page
    for text in ("Open balance", "USD 42.00", "1 overdue", "Credit balance", "Paid to date", "MRR", "1 Active",
                 "Last payment", "Next renewal"):  # fmt: skip
        assert text in page, text


def test_summary_links_open_filtered_changelists(staff_client, customer):
    summary = customer_summary(customer, today=TODAY)
    for name, url in summary.links.items():
        response = staff_client.get(url)
        assert response.status_code == 200, name
        assert "?e=1" not in response.get("Location", ""), name


def _page_queries(client, customer) -> int:
    url = reverse("admin:accounts_customer_change", args=[customer.pk])
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_customer_page_queries_do_not_grow_with_invoices_and_services(staff_client, customer):
    make_customer_world(customer, index=0)
    make_customer_world(customer, index=1)
    _page_queries(staff_client, customer)  # warm per-process caches (content types, sessions)
    with_two = _page_queries(staff_client, customer)
    for index in range(2, 14):
        make_customer_world(customer, index=index)
    with_fourteen = _page_queries(staff_client, customer)
    assert with_fourteen == with_two, f"{with_two} queries with 2 worlds, {with_fourteen} with 14"


def test_summary_makes_seven_queries(customer, django_assert_num_queries):
    for index in range(3):
        make_customer_world(customer, index=index)
    with django_assert_num_queries(7):
        customer_summary(customer, today=TODAY)


def test_next_renewal_says_when_its_period_has_already_ended(customer):
    from core import clock

    now = dt.datetime(2026, 3, 15, 12, tzinfo=dt.UTC)
    SubscriptionFactory(
        customer=customer,
        current_period_start=now - dt.timedelta(days=30),
        current_period_end=now + dt.timedelta(days=1),
    )
    with clock.frozen_at(now):
        assert customer_summary(customer).next_renewal["is_late"] is False
    with clock.frozen_at(now + dt.timedelta(days=2)):
        assert customer_summary(customer).next_renewal["is_late"] is True

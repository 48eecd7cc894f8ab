"""Big admin lists (backoffice/admin/scale.py, cells.py): what staff see stays right while the lists
take the fast paths (range filters sort by their column, email search, cells without templates)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from backoffice.admin.cells import badge, header
from tests.factories import CustomerFactory, InvoiceFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db


def _issued(customer, number, *, issue_date, created_at, total="10.00"):
    return InvoiceFactory(customer=customer, number=number, status="issued", issue_date=issue_date,
                          due_date=issue_date + dt.timedelta(days=7), created_at=created_at,
                          issued_at=created_at, subtotal=Decimal(total), total=Decimal(total))  # fmt: skip


def _numbers(response):
    return [row.number for row in response.context["cl"].result_list]


def test_a_date_range_filter_lists_by_that_date_newest_first_unless_staff_sort(staff_client):
    customer = CustomerFactory()
    base = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    # Created in the opposite order of their issue dates (e.g. imported history).
    for i, number in enumerate(["INV-A", "INV-B", "INV-C"]):
        _issued(customer, number, issue_date=dt.date(2026, 3, 10 + i), created_at=base - dt.timedelta(days=i))
    _issued(customer, "INV-OUT", issue_date=dt.date(2026, 4, 20), created_at=base + dt.timedelta(days=50))
    url = reverse("admin:billing_invoice_changelist")
    in_march = {"issue_date_from": "2026-03-01", "issue_date_to": "2026-03-31"}
    assert _numbers(staff_client.get(url, in_march)) == ["INV-C", "INV-B", "INV-A"]
    assert _numbers(staff_client.get(url)) == ["INV-OUT", "INV-A", "INV-B", "INV-C"]  # default: newest created
    # A column the staff member sorted by wins (o=0: the invoice number column, ascending).
    assert _numbers(staff_client.get(url, {**in_march, "o": "0"})) == ["INV-A", "INV-B", "INV-C"]


def test_an_amount_range_filter_lists_largest_first(staff_client):
    customer = CustomerFactory()
    for amount in ("100.50", "100.10", "100.90", "250.00"):
        PaymentFactory(customer=customer, amount=Decimal(amount))
    response = staff_client.get(reverse("admin:billing_payment_changelist"), {"amount_from": "100", "amount_to": "101"})
    assert [p.amount for p in response.context["cl"].result_list] == [
        Decimal("100.90"), Decimal("100.50"), Decimal("100.10")
    ]  # fmt: skip


def test_search_by_email_finds_the_customers_invoices_and_not_a_company_named_alike(staff_client):
    alice = CustomerFactory(user=UserFactory(email="alice@shop.example"), company="Alice Ltd")
    lookalike = CustomerFactory(company="alice@shop.example reseller")
    day, at = dt.date(2026, 3, 1), dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    _issued(alice, "INV-ALICE", issue_date=day, created_at=at)
    _issued(lookalike, "INV-OTHER", issue_date=day, created_at=at)
    url = reverse("admin:billing_invoice_changelist")
    assert _numbers(staff_client.get(url, {"q": "alice@shop.example"})) == ["INV-ALICE"]
    assert _numbers(staff_client.get(url, {"q": "Alice L"})) == ["INV-ALICE"]  # company prefix
    assert _numbers(staff_client.get(url, {"q": "INV-OTH"})) == ["INV-OTHER"]  # number prefix
    customers = staff_client.get(reverse("admin:accounts_customer_changelist"), {"q": "alice@shop"})
    assert [c.pk for c in customers.context["cl"].result_list] == [alice.pk]


def test_list_cells_escape_what_customers_typed(staff_client):
    CustomerFactory(company="<script>alert(1)</script>")
    body = staff_client.get(reverse("admin:accounts_customer_changelist")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_cells_give_unfold_markup():
    cell = header("INV-1", "Invoice · Renewal")
    assert '<strong class="block font-normal">INV-1</strong>' in cell
    assert '<p class="text-base-500">Invoice · Renewal</p>' in cell
    assert "bg-red-100" in badge("overdue", "Overdue", {"overdue": "danger"})
    assert "bg-base-500/8" in badge("void", "Void", {"paid": "success"})  # no colour: grey
    assert badge("x", "", {}) == "-"


def test_a_list_page_leaves_out_deferred_columns_and_still_shows_the_row(staff_client):
    customer = CustomerFactory(company="Deferred Co")
    _issued(customer, "INV-D1", issue_date=dt.date(2026, 3, 1), created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    response = staff_client.get(reverse("admin:billing_invoice_changelist"))
    row = response.context["cl"].result_list[0]
    assert {"billing_details", "seller_details", "tax_breakdown", "notes"} <= row.get_deferred_fields()
    assert "INV-D1" in response.content.decode() and "Deferred Co" in response.content.decode()


def test_row_links_keep_the_lists_filters_and_rows_have_their_own_checkbox(staff_client):
    from tests.factories import ServiceFactory

    service = ServiceFactory(status="suspended")
    body = staff_client.get(reverse("admin:provisioning_service_changelist"), {"status__exact": "suspended"}).content
    change = reverse("admin:provisioning_service_change", args=[service.pk])
    assert f'href="{change}?_changelist_filters=status__exact%3Dsuspended"'.encode() in body
    assert f'name="_selected_action" value="{service.pk}"'.encode() in body

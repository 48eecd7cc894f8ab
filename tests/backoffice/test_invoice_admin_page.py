"""The invoice change page: totals with their currency, the tax breakdown as a table; the dashboard title."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from core.billing.models import Invoice
from tests.backoffice.conftest import issue_for_test
from tests.factories import CurrencyFactory, CustomerFactory, InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def eur_invoice():
    customer = CustomerFactory(currency=CurrencyFactory(code="EUR"))
    invoice = InvoiceFactory(customer=customer, currency=customer.currency)
    InvoiceLineFactory(invoice=invoice, tax_rate=Decimal("20.000"))
    issue_for_test(invoice, "INV-ADM-1")
    Invoice.objects.filter(pk=invoice.pk).update(
        subtotal=Decimal("1234.50"), tax_total=Decimal("250.33"), total=Decimal("1484.83"),
        amount_paid=Decimal("100.00"), credit_applied=Decimal("5.00"),
        tax_breakdown=[
            {"name": "VAT", "rate": "20.000", "base": "1234.50", "tax": "246.90"},
            {"name": "Reduced rate", "rate": "7.250", "base": "47.31", "tax": "3.43"},
        ],
    )  # fmt: skip
    return invoice


def _page(client, invoice) -> str:
    response = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_invoice_page_shows_money_with_its_currency(staff_client, eur_invoice):
    page = _page(staff_client, eur_invoice)
    for text in ("EUR 1,234.50", "EUR 250.33", "EUR 1,484.83", "EUR 100.00", "EUR 5.00", "EUR 1,379.83"):
        assert text in page, text


def test_invoice_page_shows_tax_breakdown_as_a_table_not_json(staff_client, eur_invoice):
    page = _page(staff_client, eur_invoice)
    assert "Taxable amount" in page and "Rate name" in page
    assert "20%" in page and "7.25%" in page and "EUR 246.90" in page and "EUR 47.31" in page
    assert '"rate": "20.000"' not in page and "&quot;rate&quot;" not in page


def test_draft_invoice_says_tax_is_calculated_at_issue(staff_client):
    draft = InvoiceFactory()
    InvoiceLineFactory(invoice=draft)
    assert "Calculated when the invoice is issued." in _page(staff_client, draft)


def test_dashboard_is_titled_dashboard(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "Site administration" not in page
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert " ".join(title.split()).startswith("Dashboard |"), title


def test_issued_invoice_lines_read_as_on_the_invoice(staff_client, eur_invoice):
    page = _page(staff_client, eur_invoice)
    assert "EUR 10.00" in page  # unit amount and amount of the line
    assert ">20%<" in "".join(page.split())
    assert "20.000" not in page and "10.0000" not in page and "1.0000" not in page


def test_draft_invoice_lines_stay_editable(staff_client):
    draft = InvoiceFactory()
    InvoiceLineFactory(invoice=draft)
    page = _page(staff_client, draft)
    assert 'name="lines-0-unit_amount"' in page and 'name="lines-0-tax_rate"' in page

"""Customers download their own invoice PDFs from the portal: issued, paid and void ones, never drafts or others'."""

from decimal import Decimal

import pytest
from django.urls import reverse

from core.billing.services.invoices import create_draft_invoice, void_invoice
from core.billing.services.payments import record_payment
from tests.payments.conftest import make_invoice

pytestmark = pytest.mark.django_db


def pdf_url(invoice):
    return reverse("portal:invoice_pdf", args=[invoice.uuid])


def _paid(customer):
    invoice = make_invoice(customer)
    record_payment(invoice, amount=invoice.total, gateway="sandbox", gateway_transaction_id="sbx_pdf_1")
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    return invoice


def _void(customer):
    return void_invoice(make_invoice(customer), reason="Ordered twice")


@pytest.mark.parametrize("make", [make_invoice, _paid, _void], ids=["issued", "paid", "void"])
def test_customer_downloads_own_invoice_pdf(customer_client, customer, make):
    invoice = make(customer)
    response = customer_client.get(pdf_url(invoice))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response.content.startswith(b"%PDF")


def test_another_customers_invoice_pdf_is_404(customer_client):
    other = make_invoice()
    assert customer_client.get(pdf_url(other)).status_code == 404


def test_draft_invoice_pdf_is_404(customer_client, customer):
    draft = create_draft_invoice(
        customer, lines=[{"description": "Not yet issued", "quantity": Decimal("1"), "unit_amount": Decimal("5")}]
    )
    assert customer_client.get(pdf_url(draft)).status_code == 404


def test_invoice_pdf_needs_a_login(client, customer):
    invoice = make_invoice(customer)
    response = client.get(pdf_url(invoice))
    assert response.status_code == 302 and reverse("portal:login") in response["Location"]


def test_invoice_list_and_detail_link_the_pdf(customer_client, customer):
    invoice = make_invoice(customer)
    link = f'href="{pdf_url(invoice)}"'
    assert link in customer_client.get(reverse("portal:invoice_list")).content.decode()
    assert link in customer_client.get(reverse("portal:invoice_detail", args=[invoice.uuid])).content.decode()

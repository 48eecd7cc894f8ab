"""Payment history, credit balance and ledger, refunds on the invoice: only the customer's own."""

from decimal import Decimal

import pytest
from django.urls import reverse

from core.billing.services import credit, payments
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from portal.templatetags.portal_ui import money
from tests.factories import CustomerFactory

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commits", "sandbox_portal")]


def _paid_invoice(customer, amount="30.00", ref="txn-1"):
    draft = create_draft_invoice(customer, lines=[{"description": "VPS 4 GB", "unit_amount": D(amount)}])
    invoice = issue_invoice(draft, email=False)
    payment = payments.record_payment(invoice, amount=invoice.amount_due, gateway="manual", gateway_transaction_id=ref)
    return invoice, payment


def test_history_lists_payments_and_refunds_newest_first(shopper_client, shopper):
    invoice, payment = _paid_invoice(shopper)
    payments.record_refund(payment, amount=D("10.00"), gateway_refund_id="re-1", reason="Goodwill")
    other_invoice, _ = _paid_invoice(CustomerFactory(currency=shopper.currency), ref="txn-other")
    body = shopper_client.get(reverse("portal:payment_history")).content.decode()
    assert invoice.number in body and other_invoice.number not in body
    assert "Refund" in body and f"−{money(D('10.00'), 'USD')}" in body
    assert body.index("Refund") < body.index(">Payment<")


def test_refund_is_shown_on_the_invoice(shopper_client, shopper):
    invoice, payment = _paid_invoice(shopper)
    payments.record_refund(payment, amount=D("10.00"), gateway_refund_id="re-1")
    body = shopper_client.get(reverse("portal:invoice_detail", args=[invoice.uuid])).content.decode()
    assert "Refund" in body and "Refunded" in body


def test_credit_balance_and_its_ledger(shopper_client, shopper):
    credit.add_credit(shopper, D("25.00"), reason="manual", description="Outage compensation")
    credit.add_credit(CustomerFactory(currency=shopper.currency), D("99.00"), reason="manual", description="Not mine")
    draft = create_draft_invoice(shopper, lines=[{"description": "Renewal", "unit_amount": D("10.00")}])
    invoice = issue_invoice(draft, email=False)
    credit.apply_credit(invoice)
    body = shopper_client.get(reverse("portal:credit_ledger")).content.decode()
    assert f'data-testid="credit-balance">{money(D("15.00"), "USD")}' in body
    assert "Outage compensation" in body and "Applied to invoice" in body and invoice.number in body
    assert "Not mine" not in body


def test_history_pages_make_a_fixed_number_of_queries(shopper_client, shopper, django_assert_max_num_queries):
    for n in range(8):
        _paid_invoice(shopper, ref=f"txn-{n}")
        credit.add_credit(shopper, D("1.00"), reason="manual")
    with django_assert_max_num_queries(12):
        assert shopper_client.get(reverse("portal:payment_history")).status_code == 200
    with django_assert_max_num_queries(12):
        assert shopper_client.get(reverse("portal:credit_ledger")).status_code == 200

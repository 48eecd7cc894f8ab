"""Contacts flagged "receives invoices" get every invoice email (with its PDF), each once."""

from decimal import Decimal

import pytest
from django.core import mail

from core.accounts.models import Contact
from core.billing.services.invoices import create_draft_invoice, issue_invoice, queue_invoice_email
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_invoice_email_goes_to_the_account_and_each_invoice_contact_once(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    Contact.objects.create(customer=customer, name="Accounts", email="ap@northwind.example", receives_invoices=True)
    Contact.objects.create(customer=customer, name="CTO", email="cto@northwind.example", receives_invoices=False)
    draft = create_draft_invoice(customer, lines=[{"description": "VPS S", "unit_amount": Decimal("10.00")}])
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue_invoice(draft)
    with django_capture_on_commit_callbacks(execute=True):
        queue_invoice_email(invoice)  # a second queue (a retried task) sends nothing more
    assert sorted(m.to[0] for m in mail.outbox) == sorted([customer.email, "ap@northwind.example"])
    for message in mail.outbox:
        assert invoice.number in message.subject
        assert [a[0] for a in message.attachments] == [f"{invoice.number}.pdf"]

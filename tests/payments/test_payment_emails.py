"""The customer emails payments trigger render and point at the portal page that fixes the problem."""

import pytest
from django.core import mail
from django.urls import reverse

from core.billing.services import methods
from core.billing.services.dunning import charge_invoice
from tests.payments.conftest import make_invoice

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("card", "subject"),
    [
        ("4000000000000002", "Payment failed"),
        ("4000002500003155", "Please confirm the payment"),
        ("4242424242424242", "Payment received"),
    ],
)
def test_billing_run_outcome_emails_the_customer_with_the_pay_link(
    customer, card, subject, django_capture_on_commit_callbacks
):
    invoice = make_invoice(customer)
    methods.save_payment_method(customer, "sandbox", card)
    with django_capture_on_commit_callbacks(execute=True):
        charge_invoice(invoice)
    sent = [m for m in mail.outbox if m.subject.startswith(subject)]
    assert len(sent) == 1 and sent[0].to == [customer.email]
    if subject != "Payment received":
        assert reverse("portal:invoice_pay", args=[invoice.uuid]) in sent[0].body

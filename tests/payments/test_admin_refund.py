"""The Payment admin's Refund action goes through the gateway and records the refund once."""

from decimal import Decimal

import pytest
from django.urls import reverse

from core.billing.models import Payment
from core.billing.services import methods
from tests.payments.conftest import load

pytestmark = pytest.mark.django_db


def refund_url(payment):
    return reverse("admin:billing_payment_refund_payment_action", args=[payment.pk])


def test_partial_stripe_refund_from_the_admin(staff_client, invoice, stripe_api):
    from core.billing.services.payments import record_payment

    payment = record_payment(
        invoice, amount=invoice.total, gateway="stripe", gateway_transaction_id="pi_3QabcDEFghiJKL0a1b2c3d4e"
    )
    stripe_api.post("/v1/refunds").respond(200, json=load("stripe/refund.json", payment_uuid=payment.uuid))

    form = staff_client.get(refund_url(payment))
    assert form.status_code == 200
    response = staff_client.post(
        refund_url(payment), {"amount": "10.00", "reason": "Goodwill", "_form_submitted": "on"}
    )
    assert response.status_code == 302
    refund = Payment.objects.get(kind=Payment.Kind.REFUND)
    assert refund.amount == Decimal("10.00") and refund.gateway_transaction_id == "re_3QabcDEFghiJKL0a1refund1"
    invoice.refresh_from_db()
    assert invoice.amount_refunded == Decimal("10.00")


def test_refund_above_what_is_left_is_refused_with_a_message(staff_client, customer):
    from core.billing.services.payments import record_payment
    from tests.payments.conftest import make_invoice

    invoice = make_invoice(customer)
    method = methods.save_payment_method(customer, "sandbox", "4242424242424242")
    payment = record_payment(
        invoice, amount=invoice.total, gateway="sandbox", gateway_transaction_id="sbx_pi_x", payment_method=method
    )
    response = staff_client.post(refund_url(payment), {"amount": "99.00", "_form_submitted": "on"}, follow=True)
    assert "can be refunded" in response.content.decode()
    assert not Payment.objects.filter(kind=Payment.Kind.REFUND).exists()

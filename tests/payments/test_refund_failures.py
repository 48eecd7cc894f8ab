"""A Stripe refund we booked that fails afterwards (refund.failed / charge.refund.updated status failed)."""

from decimal import Decimal

import pytest

from core.billing.models import Invoice, Payment, WebhookEvent
from core.billing.services.payments import record_payment, record_refund, refundable_amount, reverse_failed_refund
from core.notifications.models import Notification
from tests.payments.test_stripe_webhooks import PI_ID, deliver

pytestmark = pytest.mark.django_db
REFUND_ID = "re_3QabcDEFghiJKL0a1refund1"


@pytest.fixture
def booked_refund(invoice):
    payment = record_payment(invoice, amount=invoice.total, gateway="stripe", gateway_transaction_id=PI_ID)
    # What refund_payment books when Stripe accepts the refund (pending or succeeded).
    return record_refund(payment, amount=Decimal("10.00"), gateway_refund_id=REFUND_ID, reason="Goodwill")


def refund_alerts():
    return Notification.objects.filter(channel="discord", subject__startswith="Refund failed")


@pytest.mark.parametrize("payload", ["event_refund_failed.json", "event_charge_refund_updated_failed.json"])
def test_failed_refund_is_taken_off_the_invoice_and_staff_are_alerted(client, invoice, booked_refund, payload):
    assert Invoice.objects.get(pk=invoice.pk).amount_refunded == Decimal("10.00")
    response = deliver(client, payload, invoice, payment_uuid=booked_refund.original_payment.uuid)

    assert response.status_code == 200
    refund = Payment.objects.get(pk=booked_refund.pk)
    assert refund.status == Payment.Status.FAILED and refund.failure_code == "refund_failed"
    assert "card" in refund.failure_reason
    assert Invoice.objects.get(pk=invoice.pk).amount_refunded == Decimal("0.00")
    # The money never left, so the whole payment can be refunded again.
    assert refundable_amount(refund.original_payment) == Decimal("23.80")
    assert refund_alerts().count() == 1


def test_both_failure_events_for_one_refund_reverse_it_once(client, invoice, booked_refund):
    uuid = booked_refund.original_payment.uuid
    for _ in range(3):
        deliver(client, "event_refund_failed.json", invoice, payment_uuid=uuid)
    deliver(client, "event_charge_refund_updated_failed.json", invoice, payment_uuid=uuid)

    assert Invoice.objects.get(pk=invoice.pk).amount_refunded == Decimal("0.00")
    assert Payment.objects.filter(kind=Payment.Kind.REFUND).count() == 1
    assert refund_alerts().count() == 1
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count() == 0


def test_failure_of_a_refund_we_never_booked_changes_nothing(client, invoice):
    payment = record_payment(invoice, amount=invoice.total, gateway="stripe", gateway_transaction_id=PI_ID)
    deliver(client, "event_refund_failed.json", invoice, payment_uuid=payment.uuid)

    assert not Payment.objects.filter(kind=Payment.Kind.REFUND).exists()
    assert Invoice.objects.get(pk=invoice.pk).amount_refunded == Decimal("0.00")
    assert WebhookEvent.objects.get(event_id="evt_3QreFAILED0000001").status == WebhookEvent.Status.IGNORED


def test_reverse_failed_refund_is_idempotent_and_refuses_payments(invoice, booked_refund):
    reverse_failed_refund(booked_refund, reason="card closed")
    reverse_failed_refund(booked_refund, reason="card closed")
    assert Invoice.objects.get(pk=invoice.pk).amount_refunded == Decimal("0.00")
    from core.billing.errors import PaymentError

    with pytest.raises(PaymentError):
        reverse_failed_refund(booked_refund.original_payment, reason="not a refund")

"""PayPal reversals (PAYMENT.CAPTURE.REVERSED, PAYMENT.SALE.REVERSED) are chargebacks, recorded once, with an alert."""

from decimal import Decimal

import pytest

from core.billing.models import Invoice, Payment, WebhookEvent
from core.notifications.models import Notification
from tests.factories import SubscriptionFactory
from tests.payments.conftest import load, make_invoice
from tests.payments.test_paypal import deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified(paypal):
    paypal.post("/v1/notifications/verify-webhook-signature").respond(200, json=load("paypal/verify_success.json"))
    return paypal


def reversal_alerts():
    return Notification.objects.filter(channel="discord", subject__startswith="Payment reversed by paypal")


@pytest.mark.parametrize(
    ("payload", "reversal_id"),
    [
        ("event_capture_reversed.json", "3C679366HH908993F:reversed"),
        ("event_capture_reversed_refund_shape.json", "8BA12365VX3408431"),
    ],
    ids=["capture-with-status-reversed", "refund-object-pointing-at-capture"],
)
def test_capture_reversal_records_one_chargeback_and_alerts_staff(client, verified, invoice, payload, reversal_id):
    subs = {"invoice_uuid": invoice.uuid, "invoice_number": invoice.number}
    deliver(client, "event_capture_completed.json", **subs)
    for _ in range(3):
        assert deliver(client, payload, **subs).status_code == 200

    chargeback = Payment.objects.get(kind=Payment.Kind.CHARGEBACK)
    assert chargeback.gateway_transaction_id == reversal_id
    assert chargeback.amount == Decimal("23.80")
    assert chargeback.original_payment.gateway_transaction_id == "3C679366HH908993F"
    assert Invoice.objects.get(pk=invoice.pk).amount_refunded == Decimal("23.80")
    assert reversal_alerts().count() == 1


def test_sale_reversal_on_a_renewal_records_the_chargeback_of_the_sale(client, verified):
    sub = SubscriptionFactory(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
    renewal = make_invoice(sub.customer, amount=Decimal("20.00"))
    Invoice.objects.filter(pk=renewal.pk).update(subscription=sub, purpose="renewal")
    deliver(client, "event_sale_completed.json", subscription_uuid=sub.uuid, sale_time="2026-11-26T10:00:00Z")
    deliver(client, "event_sale_reversed.json")
    deliver(client, "event_sale_reversed.json")

    chargeback = Payment.objects.get(kind=Payment.Kind.CHARGEBACK)
    # The reversal carries a negative total: it is recorded as a positive chargeback of the sale.
    assert (chargeback.amount, chargeback.gateway_transaction_id) == (Decimal("20.00"), "2RM38916KF4403013")
    assert chargeback.original_payment.gateway_transaction_id == "80021663DE681814L"
    assert reversal_alerts().count() == 1


def test_reversal_before_its_payment_is_retried_then_recorded(client, verified, invoice):
    subs = {"invoice_uuid": invoice.uuid, "invoice_number": invoice.number}
    deliver(client, "event_capture_reversed.json", **subs)
    event = WebhookEvent.objects.get(event_type="PAYMENT.CAPTURE.REVERSED")
    assert event.status == WebhookEvent.Status.FAILED and not Payment.objects.exists()

    deliver(client, "event_capture_completed.json", **subs)
    deliver(client, "event_capture_reversed.json", **subs)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert Payment.objects.filter(kind=Payment.Kind.CHARGEBACK).count() == 1


def test_reversal_after_a_partial_refund_takes_back_only_what_is_left(client, verified, invoice):
    subs = {"invoice_uuid": invoice.uuid, "invoice_number": invoice.number}
    deliver(client, "event_capture_completed.json", **subs)
    deliver(client, "event_capture_refunded.json", **subs)  # 5.00 refunded
    deliver(client, "event_capture_reversed.json", **subs)

    assert Payment.objects.get(kind=Payment.Kind.CHARGEBACK).amount == Decimal("18.80")
    assert Invoice.objects.get(pk=invoice.pk).amount_refunded == Decimal("23.80")

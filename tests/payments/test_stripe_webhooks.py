"""POST /webhooks/stripe/: signature, store-once, process-once, any order."""

import hashlib
import hmac
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from core.billing.models import Invoice, Payment, WebhookEvent
from core.notifications.models import Notification
from tests.payments.conftest import STRIPE_WEBHOOK_SECRET, load, load_text, make_invoice

PI_ID = "pi_3QabcDEFghiJKL0a1b2c3d4e"


def signature(body: bytes, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    t = int(timestamp if timestamp is not None else time.time())
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def deliver(client, name: str, invoice, *, secret=STRIPE_WEBHOOK_SECRET, timestamp=None, header=True, **subs):
    body = load_text(f"stripe/{name}", invoice_uuid=invoice.uuid, invoice_number=invoice.number, **subs).encode()
    extra = {"HTTP_STRIPE_SIGNATURE": signature(body, secret, timestamp)} if header else {}
    return client.post("/webhooks/stripe/", data=body, content_type="application/json", **extra)


def paid(invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


@pytest.mark.django_db
class TestSignature:
    def test_valid_signature_records_the_payment_and_marks_the_invoice_paid(self, client, invoice):
        response = deliver(client, "event_payment_intent_succeeded.json", invoice)
        assert response.status_code == 200
        payment = Payment.objects.get(gateway="stripe", gateway_transaction_id=PI_ID)
        assert payment.amount == Decimal("23.80") and payment.status == Payment.Status.SUCCEEDED
        assert paid(invoice).status == Invoice.Status.PAID
        event = WebhookEvent.objects.get(gateway="stripe", event_id="evt_3QpiSUCCEEDED0001")
        assert event.status == WebhookEvent.Status.PROCESSED and event.attempts == 1

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"secret": "whsec_wrong"},
            {"header": False},
            {"seconds_from_now": -3600},
            {"seconds_from_now": 3600},
            {"seconds_from_now": 330},
        ],
        ids=["wrong-secret", "missing-header", "too-old", "far-future", "six-minutes-ahead"],
    )
    def test_bad_or_missing_signature_is_400_and_records_nothing(self, client, invoice, kwargs):
        if "seconds_from_now" in kwargs:  # relative to when the test runs, not when it was collected
            kwargs = {"timestamp": int(time.time()) + kwargs["seconds_from_now"]}
        response = deliver(client, "event_payment_intent_succeeded.json", invoice, **kwargs)
        assert response.status_code == 400
        assert not WebhookEvent.objects.exists()
        assert not Payment.objects.exists()

    def test_a_timestamp_a_little_ahead_is_accepted(self, client, invoice):
        response = deliver(client, "event_payment_intent_succeeded.json", invoice, timestamp=int(time.time()) + 120)
        assert response.status_code == 200

    def test_tampered_body_is_refused(self, client, invoice):
        body = load_text(
            "stripe/event_payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number="X"
        ).encode()
        header = signature(body)
        response = client.post(
            "/webhooks/stripe/", data=body.replace(b"2380", b"9380"), content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )  # fmt: skip
        assert response.status_code == 400 and not Payment.objects.exists()


@pytest.mark.django_db
class TestExactlyOnce:
    def test_ten_deliveries_of_the_same_event_record_one_payment(
        self, client, invoice, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(10):
                assert deliver(client, "event_payment_intent_succeeded.json", invoice).status_code == 200
        assert Payment.objects.filter(gateway="stripe").count() == 1
        assert WebhookEvent.objects.count() == 1
        # one receipt, not ten
        assert Notification.objects.filter(event="payment_receipt").count() == 1

    def test_charge_succeeded_and_payment_intent_succeeded_are_one_payment(self, client, invoice):
        deliver(client, "event_charge_succeeded.json", invoice)
        deliver(client, "event_payment_intent_succeeded.json", invoice)
        payments = Payment.objects.filter(gateway="stripe", kind=Payment.Kind.PAYMENT)
        assert [p.gateway_transaction_id for p in payments] == [PI_ID]
        assert paid(invoice).amount_paid == Decimal("23.80")
        assert WebhookEvent.objects.count() == 2


@pytest.mark.django_db
class TestOrder:
    def test_refund_before_succeeded_ends_paid_and_partly_refunded(self, client, invoice, stripe_api):
        stripe_api.get("/v1/refunds").respond(
            200,
            json={
                "object": "list",
                "url": "/v1/refunds",
                "has_more": False,
                "data": [load("stripe/refund.json", payment_uuid="x")],
            },
        )
        assert deliver(client, "event_charge_refunded.json", invoice).status_code == 200
        assert deliver(client, "event_payment_intent_succeeded.json", invoice).status_code == 200

        payment = Payment.objects.get(gateway_transaction_id=PI_ID)
        refund = Payment.objects.get(kind=Payment.Kind.REFUND)
        assert refund.original_payment == payment and refund.amount == Decimal("10.00")
        assert refund.gateway_transaction_id == "re_3QabcDEFghiJKL0a1refund1"
        invoice = paid(invoice)
        assert invoice.status == Invoice.Status.PAID and invoice.amount_refunded == Decimal("10.00")

    def test_refund_event_without_its_payment_is_retried_later(self, client, invoice):
        first = deliver(client, "event_refund_updated.json", invoice, payment_uuid="x")
        assert first.status_code == 500  # Stripe will redeliver
        assert WebhookEvent.objects.get(event_id="evt_3QreUPDATED000001").status == WebhookEvent.Status.FAILED
        deliver(client, "event_payment_intent_succeeded.json", invoice)
        second = deliver(client, "event_refund_updated.json", invoice, payment_uuid="x")
        assert second.status_code == 200
        assert Payment.objects.filter(kind=Payment.Kind.REFUND).count() == 1
        event = WebhookEvent.objects.get(event_id="evt_3QreUPDATED000001")
        assert event.status == WebhookEvent.Status.PROCESSED and event.attempts == 2

    def test_dashboard_refund_reported_twice_is_recorded_once(self, client, invoice, stripe_api):
        stripe_api.get("/v1/refunds").respond(
            200,
            json={
                "object": "list",
                "url": "/v1/refunds",
                "has_more": False,
                "data": [load("stripe/refund.json", payment_uuid="x")],
            },
        )
        deliver(client, "event_payment_intent_succeeded.json", invoice)
        deliver(client, "event_refund_updated.json", invoice, payment_uuid="x")
        deliver(client, "event_charge_refunded.json", invoice)
        assert Payment.objects.filter(kind=Payment.Kind.REFUND).count() == 1

    def test_payment_failed_after_succeeded_leaves_the_invoice_paid(self, client, invoice):
        deliver(client, "event_payment_intent_succeeded.json", invoice)
        assert deliver(client, "event_payment_intent_payment_failed.json", invoice).status_code == 200
        invoice = paid(invoice)
        assert invoice.status == Invoice.Status.PAID
        assert not Payment.objects.filter(status=Payment.Status.FAILED).exists()

    def test_payment_failed_then_succeeded_records_both_and_ends_paid(self, client, invoice):
        deliver(client, "event_payment_intent_payment_failed.json", invoice)
        failed = Payment.objects.get(status=Payment.Status.FAILED)
        assert failed.gateway_transaction_id == "ch_3QfailedCHARGE000000001"
        assert failed.failure_code == "generic_decline"
        assert paid(invoice).status == Invoice.Status.ISSUED
        deliver(client, "event_payment_intent_succeeded.json", invoice)
        assert paid(invoice).status == Invoice.Status.PAID


@pytest.mark.django_db
class TestDisputes:
    def test_dispute_marks_the_payment_and_alerts_staff(self, client, invoice, django_capture_on_commit_callbacks):
        deliver(client, "event_payment_intent_succeeded.json", invoice)
        deliver(client, "event_charge_dispute_created.json", invoice)
        assert Payment.objects.get(gateway_transaction_id=PI_ID).is_disputed
        assert Notification.objects.filter(channel="discord", subject__startswith="Dispute opened").exists()

    def test_lost_dispute_records_a_chargeback_once(self, client, invoice):
        deliver(client, "event_payment_intent_succeeded.json", invoice)
        deliver(client, "event_charge_dispute_created.json", invoice)
        deliver(client, "event_charge_dispute_closed_lost.json", invoice)
        deliver(client, "event_charge_dispute_closed_lost.json", invoice)
        chargeback = Payment.objects.get(kind=Payment.Kind.CHARGEBACK)
        assert (
            chargeback.amount == Decimal("23.80") and chargeback.gateway_transaction_id == "dp_1QdisputeABC0000000001"
        )


def test_unknown_event_types_are_stored_and_ignored(client, db, invoice):
    body = b'{"id": "evt_1Other", "object": "event", "type": "customer.updated", "created": 1795600000, "data": {"object": {"id": "cus_1", "object": "customer"}}}'
    response = client.post(
        "/webhooks/stripe/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature(body)
    )
    assert response.status_code == 200
    assert WebhookEvent.objects.get(event_id="evt_1Other").status == WebhookEvent.Status.IGNORED


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_deliveries_record_one_payment_and_pay_the_invoice_once():
    invoice = make_invoice()
    body = load_text(
        "stripe/event_payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number
    ).encode()
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def post():
        try:
            barrier.wait()
            response = Client().post(
                "/webhooks/stripe/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature(body)
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 10
    assert Payment.objects.filter(gateway="stripe", gateway_transaction_id=PI_ID).count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == Decimal("23.80")
    assert WebhookEvent.objects.get(event_id="evt_3QpiSUCCEEDED0001").attempts == 1
    from core.audit.models import AuditLog

    assert AuditLog.objects.filter(action="invoice.paid", object_id=str(invoice.pk)).count() == 1

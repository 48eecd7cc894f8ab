"""PayPal: token cache, Orders v2, Subscriptions v1, webhook postback verification (respx, recorded shapes)."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import respx

from core import clock
from core.billing.gateways import ChargeStatus
from core.billing.models import Invoice, Payment, WebhookEvent
from core.billing.services import methods
from core.billing.services.payments import record_payment
from integrations.payments.paypal.gateway import PayPalGateway
from tests.factories import SubscriptionFactory
from tests.payments.conftest import load, load_text, make_invoice

pytestmark = pytest.mark.django_db
BASE = "https://api-m.sandbox.paypal.com"
HEADERS = {
    "HTTP_PAYPAL_AUTH_ALGO": "SHA256withRSA",
    "HTTP_PAYPAL_CERT_URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
    "HTTP_PAYPAL_TRANSMISSION_ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
    "HTTP_PAYPAL_TRANSMISSION_SIG": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9VFNqOa48gMkvF+XTpxBeUx/kWy6B5cp7GkT2+pOowfRK7OaynuxUoKW3JcMWw272VKjLTtTAShncla7tGF+55rxyt2KNZIIqxNMJ48RDZheGU5w1npu9dZHnPgTXB9iomeVRoD8O/jhRpnKsGrDschyNdkeh81BJJMH4Ctc6lnCCquoP/GzCzz33MMsNdid7vL/NIWaCsekQpW26FpWPi/tfj8nLA==",
    "HTTP_PAYPAL_TRANSMISSION_TIME": "2026-11-26T07:11:06Z",
}


def deliver(client, name, **subs):
    body = load_text(f"paypal/{name}", **subs).encode()
    return client.post("/webhooks/paypal/", data=body, content_type="application/json", **HEADERS)


def test_token_is_fetched_once_and_reused_until_expiry(paypal, invoice):
    paypal.post("/v2/checkout/orders").respond(201, json=load("paypal/order_created.json"))
    gateway = PayPalGateway()
    gateway.charge_invoice(invoice, amount=invoice.total, method_id=None, attempt=100, off_session=False)
    gateway.charge_invoice(invoice, amount=invoice.total, method_id=None, attempt=101, off_session=False)
    token = paypal.routes[0]
    assert token.call_count == 1
    assert token.calls.last.request.headers["Authorization"].startswith("Basic ")
    assert paypal.routes[1].calls.last.request.headers["Authorization"] == "Bearer A21AAExampleAccessToken0123456789"


def test_expired_token_is_refreshed_once_on_401(paypal, invoice):
    paypal.post("/v2/checkout/orders").mock(
        side_effect=[
            respx.MockResponse(
                401, json={"error": "invalid_token", "error_description": "Token signature verification failed"}
            ),
            respx.MockResponse(201, json=load("paypal/order_created.json")),
        ]
    )
    result = PayPalGateway().charge_invoice(
        invoice, amount=invoice.total, method_id=None, attempt=100, off_session=False
    )
    assert result.status == ChargeStatus.REQUIRES_ACTION
    assert paypal.routes[0].call_count == 2


def test_live_mode_uses_the_live_base_url(settings):
    settings.PAYPAL_MODE = "live"
    assert PayPalGateway().client.base_url == "https://api-m.paypal.com"


def test_order_carries_invoice_uuid_and_amount_and_returns_the_approval_link(paypal, invoice):
    route = paypal.post("/v2/checkout/orders").respond(201, json=load("paypal/order_created.json"))
    result = PayPalGateway().charge_invoice(
        invoice, amount=invoice.total, method_id=None, attempt=100, off_session=False
    )

    assert result.status == ChargeStatus.REQUIRES_ACTION
    assert result.action_url == "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T"
    request = route.calls.last.request
    unit = json.loads(request.content)["purchase_units"][0]
    assert unit["custom_id"] == str(invoice.uuid)
    assert unit["amount"] == {"currency_code": "USD", "value": "23.80"}
    assert request.headers["PayPal-Request-Id"] == f"inv-{invoice.uuid}-100"


def test_approved_order_is_captured_once_and_reported_with_the_capture_id(paypal, invoice):
    subs = {"invoice_uuid": invoice.uuid, "invoice_number": invoice.number}
    paypal.get("/v2/checkout/orders/5O190127TN364715T").respond(200, json=load("paypal/order_approved.json", **subs))
    capture = paypal.post("/v2/checkout/orders/5O190127TN364715T/capture").respond(
        201, json=load("paypal/order_captured.json", **subs)
    )
    result = PayPalGateway().confirm_payment(invoice, "5O190127TN364715T")

    assert result.status == ChargeStatus.SUCCEEDED
    assert (result.transaction_id, result.amount) == ("3C679366HH908993F", Decimal("23.80"))
    assert capture.calls.last.request.headers["PayPal-Request-Id"] == "capture-5O190127TN364715T"


def test_an_order_for_another_invoice_is_refused(paypal, invoice):
    other = make_invoice()
    paypal.get("/v2/checkout/orders/5O190127TN364715T").respond(
        200, json=load("paypal/order_approved.json", invoice_uuid=other.uuid, invoice_number=other.number)
    )
    from core.billing.gateways import GatewayError

    with pytest.raises(GatewayError):
        PayPalGateway().confirm_payment(invoice, "5O190127TN364715T")


def test_capture_refund_posts_the_amount_with_a_request_id(paypal, invoice):
    payment = record_payment(
        invoice, amount=invoice.total, gateway="paypal", gateway_transaction_id="3C679366HH908993F"
    )
    route = paypal.post("/v2/payments/captures/3C679366HH908993F/refund").respond(
        201, json=load("paypal/refund_capture.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number)
    )
    result = PayPalGateway().refund(payment, amount=Decimal("5.00"), reason="Goodwill")
    assert result.status == ChargeStatus.SUCCEEDED and result.refund_id == "1JU08902781691411"
    assert json.loads(route.calls.last.request.content)["amount"] == {"value": "5.00", "currency_code": "USD"}


class TestWebhooks:
    def test_verified_capture_completed_pays_the_invoice_once(self, client, paypal, invoice):
        verify = paypal.post("/v1/notifications/verify-webhook-signature").respond(
            200, json=load("paypal/verify_success.json")
        )
        for _ in range(3):
            assert (
                deliver(
                    client, "event_capture_completed.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number
                ).status_code
                == 200
            )
        sent = json.loads(verify.calls.last.request.content)
        assert sent["webhook_id"] == "1JE4291016473214C"
        assert sent["transmission_id"] == "69cd13f0-d67a-11e5-baa3-778b53f4ae55"
        assert sent["webhook_event"]["id"] == "WH-2WR32451HC0233532-67976317FL4543714"
        assert Payment.objects.filter(gateway="paypal").count() == 1
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID

    def test_http_200_with_failure_status_is_refused(self, client, paypal, invoice):
        paypal.post("/v1/notifications/verify-webhook-signature").respond(200, json=load("paypal/verify_failure.json"))
        response = deliver(
            client, "event_capture_completed.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number
        )
        assert response.status_code == 400
        assert not WebhookEvent.objects.exists() and not Payment.objects.exists()

    def test_missing_transmission_headers_are_refused_before_any_call(self, client, paypal, invoice):
        body = load_text(
            "paypal/event_capture_completed.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number
        )
        headers = {k: v for k, v in HEADERS.items() if k != "HTTP_PAYPAL_TRANSMISSION_SIG"}
        response = client.post("/webhooks/paypal/", data=body, content_type="application/json", **headers)
        assert response.status_code == 400
        assert all(route.call_count == 0 for route in paypal.routes)

    def test_capture_refunded_records_a_refund_against_the_capture(self, client, paypal, invoice):
        paypal.post("/v1/notifications/verify-webhook-signature").respond(200, json=load("paypal/verify_success.json"))
        subs = {"invoice_uuid": invoice.uuid, "invoice_number": invoice.number}
        deliver(client, "event_capture_completed.json", **subs)
        deliver(client, "event_capture_refunded.json", **subs)
        refund = Payment.objects.get(kind=Payment.Kind.REFUND)
        assert (
            refund.amount == Decimal("5.00") and refund.original_payment.gateway_transaction_id == "3C679366HH908993F"
        )

    def test_capture_denied_records_a_failed_attempt(self, client, paypal, invoice):
        paypal.post("/v1/notifications/verify-webhook-signature").respond(200, json=load("paypal/verify_success.json"))
        deliver(client, "event_capture_denied.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number)
        failed = Payment.objects.get(status=Payment.Status.FAILED)
        assert failed.failure_code == "denied"
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED


class TestSubscriptions:
    def test_plan_is_created_once_per_price_and_remembered(self, paypal):
        sub = SubscriptionFactory()
        product = paypal.post("/v1/catalogs/products").respond(201, json=load("paypal/product_created.json"))
        plan = paypal.post("/v1/billing/plans").respond(201, json=load("paypal/plan_created.json"))
        gateway = PayPalGateway()
        assert gateway.ensure_plan(sub.price) == "P-17M15335A8501272JLXLLNKI"
        assert gateway.ensure_plan(sub.price) == "P-17M15335A8501272JLXLLNKI"
        assert product.call_count == 1 and plan.call_count == 1
        sub.price.refresh_from_db()
        assert sub.price.paypal_plan_id == "P-17M15335A8501272JLXLLNKI"
        cycle = json.loads(plan.calls.last.request.content)["billing_cycles"][0]
        assert cycle["frequency"] == {"interval_unit": "MONTH", "interval_count": 1}
        assert cycle["pricing_scheme"]["fixed_price"] == {"value": "20.00", "currency_code": "USD"}

    def test_approval_then_activation_makes_the_paypal_subscription_pay_renewals(self, paypal):
        sub = SubscriptionFactory(price__paypal_plan_id="P-17M15335A8501272JLXLLNKI")
        paypal.post("/v1/billing/subscriptions").respond(201, json=load("paypal/subscription_created.json"))
        paypal.get("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(
            200, json=load("paypal/subscription_active.json", subscription_uuid=sub.uuid)
        )
        session = methods.begin_gateway_subscription(
            sub, "paypal", return_url="https://x/ok", cancel_url="https://x/no"
        )
        assert session.redirect_url.startswith("https://www.sandbox.paypal.com/webapps/billing/subscriptions")
        method = methods.activate_gateway_subscription(sub, "paypal", session.reference)
        sub.refresh_from_db()
        assert (sub.gateway, sub.gateway_subscription_id, sub.payment_method) == ("paypal", "I-BW452GLLEP1G", method)

    def test_suspend_and_cancel_send_a_reason(self, paypal):
        sub = SubscriptionFactory(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
        suspend = paypal.post("/v1/billing/subscriptions/I-BW452GLLEP1G/suspend").respond(204)
        cancel = paypal.post("/v1/billing/subscriptions/I-BW452GLLEP1G/cancel").respond(204)
        methods.suspend_gateway_subscription(sub, reason="Service suspended")
        methods.cancel_gateway_subscription(sub, reason="Customer cancelled")
        assert json.loads(suspend.calls.last.request.content) == {"reason": "Service suspended"}
        assert json.loads(cancel.calls.last.request.content) == {"reason": "Customer cancelled"}
        sub.refresh_from_db()
        assert sub.gateway_subscription_id == ""

    def test_revise_moves_to_the_new_prices_plan(self, paypal):
        sub = SubscriptionFactory(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
        new_price = SubscriptionFactory(price__paypal_plan_id="P-NEWPLAN0000000000000000").price
        revise = paypal.post("/v1/billing/subscriptions/I-BW452GLLEP1G/revise").respond(
            200,
            json={
                "plan_id": "P-NEWPLAN0000000000000000",
                "links": [
                    {
                        "href": "https://www.sandbox.paypal.com/webapps/billing/subscriptions/update?ba_token=BA-1",
                        "rel": "approve",
                        "method": "GET",
                    }
                ],
            },
        )
        url = methods.revise_gateway_subscription(sub, new_price)
        sent = json.loads(revise.calls.last.request.content)
        assert sent["plan_id"] == "P-NEWPLAN0000000000000000"
        # PayPal drops overrides on revise: the customer's own amount for the new price is sent again.
        assert sent["plan"]["billing_cycles"] == [
            {"sequence": 1, "total_cycles": 0,
             "pricing_scheme": {"fixed_price": {"value": "20.00", "currency_code": "USD"}}}
        ]  # fmt: skip
        assert url.endswith("ba_token=BA-1")

    def test_sale_completed_pays_the_open_renewal_invoice_once(self, client, paypal):
        paypal.post("/v1/notifications/verify-webhook-signature").respond(200, json=load("paypal/verify_success.json"))
        sub = SubscriptionFactory(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
        renewal = make_invoice(sub.customer, amount=Decimal("20.00"))
        Invoice.objects.filter(pk=renewal.pk).update(subscription=sub, purpose="renewal")
        for _ in range(2):
            deliver(client, "event_sale_completed.json", subscription_uuid=sub.uuid, sale_time="2026-11-26T10:00:00Z")
        renewal.refresh_from_db()
        assert renewal.status == Invoice.Status.PAID
        assert Payment.objects.get(gateway="paypal").gateway_transaction_id == "80021663DE681814L"

    def test_sale_before_the_billing_run_issues_and_pays_the_renewal_invoice(self, client, paypal):
        paypal.post("/v1/notifications/verify-webhook-signature").respond(200, json=load("paypal/verify_success.json"))
        start = clock.now().replace(microsecond=0) - dt.timedelta(days=29)
        sub = SubscriptionFactory(
            gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G", current_period_start=start,
            current_period_end=start + dt.timedelta(days=30),
        )  # fmt: skip
        deliver(client, "event_sale_completed.json", subscription_uuid=sub.uuid, sale_time="2026-11-26T10:00:00Z")
        deliver(client, "event_sale_completed.json", subscription_uuid=sub.uuid, sale_time="2026-11-26T10:00:00Z")
        invoices = Invoice.objects.filter(subscription=sub)
        assert invoices.count() == 1
        renewal = invoices.get()
        assert renewal.status == Invoice.Status.PAID and renewal.renewal_period_start == sub.current_period_end
        assert Payment.objects.filter(gateway="paypal").count() == 1

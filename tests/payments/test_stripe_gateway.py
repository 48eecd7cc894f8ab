"""Stripe gateway against recorded Stripe request/response shapes (HTTP intercepted with respx)."""

from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest

from core.billing.gateways import ChargeStatus, GatewayError
from core.billing.models import GatewayCustomer
from integrations.payments.stripe.gateway import StripeGateway, stripe_amount
from tests.factories import CurrencyFactory, CustomerFactory
from tests.payments.conftest import load, make_invoice

pytestmark = pytest.mark.django_db


def form(request) -> dict:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


@pytest.fixture
def gateway(stripe_api):
    stripe_api.post("/v1/customers").respond(200, json=load("stripe/customer.json", email="x@example.com"))
    return StripeGateway()


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [("23.80", "USD", 2380), ("1500", "JPY", 1500), ("1.23", "KWD", 1230), ("1.234", "KWD", 1240), ("0.50", "EUR", 50)],
)
def test_amounts_become_minor_units_of_the_currency(amount, currency, units):
    CurrencyFactory(code=currency)
    assert stripe_amount(Decimal(amount), currency) == units


def test_off_session_charge_sends_minor_units_metadata_and_invoice_attempt_key(gateway, stripe_api, invoice):
    route = stripe_api.post("/v1/payment_intents").respond(
        200, json=load("stripe/payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number)
    )
    result = gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_1QabcDEFghiJKLvisa4242", attempt=1)

    assert result.status == ChargeStatus.SUCCEEDED
    assert result.transaction_id == "pi_3QabcDEFghiJKL0a1b2c3d4e"
    assert result.amount == Decimal("23.80")
    sent = route.calls.last.request
    body = form(sent)
    assert body["amount"] == "2380"
    assert body["currency"] == "usd"
    assert body["confirm"] == "true" and body["off_session"] == "true"
    assert body["metadata[invoice_uuid]"] == str(invoice.uuid)
    assert sent.headers["Idempotency-Key"] == f"inv-{invoice.uuid}-1"
    # the Stripe customer was created once and remembered
    assert GatewayCustomer.objects.get(customer=invoice.customer, gateway="stripe").gateway_customer_id == (
        "cus_RkT0aBcDeFgHiJ"
    )


def test_zero_decimal_currency_is_charged_in_whole_yen(gateway, stripe_api):
    invoice = make_invoice(
        CustomerFactory(currency=CurrencyFactory(code="JPY")), amount=Decimal("1500"), currency="JPY"
    )
    pi = load("stripe/payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number)
    pi.update(amount=1500, amount_received=1500, currency="jpy")
    route = stripe_api.post("/v1/payment_intents").respond(200, json=pi)

    result = gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_x", attempt=1)

    assert form(route.calls.last.request)["amount"] == "1500"
    assert result.amount == Decimal("1500") and result.currency == "JPY"


def test_authentication_required_returns_requires_action_with_the_same_payment_intent(gateway, stripe_api, invoice):
    stripe_api.post("/v1/payment_intents").respond(
        402, json=load("stripe/error_authentication_required.json", invoice_uuid=invoice.uuid)
    )
    result = gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_1QabcDEFghiJKL3dsecure", attempt=1)

    assert result.status == ChargeStatus.REQUIRES_ACTION
    assert result.transaction_id == "pi_3QauthREQUIREDxx0a1b2c3d"
    assert result.client_secret == "pi_3QauthREQUIREDxx0a1b2c3d_secret_Qw3rTy"
    assert result.action_url.endswith(f"/billing/invoices/{invoice.uuid}/pay/")


def test_decline_returns_failed_with_decline_code_and_a_failure_id_distinct_from_the_intent(
    gateway, stripe_api, invoice
):
    stripe_api.post("/v1/payment_intents").respond(
        402, json=load("stripe/error_card_declined.json", invoice_uuid=invoice.uuid)
    )
    result = gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_x", attempt=1)

    assert result.status == ChargeStatus.FAILED
    assert result.failure_code == "insufficient_funds"
    assert result.failure_message == "Your card has insufficient funds."
    assert result.transaction_id == "ch_3QdeclinedXYZ0a1b2c3d4e5"


def test_server_error_retries_with_the_same_key_then_reports_unknown(gateway, stripe_api, invoice):
    route = stripe_api.post("/v1/payment_intents").respond(500, json=load("stripe/error_500.json"))
    result = gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_x", attempt=1)

    assert result.status == ChargeStatus.UNKNOWN
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert route.call_count == 3 and keys == {f"inv-{invoice.uuid}-1"}


def test_timeout_then_success_on_retry_uses_the_same_key(gateway, stripe_api, invoice):
    route = stripe_api.post("/v1/payment_intents").mock(
        side_effect=[
            httpx.ReadTimeout("timed out"),
            httpx.Response(
                200,
                json=load(
                    "stripe/payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number
                ),
            ),
        ]
    )
    result = gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_x", attempt=1)

    assert result.status == ChargeStatus.SUCCEEDED
    assert [c.request.headers["Idempotency-Key"] for c in route.calls] == [f"inv-{invoice.uuid}-1"] * 2


def test_new_attempt_finds_a_charge_that_succeeded_unseen_instead_of_charging_again(gateway, stripe_api, invoice):
    stripe_api.get("/v1/payment_intents/search").respond(
        200,
        json=load(
            "stripe/payment_intents_search_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number
        ),
    )
    create = stripe_api.post("/v1/payment_intents").respond(500, json=load("stripe/error_500.json"))

    result = gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_x", attempt=2)

    assert result.status == ChargeStatus.SUCCEEDED
    assert result.transaction_id == "pi_3QearlierATTEMPT000001"
    assert create.call_count == 0


def test_new_attempt_charges_with_its_own_key_when_nothing_succeeded_before(gateway, stripe_api, invoice):
    stripe_api.get("/v1/payment_intents/search").respond(200, json=load("stripe/payment_intents_search_empty.json"))
    create = stripe_api.post("/v1/payment_intents").respond(
        200, json=load("stripe/payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number)
    )
    gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_x", attempt=2)
    assert create.calls.last.request.headers["Idempotency-Key"] == f"inv-{invoice.uuid}-2"


def test_saving_a_card_uses_an_off_session_setup_intent_and_checks_its_owner(gateway, stripe_api, customer):
    setup = stripe_api.post("/v1/setup_intents").respond(
        200,
        json={
            **load("stripe/setup_intent_succeeded.json", customer_id=customer.pk),
            "status": "requires_payment_method",
            "payment_method": None,
        },
    )
    session = gateway.begin_save_method(customer)
    assert session.client_secret == "seti_1QsetupABCdef0123456789_secret_S3tUp"
    assert form(setup.calls.last.request)["usage"] == "off_session"

    stripe_api.get("/v1/setup_intents/seti_1QsetupABCdef0123456789").respond(
        200, json=load("stripe/setup_intent_succeeded.json", customer_id=customer.pk)
    )
    saved = gateway.complete_save_method(customer, "seti_1QsetupABCdef0123456789")
    assert (saved.method_id, saved.brand, saved.last4, saved.exp_year) == (
        "pm_1QabcDEFghiJKLvisa4242",
        "visa",
        "4242",
        2030,
    )


def test_completing_another_customers_setup_intent_is_refused(gateway, stripe_api, customer):
    other = load("stripe/setup_intent_succeeded.json", customer_id=1)
    other["customer"] = "cus_SomebodyElse0001"
    stripe_api.get("/v1/setup_intents/seti_1QsetupABCdef0123456789").respond(200, json=other)
    with pytest.raises(GatewayError, match="another account"):
        gateway.complete_save_method(customer, "seti_1QsetupABCdef0123456789")


def test_list_methods_marks_the_stripe_default(gateway, stripe_api, customer):
    stripe_api.get("/v1/customers/cus_RkT0aBcDeFgHiJ").respond(
        200, json=load("stripe/customer.json", email=customer.email)
    )
    stripe_api.get("/v1/customers/cus_RkT0aBcDeFgHiJ/payment_methods").respond(
        200, json=load("stripe/payment_methods_list.json")
    )
    found = gateway.list_methods(customer)
    assert [(m.last4, m.is_default) for m in found] == [("4242", True), ("4444", False)]


def test_detach_and_default_call_stripe(gateway, stripe_api, customer):
    detach = stripe_api.post("/v1/payment_methods/pm_1QxyzMASTERCARD4444/detach").respond(
        200, json={"id": "pm_1QxyzMASTERCARD4444", "object": "payment_method", "customer": None}
    )
    update = stripe_api.post("/v1/customers/cus_RkT0aBcDeFgHiJ").respond(
        200, json=load("stripe/customer.json", email=customer.email)
    )
    gateway.remove_method(customer, "pm_1QxyzMASTERCARD4444")
    gateway.set_default_method(customer, "pm_1QabcDEFghiJKLvisa4242")
    assert detach.called
    assert form(update.calls.last.request)["invoice_settings[default_payment_method]"] == "pm_1QabcDEFghiJKLvisa4242"


def test_partial_refund_sends_minor_units_against_the_payment_intent(gateway, stripe_api, invoice):
    from core.billing.services.payments import record_payment

    payment = record_payment(
        invoice, amount=invoice.total, gateway="stripe", gateway_transaction_id="pi_3QabcDEFghiJKL0a1b2c3d4e"
    )
    route = stripe_api.post("/v1/refunds").respond(200, json=load("stripe/refund.json", payment_uuid=payment.uuid))
    result = gateway.refund(payment, amount=Decimal("10.00"), reason="Goodwill")

    body = form(route.calls.last.request)
    assert body["payment_intent"] == "pi_3QabcDEFghiJKL0a1b2c3d4e" and body["amount"] == "1000"
    assert result.status == ChargeStatus.SUCCEEDED and result.refund_id == "re_3QabcDEFghiJKL0a1refund1"
    assert result.amount == Decimal("10.00")


def test_secret_key_never_appears_in_logs(gateway, stripe_api, invoice, caplog, settings):
    stripe_api.post("/v1/payment_intents").respond(500, json=load("stripe/error_500.json"))
    with caplog.at_level("DEBUG"):
        gateway.charge_invoice(invoice, amount=invoice.total, method_id="pm_x", attempt=1)
    assert settings.STRIPE_SECRET_KEY not in caplog.text

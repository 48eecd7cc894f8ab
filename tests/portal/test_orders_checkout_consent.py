"""Order checkout saves a payment method the way the invoice pay page does (issue 13's consent flow through
portal/billing/checkout.py): a card typed at checkout is charged unsaved and kept only once the payment
succeeded and only when the customer ticked "save for future payments"; a declined card or an abandoned
3-D Secure challenge leaves nothing saved and moves no money; the same card is never stored twice.
Sandbox, Stripe (respx, recorded PaymentIntent/PaymentMethod payloads) and PayPal (Orders v2)."""

import dataclasses
import json
import urllib.parse
from decimal import Decimal

import pytest
import respx
import stripe
from django.core.cache import cache
from django.urls import reverse

from core.billing.gateways import get_gateway
from core.billing.models import Invoice, Order, Payment, PaymentMethod
from core.billing.services import methods
from tests.factories import CurrencyFactory, PriceFactory, ProductFactory
from tests.payments.conftest import PAYPAL_BASE, load

from .conftest import VPS_OPTIONS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commits")]
SUCCEEDS, DECLINES, NEEDS_3DS = "4242 4242 4242 4242", "4000000000000002", "4000002500003155"
GOOD = {"hostname": "web1.example.com", "location": "1", "os_template": "12"}
STRIPE_CUSTOMER = "cus_RkT0aBcDeFgHiJ"


@pytest.fixture
def price(platform):
    """23.80 a month: the amount the recorded Stripe and PayPal payloads carry."""
    product = ProductFactory(
        name="VPS 4 GB", slug="vps-4gb", platform="sandbox", platform_connection=platform, order_options=VPS_OPTIONS
    )
    return PriceFactory(product=product, currency=CurrencyFactory(code="USD"), amount=Decimal("23.80"))


def checkout(client, price, **data):
    return client.post(reverse("portal:checkout", args=[price.product.slug]), {"price": price.pk, **GOOD, **data})


def pay_card(client, price, card, **data):
    return checkout(client, price, action="pay", gateway="sandbox", card_number=card, **data)


def saved(customer):
    return list(PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True))


def the_order(customer) -> Order:
    return Order.objects.select_related("invoice").get(customer=customer)


def no_money_moved(order: Order) -> bool:
    invoice = Invoice.objects.get(pk=order.invoice_id)
    return (
        invoice.status == Invoice.Status.ISSUED
        and invoice.amount_paid == 0
        and not Payment.objects.filter(invoice=invoice, status=Payment.Status.SUCCEEDED).exists()
    )


def subscription_method(order: Order):
    order.refresh_from_db()
    return order.items.get().subscription.payment_method


class TestSandbox:
    def test_checkout_asks_with_the_shared_checkbox_and_says_how_renewals_are_paid(self, shopper_client, price):
        body = shopper_client.get(reverse("portal:checkout", args=[price.product.slug])).content.decode()
        assert body.count('name="save_method"') == 1 and "Save this card for future payments" in body
        assert "each renewal invoice is emailed to you to pay" in body

    def test_paid_without_consent_nothing_is_saved_and_the_subscription_has_no_card(
        self, shopper_client, shopper, price
    ):
        pay_card(shopper_client, price, SUCCEEDS)
        order = the_order(shopper)
        assert order.invoice.status == Invoice.Status.PAID and order.status == Order.Status.FULFILLED
        assert saved(shopper) == [] and PaymentMethod.objects.count() == 0  # never stored, not stored-then-removed
        assert Payment.objects.get(invoice=order.invoice).payment_method is None
        assert subscription_method(order) is None

    def test_paid_with_consent_the_card_is_kept_once_and_pays_the_renewals(self, shopper_client, shopper, price):
        pay_card(shopper_client, price, SUCCEEDS, save_method="1")
        first = Order.objects.get(customer=shopper)
        [method] = saved(shopper)
        assert (method.last4, method.is_default) == ("4242", True)
        assert Payment.objects.get(invoice=first.invoice, status="succeeded").payment_method == method
        assert subscription_method(first) == method
        # The same card typed again with consent, and added from the payment methods page: still one.
        pay_card(shopper_client, price, SUCCEEDS, save_method="on", hostname="web2.example.com")
        shopper_client.post(reverse("portal:payment_method_add", args=["sandbox"]), {"card_number": SUCCEEDS})
        assert saved(shopper) == [method] and PaymentMethod.objects.count() == 1
        assert Order.objects.filter(customer=shopper, status=Order.Status.FULFILLED).count() == 2

    def test_renewal_note_names_the_default_method_once_one_is_saved(self, shopper_client, shopper, price):
        pay_card(shopper_client, price, SUCCEEDS, save_method="1")
        body = shopper_client.get(reverse("portal:checkout", args=[price.product.slug])).content.decode()
        assert "charged automatically to your default method" in body and "4242" in body

    @pytest.mark.parametrize("consent", [{}, {"save_method": "1"}])
    def test_a_declined_card_saves_nothing_and_takes_no_money(self, shopper_client, shopper, price, consent):
        response = pay_card(shopper_client, price, DECLINES, **consent)
        order = the_order(shopper)
        assert response["Location"] == reverse("portal:order_pay", args=[order.uuid])
        assert no_money_moved(order) and order.status == Order.Status.PENDING
        assert Payment.objects.get(invoice=order.invoice).status == Payment.Status.FAILED
        assert PaymentMethod.objects.count() == 0
        # The pay page offers the same checkbox; paying there with consent keeps the good card only.
        page = shopper_client.get(response["Location"]).content.decode()
        assert "Save this card for future payments" in page and "declined" in page
        shopper_client.post(response["Location"], {"gateway": "sandbox", "card_number": SUCCEEDS, "save_method": "1"})
        assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.PAID
        assert [m.last4 for m in saved(shopper)] == ["4242"]

    def test_an_abandoned_3ds_challenge_saves_nothing_and_takes_no_money(self, shopper_client, shopper, price):
        page = pay_card(shopper_client, price, NEEDS_3DS, save_method="1")
        assert page.status_code == 200 and "Authenticate payment" in page.content.decode()
        order = the_order(shopper)
        assert no_money_moved(order) and PaymentMethod.objects.count() == 0  # the customer walks away here

    def test_a_passed_3ds_challenge_keeps_the_card_only_with_consent(self, shopper_client, shopper, price):
        page = pay_card(shopper_client, price, NEEDS_3DS, save_method="1")
        order = the_order(shopper)
        response = shopper_client.post(
            reverse("portal:order_pay_confirm", args=[order.uuid]),
            {"gateway": "sandbox", "reference": page.context["reference"]},
        )
        assert response["Location"] == reverse("portal:order_detail", args=[order.uuid])
        assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.PAID
        [method] = saved(shopper)
        assert method.last4 == "3155"
        assert Payment.objects.get(invoice=order.invoice, status="succeeded").payment_method == method
        kept_in_session = list(shopper_client.session.keys())
        assert not [k for k in kept_in_session if k.startswith("order_new_card:")]

    def test_a_passed_3ds_challenge_without_consent_saves_nothing(self, shopper_client, shopper, price):
        page = pay_card(shopper_client, price, NEEDS_3DS)
        order = the_order(shopper)
        shopper_client.post(
            reverse("portal:order_pay_confirm", args=[order.uuid]),
            {"gateway": "sandbox", "reference": page.context["reference"]},
        )
        assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.PAID
        assert PaymentMethod.objects.count() == 0


@pytest.fixture
def gateways(settings, shopper):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual", "stripe", "paypal"]
    settings.ALLOW_REAL_EXTERNAL_CALLS = True  # safe: every HTTP call in these tests is intercepted by respx
    settings.STRIPE_SECRET_KEY = "sk_test_51Example000000000000000000"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_51Example000000000000000000"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
    settings.PAYPAL_CLIENT_ID = "AZexampleClientId"
    settings.PAYPAL_CLIENT_SECRET = "EFexampleSecret"
    settings.PAYPAL_WEBHOOK_ID = "1JE4291016473214C"
    settings.PAYPAL_MODE = "sandbox"
    cache.clear()  # PayPal's OAuth token lives in the cache
    return settings


@pytest.fixture
def stripe_api(gateways, shopper, monkeypatch):
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, *a, **k: 0)
    methods.remember_gateway_customer(shopper, "stripe", STRIPE_CUSTOMER)
    with respx.mock(base_url="https://api.stripe.com", assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def paypal(gateways):
    with respx.mock(base_url=PAYPAL_BASE, assert_all_called=False) as mock:
        mock.post("/v1/oauth2/token").respond(200, json=load("paypal/oauth_token.json"))
        yield mock


class TestStripe:
    def _start(self, client, price, stripe_api, **data):
        created = stripe_api.post("/v1/payment_intents").respond(
            200,
            json={"id": "pi_3QnewMETHODxx0a1b2c3d", "object": "payment_intent", "status": "requires_payment_method",
                  "client_secret": "pi_3QnewMETHODxx0a1b2c3d_secret_x", "amount": 2380, "currency": "usd",
                  "customer": STRIPE_CUSTOMER, "payment_method": None, "metadata": {}},
        )  # fmt: skip
        response = checkout(client, price, action="pay", gateway="stripe", **data)
        assert response.status_code == 200 and response.context["gateway"] == "stripe"
        assert response.context["client_secret"] == "pi_3QnewMETHODxx0a1b2c3d_secret_x"
        return dict(urllib.parse.parse_qsl(created.calls.last.request.content.decode()))

    def _returns(self, client, order, stripe_api, *, consented: bool, succeeded: bool = True):
        pi = load("stripe/payment_intent_succeeded.json", invoice_uuid=order.invoice.uuid,
                  invoice_number=order.invoice.number)  # fmt: skip
        pi["setup_future_usage"] = "off_session" if consented else None
        if not succeeded:
            pi.update(status="requires_payment_method", amount_received=0,
                      last_payment_error={"code": "card_declined", "message": "Your card was declined."})  # fmt: skip
        stripe_api.get(f"/v1/payment_intents/{pi['id']}").respond(200, json=pi)
        stripe_api.get(f"/v1/customers/{STRIPE_CUSTOMER}").respond(200, json=load("stripe/customer.json"))
        listed = stripe_api.get(f"/v1/customers/{STRIPE_CUSTOMER}/payment_methods").respond(
            200, json=load("stripe/payment_methods_list.json")
        )
        url = reverse("portal:order_pay_confirm", args=[order.uuid])
        client.get(url, {"gateway": "stripe", "payment_intent": pi["id"]})
        client.get(url, {"gateway": "stripe", "payment_intent": pi["id"]})  # the return URL reloaded
        return listed

    @pytest.mark.parametrize("consented", [True, False])
    def test_the_card_is_saved_after_success_only_with_consent(
        self, shopper_client, shopper, price, stripe_api, consented
    ):
        params = self._start(shopper_client, price, stripe_api, **({"save_method": "1"} if consented else {}))
        assert params["amount"] == "2380" and params["customer"] == STRIPE_CUSTOMER
        assert params.get("setup_future_usage") == ("off_session" if consented else None)
        order = the_order(shopper)
        assert no_money_moved(order) and PaymentMethod.objects.count() == 0  # nothing before the customer pays
        listed = self._returns(shopper_client, order, stripe_api, consented=consented)
        assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.PAID
        assert Payment.objects.filter(invoice=order.invoice, status="succeeded").count() == 1
        if consented:
            [method] = saved(shopper)
            assert (method.gateway_method_id, method.last4, method.exp_year) == (
                "pm_1QabcDEFghiJKLvisa4242",
                "4242",
                2030,
            )
            assert Payment.objects.get(invoice=order.invoice, status="succeeded").payment_method == method
        else:
            assert PaymentMethod.objects.count() == 0 and not listed.called

    def test_a_failed_payment_saves_nothing_and_takes_no_money(self, shopper_client, shopper, price, stripe_api):
        self._start(shopper_client, price, stripe_api, save_method="1")
        order = the_order(shopper)
        listed = self._returns(shopper_client, order, stripe_api, consented=True, succeeded=False)
        assert no_money_moved(order) and PaymentMethod.objects.count() == 0 and not listed.called

    def test_the_same_card_paying_again_is_not_stored_twice(self, shopper_client, shopper, price, stripe_api):
        self._start(shopper_client, price, stripe_api, save_method="1")
        self._returns(shopper_client, the_order(shopper), stripe_api, consented=True)
        [method] = saved(shopper)
        # Stripe's Payment Element makes a new pm_ id each time the same card is typed: same brand, last 4
        # and expiry are the same card, kept once.
        [listed] = [m for m in get_gateway("stripe").list_methods(shopper) if m.method_id == method.gateway_method_id]
        again = methods.store_saved_method(shopper, dataclasses.replace(listed, method_id="pm_1QzzzSAMEcardAGAIN42"))
        assert again == method and PaymentMethod.objects.count() == 1


class TestPayPal:
    @pytest.mark.parametrize("back", ["paypal_return_url", "order_confirm"])
    def test_paying_an_order_with_paypal_saves_nothing_even_when_ticked(
        self, shopper_client, shopper, price, paypal, back
    ):
        paypal.post("/v2/checkout/orders").respond(201, json=load("paypal/order_created.json"))
        response = checkout(shopper_client, price, action="pay", gateway="paypal", save_method="1")
        assert response.status_code == 302 and "paypal.com" in response["Location"]
        sent = json.loads(paypal.routes[-1].calls.last.request.content)
        assert "vault" not in json.dumps(sent).lower()  # PayPal is not asked to keep anything
        order = the_order(shopper)
        assert no_money_moved(order) and PaymentMethod.objects.count() == 0  # not approved yet: nothing moved
        subs = {"invoice_uuid": order.invoice.uuid, "invoice_number": order.invoice.number}
        paypal.get("/v2/checkout/orders/5O190127TN364715T").respond(
            200, json=load("paypal/order_approved.json", **subs)
        )
        paypal.post("/v2/checkout/orders/5O190127TN364715T/capture").respond(
            201, json=load("paypal/order_captured.json", **subs)
        )
        token = {"token": "5O190127TN364715T", "PayerID": "FSMVU44LF3YUS"}
        if back == "paypal_return_url":  # where PayPal sends the payer: the return_url the order was created with
            url = urllib.parse.urlsplit(sent["payment_source"]["paypal"]["experience_context"]["return_url"])
            response = shopper_client.get(url.path, {**dict(urllib.parse.parse_qsl(url.query)), **token})
        else:
            url = reverse("portal:order_pay_confirm", args=[order.uuid])
            response = shopper_client.get(url, {"gateway": "paypal", **token})
            assert response["Location"] == reverse("portal:order_detail", args=[order.uuid])
        assert response.status_code == 302
        order.refresh_from_db()
        assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.PAID
        assert order.status == Order.Status.FULFILLED and PaymentMethod.objects.count() == 0
        assert Payment.objects.filter(invoice=order.invoice, status="succeeded").count() == 1

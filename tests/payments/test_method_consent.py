"""Issue 13: a payment method is saved only after it succeeded, only with the customer's consent (or when it
pays a subscription, which the form says), and never twice for the same card. Sandbox, Stripe and PayPal."""

import json
import urllib.parse

import pytest
from django.urls import reverse

from core.billing.models import Invoice, Payment, PaymentMethod
from core.billing.services import methods
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from tests.factories import SubscriptionFactory
from tests.payments.conftest import load, make_invoice

pytestmark = pytest.mark.django_db
SUCCEEDS, DECLINES, NEEDS_3DS = "4242 4242 4242 4242", "4000000000000002", "4000002500003155"


def pay(client, invoice, **data):
    return client.post(reverse("portal:invoice_pay", args=[invoice.uuid]), {"gateway": "sandbox", **data})


def saved(customer):
    return list(PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True))


class TestSandbox:
    def test_paying_without_ticking_save_saves_nothing(self, customer_client, customer):
        invoice = make_invoice(customer)
        pay(customer_client, invoice, card_number=SUCCEEDS)
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
        assert saved(customer) == []
        assert Payment.objects.get(invoice=invoice).payment_method is None

    def test_ticking_save_keeps_the_card_once_even_when_it_pays_again_or_is_added_later(
        self, customer_client, customer
    ):
        first, second = make_invoice(customer), make_invoice(customer)
        pay(customer_client, first, card_number=SUCCEEDS, save_method="1")
        pay(customer_client, second, card_number=SUCCEEDS, save_method="1")
        customer_client.post(reverse("portal:payment_method_add", args=["sandbox"]), {"card_number": SUCCEEDS})
        [method] = saved(customer)
        assert (method.last4, method.is_default) == ("4242", True)
        assert Payment.objects.get(invoice=second).payment_method == method

    def test_a_declined_card_is_not_saved_even_when_ticked(self, customer_client, customer):
        invoice = make_invoice(customer)
        pay(customer_client, invoice, card_number=DECLINES, save_method="1")
        assert Payment.objects.get(invoice=invoice).status == Payment.Status.FAILED
        assert saved(customer) == []

    def test_an_abandoned_3ds_attempt_saves_nothing_and_a_passed_one_saves_the_card(self, customer_client, customer):
        invoice = make_invoice(customer)
        page = pay(customer_client, invoice, card_number=NEEDS_3DS, save_method="1")
        assert page.status_code == 200 and "Authenticate payment" in page.content.decode()
        assert saved(customer) == []  # the customer walks away here: nothing is kept
        customer_client.post(
            reverse("portal:invoice_pay_confirm", args=[invoice.uuid]),
            {"gateway": "sandbox", "reference": page.context["reference"]},
        )
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
        [method] = saved(customer)
        assert method.last4 == "3155"

    def test_a_3ds_attempt_without_consent_saves_nothing_after_passing(self, customer_client, customer):
        invoice = make_invoice(customer)
        page = pay(customer_client, invoice, card_number=NEEDS_3DS)
        customer_client.post(
            reverse("portal:invoice_pay_confirm", args=[invoice.uuid]),
            {"gateway": "sandbox", "reference": page.context["reference"]},
        )
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
        assert saved(customer) == []

    def test_an_invoice_of_a_subscription_says_the_card_is_kept_and_keeps_it(self, customer_client, customer):
        subscription = SubscriptionFactory(customer=customer)
        draft = create_draft_invoice(
            customer, subscription=subscription,
            lines=[{"description": "Renewal", "quantity": 1, "unit_amount": subscription.amount}],
        )  # fmt: skip
        invoice = issue_invoice(draft, email=False)
        page = customer_client.get(reverse("portal:invoice_pay", args=[invoice.uuid])).content.decode()
        assert "will also pay the renewals of this subscription" in page and 'name="save_method"' not in page
        pay(customer_client, invoice, card_number=SUCCEEDS)
        assert [m.last4 for m in saved(customer)] == ["4242"]

    def test_the_pay_page_offers_the_choice(self, customer_client, customer):
        page = customer_client.get(reverse("portal:invoice_pay", args=[make_invoice(customer).uuid]))
        assert "Save this card for future payments" in page.content.decode()


class TestStripe:
    @pytest.fixture
    def stripe_customer(self, customer):
        methods.remember_gateway_customer(customer, "stripe", "cus_RkT0aBcDeFgHiJ")
        return customer

    def _start(self, client, invoice, stripe_api, **data):
        created = stripe_api.post("/v1/payment_intents").respond(
            200,
            json={"id": "pi_3QnewMETHODxx0a1b2c3d", "object": "payment_intent", "status": "requires_payment_method",
                  "client_secret": "pi_3QnewMETHODxx0a1b2c3d_secret_x", "amount": 2380, "currency": "usd",
                  "metadata": {"invoice_uuid": str(invoice.uuid)}},
        )  # fmt: skip
        client.post(reverse("portal:invoice_pay", args=[invoice.uuid]), {"gateway": "stripe", **data})
        return dict(urllib.parse.parse_qsl(created.calls.last.request.content.decode()))

    def test_setup_future_usage_only_when_the_customer_ticks_save(self, customer_client, stripe_customer, stripe_api):
        invoice = make_invoice(stripe_customer)
        assert "setup_future_usage" not in self._start(customer_client, invoice, stripe_api)
        params = self._start(customer_client, invoice, stripe_api, save_method="1")
        assert params["setup_future_usage"] == "off_session"

    @pytest.mark.parametrize("consented", [True, False])
    def test_the_card_is_saved_after_success_only_with_consent(
        self, customer_client, stripe_customer, stripe_api, consented
    ):
        invoice = make_invoice(stripe_customer)
        pi = load("stripe/payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number)
        pi["setup_future_usage"] = "off_session" if consented else None
        stripe_api.get(f"/v1/payment_intents/{pi['id']}").respond(200, json=pi)
        stripe_api.get("/v1/customers/cus_RkT0aBcDeFgHiJ").respond(200, json=load("stripe/customer.json"))
        listed = stripe_api.get("/v1/customers/cus_RkT0aBcDeFgHiJ/payment_methods").respond(
            200, json=load("stripe/payment_methods_list.json")
        )
        url = reverse("portal:invoice_pay_confirm", args=[invoice.uuid])
        customer_client.get(url, {"gateway": "stripe", "payment_intent": pi["id"]})
        customer_client.get(url, {"gateway": "stripe", "payment_intent": pi["id"]})  # the return URL reloaded
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
        if consented:
            [method] = saved(stripe_customer)
            assert (method.gateway_method_id, method.last4) == ("pm_1QabcDEFghiJKLvisa4242", "4242")
            assert Payment.objects.get(invoice=invoice, status="succeeded").payment_method == method
        else:
            assert saved(stripe_customer) == [] and not listed.called

    def test_the_payment_is_booked_even_when_listing_the_card_fails(self, customer_client, stripe_customer, stripe_api):
        invoice = make_invoice(stripe_customer)
        pi = load("stripe/payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number)
        pi["setup_future_usage"] = "off_session"
        stripe_api.get(f"/v1/payment_intents/{pi['id']}").respond(200, json=pi)
        stripe_api.get("/v1/customers/cus_RkT0aBcDeFgHiJ").respond(500, json=load("stripe/error_500.json"))
        url = reverse("portal:invoice_pay_confirm", args=[invoice.uuid])
        customer_client.get(url, {"gateway": "stripe", "payment_intent": pi["id"]})
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
        assert saved(stripe_customer) == []

    def test_a_failed_payment_saves_nothing(self, customer_client, stripe_customer, stripe_api):
        invoice = make_invoice(stripe_customer)
        pi = load("stripe/payment_intent_succeeded.json", invoice_uuid=invoice.uuid, invoice_number=invoice.number)
        pi.update(status="requires_payment_method", setup_future_usage="off_session", amount_received=0,
                  last_payment_error={"code": "card_declined", "message": "Your card was declined."})  # fmt: skip
        stripe_api.get(f"/v1/payment_intents/{pi['id']}").respond(200, json=pi)
        listed = stripe_api.get("/v1/customers/cus_RkT0aBcDeFgHiJ/payment_methods").respond(
            200, json=load("stripe/payment_methods_list.json")
        )
        url = reverse("portal:invoice_pay_confirm", args=[invoice.uuid])
        customer_client.get(url, {"gateway": "stripe", "payment_intent": pi["id"]})
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED
        assert saved(stripe_customer) == [] and not listed.called


class TestPayPal:
    def test_paying_an_invoice_with_paypal_saves_no_method(self, customer_client, customer, paypal):
        invoice = make_invoice(customer)
        subs = {"invoice_uuid": invoice.uuid, "invoice_number": invoice.number}
        paypal.post("/v2/checkout/orders").respond(201, json=load("paypal/order_created.json"))
        response = customer_client.post(
            reverse("portal:invoice_pay", args=[invoice.uuid]), {"gateway": "paypal", "save_method": "1"}
        )
        assert response.status_code == 302 and "paypal.com" in response["Location"]
        sent = json.loads(paypal.routes[-1].calls.last.request.content)
        assert "vault" not in json.dumps(sent).lower()  # PayPal is not asked to keep anything
        paypal.get("/v2/checkout/orders/5O190127TN364715T").respond(
            200, json=load("paypal/order_approved.json", **subs)
        )
        paypal.post("/v2/checkout/orders/5O190127TN364715T/capture").respond(
            201, json=load("paypal/order_captured.json", **subs)
        )
        customer_client.get(
            reverse("portal:invoice_pay_confirm", args=[invoice.uuid]),
            {"gateway": "paypal", "token": "5O190127TN364715T"},
        )
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
        assert saved(customer) == []

    def test_activating_the_same_paypal_subscription_twice_keeps_one_method(self, customer, paypal):
        sub = SubscriptionFactory(customer=customer, price__paypal_plan_id="P-17M15335A8501272JLXLLNKI")
        paypal.get("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(
            200, json=load("paypal/subscription_active.json", subscription_uuid=sub.uuid)
        )
        paypal.post("/v1/billing/subscriptions/I-BW452GLLEP1G/activate").respond(204)
        first = methods.activate_gateway_subscription(sub, "paypal", "I-BW452GLLEP1G")
        second = methods.activate_gateway_subscription(sub, "paypal", "I-BW452GLLEP1G")
        assert first == second and saved(customer) == [first]


class TestSameCardNeverTwice:
    def test_stripe_fingerprint_matches_a_card_saved_under_another_id(self, customer):
        from core.billing.gateways import SavedMethod

        first = methods.store_saved_method(customer, SavedMethod(
            gateway="stripe", method_id="pm_1First", brand="visa", last4="4242", exp_month=1, exp_year=2030,
            fingerprint="Xt5EWLLDS7FJjR1c",
        ))  # fmt: skip
        again = methods.store_saved_method(customer, SavedMethod(
            gateway="stripe", method_id="pm_1Second", brand="visa", last4="4242", exp_month=1, exp_year=2030,
            fingerprint="Xt5EWLLDS7FJjR1c",
        ))  # fmt: skip
        other_card = methods.store_saved_method(customer, SavedMethod(
            gateway="stripe", method_id="pm_1Third", brand="visa", last4="4242", exp_month=1, exp_year=2030,
            fingerprint="OtherCardFp00001",
        ))  # fmt: skip
        assert again == first and other_card != first
        assert first.fingerprint == "Xt5EWLLDS7FJjR1c"
        assert len(saved(customer)) == 2

    def test_without_a_fingerprint_brand_last4_and_expiry_decide(self, customer):
        from core.billing.gateways import SavedMethod

        card = {"gateway": "stripe", "brand": "visa", "last4": "4444", "exp_month": 2, "exp_year": 2031}
        first = methods.store_saved_method(customer, SavedMethod(method_id="pm_1A", **card))
        assert methods.store_saved_method(customer, SavedMethod(method_id="pm_1B", **card)) == first
        renewed = methods.store_saved_method(customer, SavedMethod(method_id="pm_1C", **{**card, "exp_year": 2033}))
        assert renewed != first

    def test_the_sandbox_gives_each_test_card_a_fingerprint(self, customer):
        first = methods.save_payment_method(customer, "sandbox", SUCCEEDS)
        assert first.fingerprint and methods.save_payment_method(customer, "sandbox", SUCCEEDS) == first
        assert methods.save_payment_method(customer, "sandbox", DECLINES).fingerprint != first.fingerprint

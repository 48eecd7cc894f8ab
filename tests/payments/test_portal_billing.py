"""Portal billing pages with the sandbox gateway (and Stripe's return URL), including who may see what."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from core.billing.models import Invoice, Payment, PaymentMethod
from core.billing.services import methods
from tests.factories import CustomerFactory
from tests.payments.conftest import load, make_invoice

pytestmark = pytest.mark.django_db
SUCCEEDS, DECLINES, NEEDS_3DS = "4242 4242 4242 4242", "4000000000000002", "4000002500003155"


@pytest.fixture
def my_invoice(customer):
    return make_invoice(customer)


def pay_url(invoice):
    return reverse("portal:invoice_pay", args=[invoice.uuid])


class TestOwnInvoicesOnly:
    def test_list_shows_my_invoices_and_not_others(self, customer_client, my_invoice):
        other = make_invoice()
        page = customer_client.get(reverse("portal:invoice_list")).content.decode()
        assert my_invoice.number in page and other.number not in page

    @pytest.mark.parametrize("name", ["portal:invoice_detail", "portal:invoice_pay", "portal:invoice_pay_confirm"])
    def test_another_customers_invoice_is_404(self, customer_client, name):
        other = make_invoice()
        assert customer_client.get(reverse(name, args=[other.uuid])).status_code == 404
        assert (
            customer_client.post(
                reverse(name, args=[other.uuid]), {"gateway": "sandbox", "card_number": SUCCEEDS}
            ).status_code
            == 404
        )
        assert not Payment.objects.exists()

    def test_anonymous_visitors_are_sent_to_login(self, client, my_invoice):
        response = client.get(pay_url(my_invoice))
        assert response.status_code == 302 and reverse("portal:login") in response["Location"]

    def test_paying_with_another_customers_saved_method_is_404(self, customer_client, my_invoice):
        theirs = methods.save_payment_method(CustomerFactory(), "sandbox", SUCCEEDS)
        response = customer_client.post(pay_url(my_invoice), {"method": theirs.pk})
        assert response.status_code == 404
        assert not Payment.objects.exists()


class TestPayingWithSandbox:
    def test_new_card_that_succeeds_pays_the_invoice_and_is_saved(self, customer_client, my_invoice):
        response = customer_client.post(
            pay_url(my_invoice), {"gateway": "sandbox", "card_number": SUCCEEDS, "save_method": "1"}
        )
        assert response.status_code == 302
        my_invoice.refresh_from_db()
        assert my_invoice.status == Invoice.Status.PAID
        payment = Payment.objects.get(invoice=my_invoice)
        assert payment.gateway == "sandbox" and payment.payment_method.last4 == "4242"

    def test_declined_card_records_a_failed_attempt_and_says_so(self, customer_client, my_invoice):
        response = customer_client.post(
            pay_url(my_invoice), {"gateway": "sandbox", "card_number": DECLINES}, follow=True
        )
        assert "declined" in response.content.decode()
        my_invoice.refresh_from_db()
        assert my_invoice.status == Invoice.Status.ISSUED
        assert Payment.objects.get(invoice=my_invoice).status == Payment.Status.FAILED

    def test_card_needing_authentication_is_paid_after_the_challenge(self, customer_client, my_invoice):
        page = customer_client.post(pay_url(my_invoice), {"gateway": "sandbox", "card_number": NEEDS_3DS})
        assert page.status_code == 200 and "Authenticate payment" in page.content.decode()
        assert Invoice.objects.get(pk=my_invoice.pk).status == Invoice.Status.ISSUED
        reference = page.context["reference"]
        confirm = customer_client.post(
            reverse("portal:invoice_pay_confirm", args=[my_invoice.uuid]),
            {"gateway": "sandbox", "reference": reference},
        )
        assert confirm.status_code == 302
        assert Invoice.objects.get(pk=my_invoice.pk).status == Invoice.Status.PAID
        assert Payment.objects.get(invoice=my_invoice, status="succeeded").gateway_transaction_id == reference

    def test_billing_run_requires_action_is_completed_from_the_emailed_pay_page(self, customer_client, my_invoice):
        from core.billing.services.dunning import charge_invoice

        methods.save_payment_method(my_invoice.customer, "sandbox", NEEDS_3DS)
        result = charge_invoice(my_invoice)
        assert result.status == "requires_action"

        page = customer_client.get(pay_url(my_invoice))
        assert page.context["action"]["reference"] == result.transaction_id
        customer_client.post(
            reverse("portal:invoice_pay_confirm", args=[my_invoice.uuid]),
            {"gateway": "sandbox", "reference": page.context["action"]["reference"]},
        )
        assert Invoice.objects.get(pk=my_invoice.pk).status == Invoice.Status.PAID

    def test_saved_method_pays_and_a_double_click_charges_once(self, customer_client, my_invoice):
        method = methods.save_payment_method(my_invoice.customer, "sandbox", SUCCEEDS)
        customer_client.post(pay_url(my_invoice), {"method": method.pk})
        customer_client.post(pay_url(my_invoice), {"method": method.pk})
        assert Payment.objects.filter(invoice=my_invoice, status="succeeded").count() == 1

    def test_reference_of_another_invoice_cannot_confirm_this_one(self, customer_client, my_invoice):
        other = make_invoice(my_invoice.customer)
        response = customer_client.post(
            reverse("portal:invoice_pay_confirm", args=[my_invoice.uuid]),
            {"gateway": "sandbox", "reference": f"sbx_pi_{other.uuid.hex}_100"},
        )
        assert response.status_code == 302
        assert not Payment.objects.exists()


def test_stripe_return_url_books_the_succeeded_payment_intent(customer_client, my_invoice, stripe_api):
    pi = load("stripe/payment_intent_succeeded.json", invoice_uuid=my_invoice.uuid, invoice_number=my_invoice.number)
    stripe_api.get(f"/v1/payment_intents/{pi['id']}").respond(200, json=pi)
    url = reverse("portal:invoice_pay_confirm", args=[my_invoice.uuid])
    response = customer_client.get(url, {"gateway": "stripe", "payment_intent": pi["id"]})
    assert response.status_code == 302
    assert Invoice.objects.get(pk=my_invoice.pk).status == Invoice.Status.PAID


def test_stripe_pay_page_offers_the_interrupted_payment_intent_for_3ds(customer_client, my_invoice, stripe_api):
    Invoice.objects.filter(pk=my_invoice.pk).update(charge_attempts=1)
    error = load("stripe/error_authentication_required.json", invoice_uuid=my_invoice.uuid)["error"]["payment_intent"]
    stripe_api.get("/v1/payment_intents/search").respond(
        200, json={"object": "search_result", "url": "/v1/payment_intents/search", "has_more": False, "data": [error]}
    )
    page = customer_client.get(pay_url(my_invoice))
    body = page.content.decode()
    assert page.context["action"]["reference"] == "pi_3QauthREQUIREDxx0a1b2c3d"
    assert "pi_3QauthREQUIREDxx0a1b2c3d_secret_Qw3rTy" in body and "confirmCardPayment" in body
    assert "pm_1QabcDEFghiJKL3dsecure" in body


class TestPaymentMethods:
    def test_add_set_default_and_remove(self, customer_client, customer):
        add = reverse("portal:payment_method_add", args=["sandbox"])
        customer_client.post(add, {"card_number": SUCCEEDS})
        customer_client.post(add, {"card_number": NEEDS_3DS})
        first, second = PaymentMethod.objects.filter(customer=customer).order_by("created_at", "id")
        assert first.is_default and not second.is_default

        customer_client.post(reverse("portal:payment_method_default", args=[second.pk]))
        first.refresh_from_db(), second.refresh_from_db()
        assert second.is_default and not first.is_default

        customer_client.post(reverse("portal:payment_method_remove", args=[second.pk]))
        first.refresh_from_db(), second.refresh_from_db()
        assert second.removed_at is not None and first.is_default  # the remaining card takes over

    def test_another_customers_method_cannot_be_removed_or_made_default(self, customer_client):
        theirs = methods.save_payment_method(CustomerFactory(), "sandbox", SUCCEEDS)
        assert customer_client.post(reverse("portal:payment_method_remove", args=[theirs.pk])).status_code == 404
        assert customer_client.post(reverse("portal:payment_method_default", args=[theirs.pk])).status_code == 404
        theirs.refresh_from_db()
        assert theirs.removed_at is None

    def test_non_test_card_is_refused_with_a_helpful_message(self, customer_client):
        response = customer_client.post(
            reverse("portal:payment_method_add", args=["sandbox"]), {"card_number": "5555555555554444"}, follow=True
        )
        assert "test cards" in response.content.decode()
        assert not PaymentMethod.objects.exists()

    def test_stripe_setup_return_saves_the_card(self, customer_client, customer, stripe_api):
        stripe_api.post("/v1/customers").respond(200, json=load("stripe/customer.json", email=customer.email))
        stripe_api.get("/v1/setup_intents/seti_1QsetupABCdef0123456789").respond(
            200, json=load("stripe/setup_intent_succeeded.json", customer_id=customer.pk)
        )
        customer_client.get(
            reverse("portal:payment_method_complete", args=["stripe"]), {"setup_intent": "seti_1QsetupABCdef0123456789"}
        )
        method = PaymentMethod.objects.get(customer=customer)
        assert (method.gateway, method.gateway_method_id, method.last4) == (
            "stripe",
            "pm_1QabcDEFghiJKLvisa4242",
            "4242",
        )


def test_removing_a_method_unlinks_it_from_subscriptions(customer):
    from tests.factories import SubscriptionFactory

    method = methods.save_payment_method(customer, "sandbox", SUCCEEDS)
    sub = SubscriptionFactory(customer=customer)
    methods.set_subscription_payment_method(sub, method)
    assert methods.payment_method_for_subscription(sub) == method
    methods.remove_payment_method(customer, method)
    sub.refresh_from_db()
    assert sub.payment_method is None


def test_sandbox_webhook_is_verified_with_hmac(client, my_invoice):
    from integrations.payments.sandbox.gateway import sign

    body = json.dumps(
        {
            "id": "sbx_evt_1",
            "type": "payment.succeeded",
            "data": {"id": "sbx_pi_hook_1", "invoice_uuid": str(my_invoice.uuid), "amount": "23.80", "currency": "USD"},
        }
    ).encode()
    bad = client.post(
        "/webhooks/sandbox/", data=body, content_type="application/json", HTTP_SANDBOX_SIGNATURE=sign(body, "wrong")
    )
    assert bad.status_code == 400 and not Payment.objects.exists()
    good = client.post(
        "/webhooks/sandbox/",
        data=body,
        content_type="application/json",
        HTTP_SANDBOX_SIGNATURE=sign(body, "sandbox-test-secret"),
    )
    assert good.status_code == 200
    assert Payment.objects.get(gateway_transaction_id="sbx_pi_hook_1").amount == Decimal("23.80")

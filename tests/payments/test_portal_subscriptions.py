"""Portal subscription pages: pick the card that pays renewals, or start/return/cancel a PayPal subscription."""

import json

import pytest
from django.urls import reverse

from core.billing.models import PaymentMethod, Subscription
from core.billing.services import methods
from tests.factories import CustomerFactory, SubscriptionFactory
from tests.payments.conftest import load

pytestmark = pytest.mark.django_db
PLAN = "P-17M15335A8501272JLXLLNKI"


@pytest.fixture
def my_sub(customer):
    return SubscriptionFactory(customer=customer, price__paypal_plan_id=PLAN)


def url(name, sub):
    return reverse(f"portal:{name}", args=[sub.uuid])


class TestOwnSubscriptionsOnly:
    def test_list_shows_my_subscriptions_and_not_others(self, customer_client, my_sub):
        theirs = SubscriptionFactory(price__product__name="Someone else's box")
        page = customer_client.get(reverse("portal:subscription_list")).content.decode()
        assert my_sub.price.product.name in page and theirs.price.product.name not in page

    @pytest.mark.parametrize(
        ("name", "method"),
        [
            ("subscription_detail", "get"),
            ("subscription_detail", "post"),
            ("subscription_paypal_start", "post"),
            ("subscription_paypal_return", "get"),
            ("subscription_paypal_cancel", "post"),
        ],
    )
    def test_another_customers_subscription_is_404(self, customer_client, paypal, name, method):
        theirs = SubscriptionFactory(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
        response = getattr(customer_client, method)(url(name, theirs) + "?subscription_id=I-BW452GLLEP1G")
        assert response.status_code == 404
        theirs.refresh_from_db()
        assert theirs.gateway_subscription_id == "I-BW452GLLEP1G"
        assert all(route.call_count == 0 for route in list(paypal.routes)[1:])

    def test_choosing_another_customers_card_is_404(self, customer_client, my_sub):
        theirs = methods.save_payment_method(CustomerFactory(), "sandbox", "4242424242424242")
        response = customer_client.post(url("subscription_detail", my_sub), {"method": theirs.pk})
        assert response.status_code == 404
        assert Subscription.objects.get(pk=my_sub.pk).payment_method is None


class TestChoosingTheCard:
    def test_chosen_card_pays_the_subscriptions_renewals(self, customer_client, customer, my_sub):
        methods.save_payment_method(customer, "sandbox", "4242424242424242")  # becomes the default
        other = methods.save_payment_method(customer, "sandbox", "4000002500003155")
        response = customer_client.post(url("subscription_detail", my_sub), {"method": other.pk}, follow=True)
        assert "will be charged to" in response.content.decode()
        my_sub.refresh_from_db()
        assert my_sub.payment_method == other
        assert methods.payment_method_for_subscription(my_sub) == other

    def test_default_choice_clears_the_subscriptions_own_card(self, customer_client, customer, my_sub):
        card = methods.save_payment_method(customer, "sandbox", "4242424242424242")
        methods.set_subscription_payment_method(my_sub, card)
        customer_client.post(url("subscription_detail", my_sub), {"method": "default"})
        assert Subscription.objects.get(pk=my_sub.pk).payment_method is None

    def test_page_shows_the_next_renewal_and_the_saved_cards(self, customer_client, customer, my_sub):
        methods.save_payment_method(customer, "sandbox", "4242424242424242")
        page = customer_client.get(url("subscription_detail", my_sub)).content.decode()
        assert "$20.00" in page and "4242" in page and "Continue to PayPal" in page  # babel money format


class TestPayPal:
    def test_start_sends_the_customer_to_paypal_approval(self, customer_client, paypal, my_sub):
        create = paypal.post("/v1/billing/subscriptions").respond(201, json=load("paypal/subscription_created.json"))
        response = customer_client.post(url("subscription_paypal_start", my_sub))
        assert response.status_code == 302
        assert response["Location"].startswith("https://www.sandbox.paypal.com/webapps/billing/subscriptions")
        sent = json.loads(create.calls.last.request.content)
        assert sent["custom_id"] == str(my_sub.uuid)
        assert sent["application_context"]["return_url"].endswith(url("subscription_paypal_return", my_sub))

    def test_return_activates_it_and_paypal_pays_the_renewals(self, customer_client, paypal, my_sub):
        paypal.get("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(
            200, json=load("paypal/subscription_active.json", subscription_uuid=my_sub.uuid)
        )
        response = customer_client.get(
            url("subscription_paypal_return", my_sub) + "?subscription_id=I-BW452GLLEP1G&ba_token=BA-2M539689T3856352J",
            follow=True,
        )
        assert "PayPal will now pay the renewals" in response.content.decode()
        my_sub.refresh_from_db()
        assert (my_sub.gateway, my_sub.gateway_subscription_id) == ("paypal", "I-BW452GLLEP1G")
        assert my_sub.payment_method.kind == "subscription"

    def test_return_uses_the_started_reference_when_paypal_sends_none(self, customer_client, paypal, my_sub):
        paypal.post("/v1/billing/subscriptions").respond(201, json=load("paypal/subscription_created.json"))
        paypal.get("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(
            200, json=load("paypal/subscription_active.json", subscription_uuid=my_sub.uuid)
        )
        customer_client.post(url("subscription_paypal_start", my_sub))
        customer_client.get(url("subscription_paypal_return", my_sub))
        assert Subscription.objects.get(pk=my_sub.pk).gateway_subscription_id == "I-BW452GLLEP1G"

    def test_a_paypal_subscription_approved_for_another_subscription_is_refused(
        self, customer_client, paypal, customer, my_sub
    ):
        mine_too = SubscriptionFactory(customer=customer)
        paypal.get("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(
            200, json=load("paypal/subscription_active.json", subscription_uuid=mine_too.uuid)
        )
        response = customer_client.get(
            url("subscription_paypal_return", my_sub) + "?subscription_id=I-BW452GLLEP1G", follow=True
        )
        assert "approved for something else" in response.content.decode()
        assert Subscription.objects.get(pk=my_sub.pk).gateway_subscription_id == ""
        assert not PaymentMethod.objects.filter(kind="subscription").exists()

    def test_cancel_stops_paypal_and_renewals_fall_back_to_the_default(self, customer_client, paypal, my_sub):
        paypal.get("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(
            200, json=load("paypal/subscription_active.json", subscription_uuid=my_sub.uuid)
        )
        methods.activate_gateway_subscription(my_sub, "paypal", "I-BW452GLLEP1G")
        cancel = paypal.post("/v1/billing/subscriptions/I-BW452GLLEP1G/cancel").respond(204)
        page = customer_client.get(url("subscription_detail", my_sub)).content.decode()
        assert "I-BW452GLLEP1G" in page and "Stop paying with PayPal" in page

        customer_client.post(url("subscription_paypal_cancel", my_sub))
        assert cancel.call_count == 1
        my_sub.refresh_from_db()
        assert my_sub.gateway_subscription_id == "" and my_sub.payment_method is None

    def test_cancelled_approval_changes_nothing_and_says_so(self, customer_client, my_sub):
        page = customer_client.get(url("subscription_detail", my_sub) + "?paypal=cancelled").content.decode()
        assert "PayPal approval was cancelled" in page

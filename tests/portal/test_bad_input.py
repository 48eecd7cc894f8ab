"""Issue 13: malformed input to every portal form, both login pages and every invoice pay route gets a
4xx with a message and changes nothing; never a server error. Runs on MariaDB too (over-long values
are where MariaDB refuses what SQLite stores)."""

import pytest
from django.test import Client
from django.urls import reverse

from core.billing.services import methods
from tests.billing.rowstate import changed, database_state
from tests.factories import CustomerFactory, ServiceFactory, SubscriptionFactory
from tests.payments.conftest import make_invoice

pytestmark = pytest.mark.django_db

MALFORMED = [
    "abc", "NaN", "{}", "1e309", "-1", "0", "99999999999999999999999", "1.5", "x" * 5000,
    "ünïcødé 🙂", "' OR 1=1 --", "\x00", "[]", "",
]  # fmt: skip
NOT_EMPTY = [v for v in MALFORMED if v]
MESSAGE_400 = {
    "method": ("Choose one of your saved payment methods", "Choose your default payment method"),
    "gateway": ("Choose a payment method",),
}


@pytest.fixture(autouse=True)
def gateways(settings):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual"]  # PayPal and Stripe not enabled
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def world(customer, provisioning):
    card = methods.save_payment_method(customer, "sandbox", "4242424242424242")
    invoice = make_invoice(customer)
    subscription = SubscriptionFactory(customer=customer, payment_method=card, gateway="sandbox")
    service = ServiceFactory(customer=customer, subscription=subscription, product=subscription.price.product)
    return {"card": card, "invoice": invoice, "subscription": subscription, "service": service}


def assert_refused(response, *messages):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    if messages and response.status_code == 400:
        page = response.content.decode()
        assert any(m in page for m in messages), page[:2000]


def post_each(client, url, field, values, extra=None, messages=()):
    before = database_state()
    for value in values:
        response = client.post(url, {**(extra or {}), field: value})
        assert_refused(response, *messages)
    assert changed(before, database_state()) == {}


# --- Subscriptions -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", NOT_EMPTY)
def test_subscription_method_not_an_id_is_400_with_a_message(customer_client, world, value):
    url = reverse("portal:subscription_detail", args=[world["subscription"].uuid])
    before = database_state()
    response = customer_client.post(url, {"method": value})
    assert_refused(response, *MESSAGE_400["method"])
    assert changed(before, database_state()) == {}


def test_subscription_method_of_another_customer_is_404(customer_client, world):
    theirs = methods.save_payment_method(CustomerFactory(), "sandbox", "4242424242424242")
    url = reverse("portal:subscription_detail", args=[world["subscription"].uuid])
    post_each(customer_client, url, "method", [str(theirs.pk)])


def test_paypal_return_while_paypal_is_off_is_404(customer_client, world):
    url = reverse("portal:subscription_paypal_return", args=[world["subscription"].uuid])
    before = database_state()
    for value in ["I-ABC123", *NOT_EMPTY]:
        assert customer_client.get(url, {"subscription_id": value}).status_code == 404
    assert customer_client.post(reverse("portal:subscription_paypal_start", args=[world["subscription"].uuid]))
    assert changed(before, database_state()) == {}


def test_paypal_return_with_a_malformed_reference_is_400(customer_client, world, settings):
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = "AZexampleClientId", "EFexampleSecret"
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual", "paypal"]
    url = reverse("portal:subscription_paypal_return", args=[world["subscription"].uuid])
    before = database_state()
    for value in ["x" * 5000, "ünïcødé", "{}", "' OR 1=1 --", "a b"]:
        response = customer_client.get(url, {"subscription_id": value})
        assert_refused(response, "not a PayPal subscription we started")
    assert changed(before, database_state()) == {}


# --- Invoice pay routes --------------------------------------------------------------------------


def test_invoice_pay_with_a_malformed_saved_method_is_400(customer_client, world):
    url = reverse("portal:invoice_pay", args=[world["invoice"].uuid])
    post_each(customer_client, url, "method", NOT_EMPTY, messages=("Choose one of your saved payment methods",))


def test_invoice_pay_with_an_unknown_gateway_is_400(customer_client, world):
    url = reverse("portal:invoice_pay", args=[world["invoice"].uuid])
    post_each(customer_client, url, "gateway", [*MALFORMED, "stripe", "paypal", "manual"],
              messages=("Choose a payment method",))  # fmt: skip


def test_invoice_pay_with_a_malformed_card_number_is_400(customer_client, world):
    url = reverse("portal:invoice_pay", args=[world["invoice"].uuid])
    post_each(customer_client, url, "card_number", NOT_EMPTY, extra={"gateway": "sandbox"},
              messages=("Enter the card number", "Choose a payment method"))  # fmt: skip


def test_invoice_pay_confirm_with_malformed_input_is_4xx(customer_client, world):
    url = reverse("portal:invoice_pay_confirm", args=[world["invoice"].uuid])
    before = database_state()
    for value in NOT_EMPTY:
        assert_refused(customer_client.post(url, {"gateway": value, "reference": "sbx_1"}))
        assert_refused(customer_client.get(url, {"gateway": value, "payment_intent": "pi_1"}))
        assert_refused(customer_client.post(url, {"gateway": "sandbox", "reference": value}),
                       "not one we issued")  # fmt: skip
    assert changed(before, database_state()) == {}


def test_invoice_routes_with_a_malformed_or_foreign_uuid_are_404(customer_client, world):
    other = make_invoice()
    for name in ("invoice_detail", "invoice_pay", "invoice_pay_confirm", "invoice_pdf"):
        assert customer_client.get(f"/billing/invoices/not-a-uuid/{name}/").status_code == 404
        assert customer_client.post(reverse(f"portal:{name}", args=[other.uuid]), {"method": "1"}).status_code == 404


# --- Payment methods -----------------------------------------------------------------------------


def test_add_method_unknown_gateway_or_malformed_card_is_4xx(customer_client, world):
    before = database_state()
    for value in ["abc", "ünï", "paypal", "manual", "x" * 300, "-1"]:
        assert_refused(customer_client.post(f"/billing/methods/add/{value}/", {"card_number": "4242424242424242"}))
    for value in NOT_EMPTY:
        response = customer_client.post(reverse("portal:payment_method_add", args=["sandbox"]), {"card_number": value})
        assert_refused(response, "Enter the card number")
        response = customer_client.get(reverse("portal:payment_method_complete", args=["sandbox"]),
                                       {"setup_intent": value})  # fmt: skip
        assert_refused(response, "did not come back from the payment provider")
    assert changed(before, database_state()) == {}


def test_remove_or_default_with_a_malformed_id_is_404(customer_client, world):
    before = database_state()
    for value in ["abc", "-1", "0", "99999999999999999999999", "1e309", "ünï"]:
        for action in ("remove", "default"):
            assert customer_client.post(f"/billing/methods/{value}/{action}/").status_code == 404
    assert changed(before, database_state()) == {}


# --- Services ------------------------------------------------------------------------------------


def test_service_forms_refuse_malformed_input_without_a_server_error(customer_client, world):
    service = world["service"]
    before = database_state()
    for value in MALFORMED:
        response = customer_client.post(reverse("portal:service_power", args=[service.uuid]), {"signal": value})
        assert response.status_code == 400 and b"Unknown power action" in response.content
        response = customer_client.post(reverse("portal:service_credentials", args=[service.uuid]),
                                        {"password": value})  # fmt: skip
        assert response.status_code < 500
    assert changed(before, database_state()) == {}


# --- Login pages ---------------------------------------------------------------------------------

LONG = "a" * 800 + "@example.com"


@pytest.mark.parametrize("username", [LONG, "ünïcødé@exämple.com" * 20, "x" * 5000])
def test_portal_login_with_an_overlong_username_is_400_and_not_recorded(db, username):
    client = Client()
    before = database_state()
    response = client.post(reverse("portal:login"), {"username": username, "password": "x"})
    assert response.status_code == 400
    assert "Ensure this value has at most" in response.content.decode()
    assert changed(before, database_state()) == {}


def test_portal_login_with_an_overlong_password_is_400(db):
    response = Client().post(reverse("portal:login"), {"username": "a@example.com", "password": "p" * 5000})
    assert response.status_code == 400 and "Password:" in response.content.decode()


def test_portal_login_wrong_password_is_still_an_ordinary_failed_login(db):
    response = Client().post(reverse("portal:login"), {"username": "nobody@example.com", "password": "wrong"})
    assert response.status_code == 200 and "didn't match" in response.content.decode()


@pytest.mark.parametrize("username", [LONG, "x" * 5000, "ünïcødé" * 50])
def test_staff_login_with_an_overlong_username_is_400_and_not_recorded(db, username):
    client = Client()
    before = database_state()
    response = client.post(
        reverse("two_factor:login"),
        {"login_view-current_step": "auth", "auth-username": username, "auth-password": "x"},
    )
    assert response.status_code == 400
    assert "Ensure this value has at most" in response.content.decode()
    # The wizard keeps its step in the session; nothing else is written (no failed-login row).
    assert {k for k in changed(before, database_state()) if not k.startswith("sessions.")} == set()

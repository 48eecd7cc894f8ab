"""PayPal approval for an order comes back to that order: the PayPal order is created with the order's
confirm step as return_url (it captures the payment) and its pay page as cancel_url, so after approving
the customer lands on the order's status page watching provisioning, not on the invoice. The invoice pay
page keeps the invoice's own return."""

import json
import urllib.parse

import pytest
from django.urls import reverse

from core.billing.models import Invoice, Order
from tests.payments.conftest import load

from . import test_orders_checkout_consent as consent

# The order checkout fixtures (a 23.80 plan, the gateways' settings, PayPal mocked) of the consent tests.
price, gateways, paypal = consent.price, consent.gateways, consent.paypal
checkout, the_order = consent.checkout, consent.the_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commits")]
TOKEN = {"token": "5O190127TN364715T", "PayerID": "FSMVU44LF3YUS"}


def experience(paypal_mock) -> dict:
    sent = json.loads(paypal_mock.routes["create"].calls.last.request.content)
    return sent["payment_source"]["paypal"]["experience_context"]


@pytest.fixture
def paypal_orders(paypal):
    paypal.post("/v2/checkout/orders", name="create").respond(201, json=load("paypal/order_created.json"))
    return paypal


def test_an_order_paid_with_paypal_returns_to_the_order_and_lands_on_its_status_page(
    shopper_client,
    shopper,
    price,
    paypal_orders,
    settings,
):
    settings.SITE_URL = "https://my.ezscale.example"
    response = checkout(shopper_client, price, action="pay", gateway="paypal")
    assert response.status_code == 302 and "paypal.com" in response["Location"]
    order = the_order(shopper)
    context = experience(paypal_orders)
    confirm = reverse("portal:order_pay_confirm", args=[order.uuid])
    assert context["return_url"] == f"https://my.ezscale.example{confirm}?gateway=paypal"
    assert context["cancel_url"] == "https://my.ezscale.example" + reverse("portal:order_pay", args=[order.uuid])

    subs = {"invoice_uuid": order.invoice.uuid, "invoice_number": order.invoice.number}
    paypal_orders.get("/v2/checkout/orders/5O190127TN364715T").respond(
        200, json=load("paypal/order_approved.json", **subs)
    )
    capture = paypal_orders.post("/v2/checkout/orders/5O190127TN364715T/capture").respond(
        201, json=load("paypal/order_captured.json", **subs)
    )
    back = urllib.parse.urlsplit(context["return_url"])  # where PayPal sends the payer, with its token
    response = shopper_client.get(back.path, {**dict(urllib.parse.parse_qsl(back.query)), **TOKEN})

    assert capture.called
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:order_detail", args=[order.uuid])
    order.refresh_from_db()
    assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.PAID
    assert order.status == Order.Status.FULFILLED
    page = shopper_client.get(response["Location"]).content.decode()
    assert reverse("portal:order_status", args=[order.uuid]) in page  # the page polls provisioning


def test_the_invoice_pay_page_keeps_the_invoices_own_return(shopper_client, shopper, price, paypal_orders):
    checkout(shopper_client, price, action="pay", gateway="paypal")
    invoice = the_order(shopper).invoice
    response = shopper_client.post(reverse("portal:invoice_pay", args=[invoice.uuid]), {"gateway": "paypal"})
    assert response.status_code == 302 and "paypal.com" in response["Location"]
    context = experience(paypal_orders)
    assert urllib.parse.urlsplit(context["return_url"]).path == reverse(
        "portal:invoice_pay_confirm", args=[invoice.uuid]
    )
    assert urllib.parse.urlsplit(context["cancel_url"]).path == reverse("portal:invoice_pay", args=[invoice.uuid])

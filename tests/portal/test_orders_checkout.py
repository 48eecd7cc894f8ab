"""Ordering in the portal: catalog, checkout with options/coupon/tax/capacity, paying with the sandbox
card (declined, 3-D Secure), and the order page's status poll from pending to active."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from core import clock
from core.billing.models import Coupon, Invoice, Order, Payment, PaymentMethod
from core.provisioning.models import Service
from portal.templatetags.portal_ui import money
from tests.factories import CurrencyFactory, CustomerFactory, PriceFactory, ProductFactory

from .conftest import MODEL_BACKEND, run_due_jobs

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commits")]
NOW = dt.datetime(2026, 4, 10, 12, tzinfo=dt.UTC)
GOOD = {"hostname": "web1.example.com", "location": "1", "os_template": "12"}


def _checkout(client, price, **data):
    url = reverse("portal:checkout", args=[price.product.slug])
    return client.post(url, {"price": price.pk, **GOOD, **data})


def test_catalog_shows_plans_in_my_currency_by_service_type(shopper_client, vps_price):
    PriceFactory(product=vps_price.product, currency=CurrencyFactory(code="EUR"), amount=D("18.00"))
    ProductFactory(name="Hidden plan", status="hidden")
    body = shopper_client.get(reverse("portal:catalog")).content.decode()
    assert "VPS 4 GB" in body and f"{money(D('20.00'), 'USD')} / monthly" in body
    assert "EUR" not in body and "Hidden plan" not in body


def test_invalid_choices_are_shown_per_field_and_nothing_is_ordered(shopper_client, vps_price):
    response = _checkout(shopper_client, vps_price, action="pay", hostname="bad_host!", location="99",
                         gateway="sandbox", card_number="4242424242424242")  # fmt: skip
    assert response.status_code == 400
    body = response.content.decode()
    assert "A hostname has letters" in body and "That location is not offered" in body
    assert not Order.objects.exists() and not Payment.objects.exists()


def test_coupon_valid_or_invalid_is_shown_before_paying_with_tax(shopper_client, shopper, vps_price):
    from tests.factories import TaxRateFactory

    TaxRateFactory(country="US", region="", rate=D("10.000"), name="Sales tax", is_eu_vat=False)
    Coupon.objects.create(code="WELCOME", kind="percent", percent=D("25"), duration="once")
    body = _checkout(shopper_client, vps_price, action="preview", coupon="nope").content.decode()
    assert "There is no coupon" in body and money(D("22.00"), "USD") in body  # 20 + 10% tax
    body = _checkout(shopper_client, vps_price, action="preview", coupon="welcome").content.decode()
    assert "Coupon WELCOME applied: 25% off." in body
    assert f'data-testid="tax-total">{money(D("1.50"), "USD")}' in body  # (20 - 5) * 10%
    assert f'data-testid="order-total">{money(D("16.50"), "USD")}' in body
    assert not Order.objects.exists()


def test_paying_with_an_invalid_coupon_is_refused_without_an_order(shopper_client, vps_price):
    response = _checkout(shopper_client, vps_price, action="pay", coupon="nope", gateway="sandbox",
                         card_number="4242424242424242")  # fmt: skip
    assert response.status_code == 400 and "There is no coupon" in response.content.decode()
    assert not Order.objects.exists() and not Invoice.objects.exists()


def test_a_product_that_cannot_be_fulfilled_says_so_and_takes_no_money(shopper_client, vps_price, platform):
    platform.defaults = {"max_services": 0}
    platform.save()
    body = shopper_client.get(reverse("portal:checkout", args=[vps_price.product.slug])).content.decode()
    assert "sold out in this location" in body and "Place order and pay" not in body
    response = _checkout(shopper_client, vps_price, action="pay", gateway="sandbox", card_number="4242424242424242")
    assert response.status_code == 400 and "Nothing will be charged" in response.content.decode()
    assert not Order.objects.exists() and not Invoice.objects.exists() and not Payment.objects.exists()
    assert not PaymentMethod.objects.exists()


def test_order_pay_and_watch_it_go_from_provisioning_to_active(shopper_client, shopper, vps_price):
    with clock.frozen_at(NOW):
        response = _checkout(shopper_client, vps_price, action="pay", gateway="sandbox",
                             card_number="4242 4242 4242 4242")  # fmt: skip
        order = Order.objects.get(customer=shopper)
        assert response.status_code == 302 and response["Location"] == reverse("portal:order_detail", args=[order.uuid])
        assert order.invoice.status == Invoice.Status.PAID and order.status == Order.Status.FULFILLED
        service = Service.objects.get(order_item__order=order)
        assert service.hostname == "web1.example.com"
        assert service.config == {"location": 1, "os_template": 12}
        page = shopper_client.get(response["Location"]).content.decode()
        assert f'data-poll="{reverse("portal:order_status", args=[order.uuid])}"' in page
        status = shopper_client.get(reverse("portal:order_status", args=[order.uuid]), {"format": "json"}).json()
    assert status["services"][0]["status"] == "provisioning" and status["done"] is False
    with clock.frozen_at(NOW + dt.timedelta(minutes=2)):
        run_due_jobs()
        fragment = shopper_client.get(reverse("portal:order_status", args=[order.uuid])).content.decode()
        status = shopper_client.get(reverse("portal:order_status", args=[order.uuid]), {"format": "json"}).json()
    assert status["services"][0]["status"] == "active" and status["done"] is True
    assert "We emailed your login details" in fragment and "data-poll-done" in fragment
    assert any(shopper.user.email in m.to for m in mail.outbox)


def test_declined_card_keeps_the_order_open_to_pay_with_another(shopper_client, shopper, vps_price):
    response = _checkout(shopper_client, vps_price, action="pay", gateway="sandbox", card_number="4000000000000002")
    order = Order.objects.get(customer=shopper)
    assert response["Location"] == reverse("portal:order_pay", args=[order.uuid])
    assert order.invoice.status == Invoice.Status.ISSUED and order.status == Order.Status.PENDING
    assert not Payment.objects.filter(status="succeeded").exists()
    page = shopper_client.get(response["Location"]).content.decode()
    assert "declined" in page
    response = shopper_client.post(response["Location"], {"gateway": "sandbox", "card_number": "4242424242424242"})
    order.refresh_from_db()
    assert order.invoice.status == Invoice.Status.PAID and order.status == Order.Status.FULFILLED


def test_three_d_secure_card_is_paid_after_the_challenge(shopper_client, shopper, vps_price):
    response = _checkout(shopper_client, vps_price, action="pay", gateway="sandbox", card_number="4000002500003155")
    assert response.status_code == 200 and "Authenticate payment" in response.content.decode()
    order = Order.objects.get(customer=shopper)
    assert order.invoice.status == Invoice.Status.ISSUED
    reference = response.context["reference"]
    response = shopper_client.post(
        reverse("portal:order_pay_confirm", args=[order.uuid]), {"gateway": "sandbox", "reference": reference}
    )
    order.refresh_from_db()
    assert response["Location"] == reverse("portal:order_detail", args=[order.uuid])
    assert order.invoice.status == Invoice.Status.PAID


def test_card_is_kept_only_when_the_customer_asks(shopper_client, shopper, vps_price):
    _checkout(shopper_client, vps_price, action="pay", gateway="sandbox", card_number="4242424242424242")
    assert not PaymentMethod.objects.filter(customer=shopper, removed_at__isnull=True).exists()
    _checkout(shopper_client, vps_price, action="pay", gateway="sandbox", card_number="4242424242424242",
              save_method="1", hostname="web2.example.com")  # fmt: skip
    kept = PaymentMethod.objects.get(customer=shopper, removed_at__isnull=True)
    assert kept.is_default
    # ...and the saved card pays the next order.
    _checkout(shopper_client, vps_price, action="pay", method=kept.pk, hostname="web3.example.com")
    assert Order.objects.filter(customer=shopper, status="fulfilled").count() == 3


@pytest.mark.parametrize("name,method", [("order_detail", "get"), ("order_status", "get"), ("order_pay", "get"),
                                         ("order_pay", "post"), ("order_pay_confirm", "post")])  # fmt: skip
def test_another_customers_order_is_not_found(client, shopper, vps_price, name, method):
    from core.billing.services.orders import place_order

    order = place_order(shopper, [{"price": vps_price, "hostname": "a.example.com"}])
    intruder = CustomerFactory(currency=shopper.currency)
    client.force_login(intruder.user, backend=MODEL_BACKEND)
    data = {"gateway": "sandbox", "reference": "x", "card_number": "4242424242424242"}
    response = getattr(client, method)(reverse(f"portal:{name}", args=[order.uuid]), data)
    assert response.status_code == 404
    assert Order.objects.get(pk=order.pk).invoice.status == Invoice.Status.ISSUED


def test_a_double_submitted_checkout_makes_one_order(shopper_client, shopper, vps_price):
    first = _checkout(shopper_client, vps_price, action="pay", gateway="sandbox", card_number="4242424242424242",
                      submission="form-1")  # fmt: skip
    again = _checkout(shopper_client, vps_price, action="pay", gateway="sandbox", card_number="4242424242424242",
                      submission="form-1")  # fmt: skip
    order = Order.objects.get(customer=shopper)
    assert first["Location"] == again["Location"] == reverse("portal:order_detail", args=[order.uuid])
    assert Payment.objects.filter(status="succeeded").count() == 1

"""Order rules in core: the customer's choices (validate_product_options) and the price preview
(preview_order) equal what place_order invoices."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from core import clock
from core.billing.errors import OrderError
from core.billing.models import Coupon, CouponRedemption, Invoice, Order
from core.billing.services import orders
from core.billing.services.orders import ProductOptionsError, preview_order, validate_product_options
from tests.factories import CustomerFactory, PriceFactory, ProductFactory, TaxRateFactory

D = Decimal
pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 4, 10, 12, tzinfo=dt.UTC)

VPS_OPTIONS = {
    "hostname": "required",
    "locations": [{"id": 1, "label": "Frankfurt"}, {"id": 2, "label": "Dallas"}],
    "os_templates": [{"id": 12, "label": "Debian 12"}, {"id": 14, "label": "Ubuntu 24.04"}],
}


def test_vps_options_map_to_the_platform_drivers_config_keys():
    product = ProductFactory(platform="virtfusion", order_options=VPS_OPTIONS)
    got = validate_product_options(product, {"hostname": "Web1.Example.com", "location": "2", "os_template": 12})
    assert got == {"hostname": "web1.example.com", "config": {"hypervisor_group_id": 2, "os_template_id": 12}}


def test_invalid_choices_report_every_field_at_once():
    product = ProductFactory(platform="virtfusion", order_options=VPS_OPTIONS)
    with pytest.raises(ProductOptionsError) as exc:
        validate_product_options(product, {"hostname": "-bad_host", "location": "99", "colour": "red"})
    errors = exc.value.field_errors
    assert set(errors) == {"hostname", "location", "os_template", "colour"}
    assert "not offered" in errors["location"][0]
    assert "Choose a operating system" in errors["os_template"][0] or "operating system" in errors["os_template"][0]
    assert isinstance(exc.value, OrderError)


def test_hostname_required_for_servers_optional_for_game_servers():
    vps = ProductFactory(service_type="vps")
    with pytest.raises(ProductOptionsError, match="Enter a hostname"):
        validate_product_options(vps, {})
    game = ProductFactory(service_type="game_server", platform="pterodactyl")
    assert validate_product_options(game, {}) == {"hostname": "", "config": {}}


def test_game_variables_defaults_patterns_and_unknown_names():
    product = ProductFactory(
        service_type="game_server",
        platform="pterodactyl",
        order_options={
            "locations": [{"id": 3, "label": "London"}],
            "variables": [
                {"name": "SERVER_JARFILE", "label": "Server jar", "default": "server.jar", "pattern": r"[\w.-]+\.jar"},
                {"name": "MOTD", "label": "Message of the day", "required": True},
            ],
        },
    )
    got = validate_product_options(product, {"location": 3, "variables": {"MOTD": "hello"}})
    assert got["config"] == {"location_id": 3, "environment": {"SERVER_JARFILE": "server.jar", "MOTD": "hello"}}
    with pytest.raises(ProductOptionsError) as exc:
        validate_product_options(product, {"location": 3, "variables": {"SERVER_JARFILE": "x;rm -rf", "OTHER": "1"}})
    assert set(exc.value.field_errors) == {"variables.SERVER_JARFILE", "variables.MOTD", "variables.OTHER"}


def test_product_clean_refuses_malformed_order_options():
    product = ProductFactory.build(order_options={"locations": [{"label": "no id"}], "colour": []})
    with pytest.raises(ValidationError) as exc:
        product.clean()
    assert "order_options" in exc.value.message_dict


def test_preview_equals_the_invoice_place_order_issues(provisioning):
    TaxRateFactory(country="DE", rate=D("19.000"))
    customer = CustomerFactory(country="DE", auto_apply_credit=False)
    price = PriceFactory(currency=customer.currency, amount=D("40.00"), setup_fee=D("10.00"))
    Coupon.objects.create(code="WELCOME", kind="percent", percent=D("25"), duration="once")
    items = [{"price": price, "hostname": "web1.example.com"}]
    with clock.frozen_at(NOW):
        preview = preview_order(customer, items, coupon_code="welcome")
        assert Order.objects.count() == 0 and CouponRedemption.objects.count() == 0
        order = orders.place_order(customer, items, coupon_code="welcome")
    invoice = order.invoice
    assert preview.coupon.is_valid and "25% off" in preview.coupon.message
    assert (preview.subtotal, preview.discount_total, preview.tax_total, preview.total) == (
        invoice.subtotal, invoice.discount_total, invoice.tax_total, invoice.total,
    )  # fmt: skip
    assert preview.total == D("44.62")  # 37.50 + tax per line: 7.60 + 1.90 - 1.90 - 0.48
    assert [(ln["description"], ln["amount"], ln["tax_amount"]) for ln in preview.lines] == [
        (ln.description, ln.amount, ln.tax_amount) for ln in invoice.lines.order_by("position")
    ]


def test_preview_reports_an_invalid_coupon_and_prices_without_it(provisioning):
    customer = CustomerFactory()
    price = PriceFactory(currency=customer.currency, amount=D("20.00"))
    preview = preview_order(customer, [{"price": price}], coupon_code="nope")
    assert preview.coupon.is_valid is False and "There is no coupon 'NOPE'" in preview.coupon.message
    assert preview.total == D("20.00") and not preview.can_be_ordered


def test_preview_says_when_the_product_cannot_be_fulfilled(provisioning):
    provisioning.capacity_error = "sold out in this location"
    customer = CustomerFactory()
    preview = preview_order(customer, [{"price": PriceFactory(currency=customer.currency)}])
    assert preview.unavailable and "sold out" in preview.unavailable[0]
    assert not preview.can_be_ordered
    assert not Invoice.objects.exists()

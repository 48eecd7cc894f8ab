"""Game servers: the customer picks an egg from the product's list (order_options "eggs"), each egg with
its own variables, all checked before any money moves; the order item carries the egg for the driver."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.billing.models import Order, OrderItem, Payment
from core.billing.services.orders import ProductOptionsError, validate_product_options
from core.catalog.models import validate_order_options
from tests.factories import CurrencyFactory, PriceFactory, ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commits")]

EGGS = [
    {
        "id": 5, "label": "Minecraft: Paper", "nest_id": 1,
        "variables": [{"name": "MINECRAFT_VERSION", "label": "Minecraft version", "default": "latest",
                       "pattern": r"^(latest|\d+\.\d+(\.\d+)?)$"}],
    },
    {
        "id": 16, "label": "Minecraft: Vanilla", "nest_id": 1,
        "variables": [{"name": "VANILLA_VERSION", "label": "Server version", "required": True,
                       "pattern": r"^(latest|\d+\.\d+(\.\d+)?)$"}],
    },
]  # fmt: skip
GAME_OPTIONS = {"hostname": "none", "eggs": EGGS, "variables": [{"name": "SERVER_JARFILE", "default": "server.jar"}]}


@pytest.fixture
def game_price(platform):
    product = ProductFactory(
        name="Minecraft 4 GB", slug="mc-4gb", service_type="game_server", platform="sandbox", platform_connection=platform,
        order_options=GAME_OPTIONS,
    )  # fmt: skip
    return PriceFactory(product=product, currency=CurrencyFactory(code="USD"), amount=Decimal("12.00"))


def test_the_chosen_egg_and_its_variables_go_into_the_config(game_price):
    chosen = validate_product_options(game_price.product, {"egg": "16", "variables": {"VANILLA_VERSION": "1.21.1"}})
    assert chosen["config"] == {
        "egg_id": 16,
        "nest_id": 1,
        "environment": {"SERVER_JARFILE": "server.jar", "VANILLA_VERSION": "1.21.1"},
    }


@pytest.mark.parametrize(
    "options, field, message",
    [
        ({}, "egg", "Choose a game."),
        ({"egg": "99"}, "egg", "That game is not offered"),
        ({"egg": "16"}, "variables.VANILLA_VERSION", "Server version is required."),
        ({"egg": "16", "variables": {"VANILLA_VERSION": "1.21; rm -rf /"}}, "variables.VANILLA_VERSION",
         "not in the expected format"),
        # A variable of the other egg is not this egg's setting.
        ({"egg": "5", "variables": {"VANILLA_VERSION": "1.21"}}, "variables.VANILLA_VERSION", "has no setting"),
    ],
)  # fmt: skip
def test_egg_choices_are_checked_before_money_moves(game_price, options, field, message):
    with pytest.raises(ProductOptionsError) as caught:
        validate_product_options(game_price.product, options)
    assert any(message in m for m in caught.value.field_errors[field])


def test_staff_cannot_save_eggs_without_ids_labels_or_named_variables():
    validate_order_options({"eggs": EGGS})
    for bad in ([{"label": "No id"}], [{"id": 5, "label": "Bad vars", "variables": [{"label": "no name"}]}], "5"):
        with pytest.raises(ValidationError) as caught:
            validate_order_options({"eggs": bad})
        assert "'eggs' must be a list" in caught.value.message_dict["order_options"][0]


def test_checkout_offers_the_eggs_and_shows_the_chosen_eggs_variables(shopper_client, game_price):
    url = reverse("portal:checkout", args=[game_price.product.slug])
    body = shopper_client.get(url).content.decode()
    assert 'name="egg"' in body and "Minecraft: Vanilla" in body
    assert 'name="var_MINECRAFT_VERSION"' in body and 'name="var_VANILLA_VERSION"' not in body
    body = shopper_client.post(url, {"price": game_price.pk, "egg": "16", "action": "preview"}).content.decode()
    assert 'name="var_VANILLA_VERSION"' in body and 'name="var_MINECRAFT_VERSION"' not in body
    assert 'name="var_SERVER_JARFILE"' in body  # the product's own variable, whatever the egg


def test_an_invalid_egg_variable_takes_no_money(shopper_client, game_price):
    url = reverse("portal:checkout", args=[game_price.product.slug])
    response = shopper_client.post(url, {
        "price": game_price.pk, "egg": "16", "var_VANILLA_VERSION": "", "action": "pay", "gateway": "sandbox",
        "card_number": "4242424242424242",
    })  # fmt: skip
    assert response.status_code == 400
    assert "Server version is required." in response.content.decode()
    assert not Order.objects.exists() and not Payment.objects.exists()


def test_paying_orders_the_chosen_egg(shopper_client, game_price):
    url = reverse("portal:checkout", args=[game_price.product.slug])
    response = shopper_client.post(url, {
        "price": game_price.pk, "egg": "16", "var_VANILLA_VERSION": "1.21.1", "action": "pay", "gateway": "sandbox",
        "card_number": "4242424242424242",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    item = OrderItem.objects.get()
    assert item.config["egg_id"] == 16 and item.config["environment"]["VANILLA_VERSION"] == "1.21.1"
    service = item.services.get()
    assert service.config["egg_id"] == 16
